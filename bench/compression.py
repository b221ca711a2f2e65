"""Benchmark: how small a record version's documents get compressed (issue #19, the ≤ 1 KB per record target).

    .venv/bin/python bench/compression.py [--db URL] [--sample 3000] [--train 400] [--dict-bytes 32768]

Reads a random sample of stored versions (``content`` and ``data`` as stored: the compact form of
``records.versions``) from a database a collection filled — by default the SQLite file ``bench/ingest.py`` leaves
(``bench/out/bench-ingest.db``); with ``--db postgresql+psycopg://…`` a PostgreSQL one (e.g. after
``bench/ingest.py --db …/xinyong_bench``). Prints, per version, the bytes of the two documents as JSON text and
compressed by zlib in three ways, with the CPU per version to compress and to decompress:

- no dictionary (each version on its own, as ``bench/storage.py``'s figure);
- a generic preset dictionary (``zdict``): the content's field names and recurring legal phrases, no city data;
- a dictionary cut from ``--train`` other versions of the same database (the last ``--dict-bytes`` of their text),
  the simplest stand-in for one trained on a city's own records. The trained versions are not in the sample
  compressed with it.

Nothing is written. The figures are in docs/performance.md ("Compression with a preset dictionary").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Phrases of the national formats and of penalty decisions that recur in every city's records.
PHRASES = (
    "《中华人民共和国",
    "法》第",
    "条第",
    "款",
    "违反",
    "行政处罚",
    "警告",
    "罚款",
    "没收违法所得",
    "吊销许可证件",
    "责令停产停业",
    "暂扣许可证件",
    "经查，当事人",
    "有限公司",
    "监管局",
    "市场监督管理局",
    "罚〔20",
    "〕",
    "号",
    "许可证",
)


def generic_dictionary() -> bytes:
    """Field names of a version's documents (``records.versions``) and :data:`PHRASES`."""
    from xinyong.records import versions

    keys = [k for k, _ in versions.CONTENT_FIELDS]
    text = "".join(f'"{k}": ' for k in keys) + "".join(PHRASES)
    text += '"basis": "' + '"facts": "' + '"violation_type": "' + '"penalty_content": "'
    text += '"current_status_valid": true' + '"party_kind": "legal_person"' + '"severity": "general"'
    return text.encode()


def sample(url: str, n: int) -> list[bytes]:
    """``n`` random versions' ``content`` + ``data`` as stored (a packed version's unpacked), as UTF-8 JSON text."""
    from sqlalchemy import create_engine, text

    from xinyong.records import versions

    engine = create_engine(url)
    order = "random()"
    with engine.connect() as conn:

        def load(key: int) -> bytes | None:
            found = conn.execute(text("SELECT body FROM version_dictionaries WHERE checksum = :k"), {"k": key})
            return found.scalar()

        rows = conn.execute(
            text(f"SELECT content, data, packed FROM record_versions ORDER BY {order} LIMIT :n"), {"n": n}
        ).all()
        out = []
        for content, data, packed in rows:
            # Stored as jsonb (PostgreSQL: dicts) or JSON text (SQLite: strings); measured as compact JSON text.
            if packed is not None:
                content, data = versions.documents(None, None, bytes(packed), load)
            docs = [json.loads(v) if isinstance(v, str) else v for v in (content, data)]
            out.append("".join(json.dumps(d, ensure_ascii=False) for d in docs).encode())
    engine.dispose()
    return out


def measure(name: str, docs: list[bytes], zdict: bytes | None) -> None:
    def compress(raw: bytes) -> bytes:
        if zdict is None:
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
        else:
            co = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
        return co.compress(raw) + co.flush()

    def decompress(packed: bytes) -> bytes:
        do = zlib.decompressobj(-15) if zdict is None else zlib.decompressobj(-15, zdict)
        return do.decompress(packed)

    packed, t_c = _timed(compress, docs)
    back, t_d = _timed(decompress, packed)
    assert back == docs
    sizes = [len(p) for p in packed]
    print(
        f"{name:<44} {statistics.mean(sizes):>7.0f} {statistics.median(sizes):>7.0f} {max(sizes):>7} "
        f"{t_c:>9.1f} {t_d:>9.1f}"
    )


def _timed(fn: Callable[[bytes], bytes], items: list[bytes]) -> tuple[list[bytes], float]:
    start = time.process_time()
    out = [fn(x) for x in items]
    return out, (time.process_time() - start) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=f"sqlite:///{HERE / 'out' / 'bench-ingest.db'}")
    parser.add_argument("--sample", type=int, default=3000)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--dict-bytes", type=int, default=32768)
    args = parser.parse_args()
    docs = sample(args.db, args.sample + args.train)
    if len(docs) < args.train + 10:
        raise SystemExit(f"only {len(docs)} versions in {args.db}: fill it with bench/ingest.py first")
    random.Random(7).shuffle(docs)
    train, test = docs[: args.train], docs[args.train :]
    trained = b"".join(train)[-args.dict_bytes :]
    print(f"database {args.db}: {len(test)} versions measured, a dictionary from {len(train)} others")
    print(f"{'per version':<44} {'mean':>7} {'median':>7} {'max':>7} {'µs pack':>9} {'µs unpack':>9}")
    sizes = [len(d) for d in test]
    print(
        f"{'as stored (JSON text)':<44} {statistics.mean(sizes):>7.0f} {statistics.median(sizes):>7.0f} {max(sizes):>7}"
    )
    measure("zlib, no dictionary", test, None)
    generic = generic_dictionary()
    measure(f"zlib + generic dictionary ({len(generic)} bytes)", test, generic)
    measure(f"zlib + dictionary of {len(train)} versions ({len(trained)} B)", test, trained)


if __name__ == "__main__":
    main()
