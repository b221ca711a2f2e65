"""``xinyong exchange export``: the feed from a sequence number or a day on, as files for the provincial platform.

One file per kind and day (the day the message was written, local time: ``penalty_2024-03-20.csv`` …), each row a
message: the envelope (``seq``, ``kind``, ``op``, ``entity_id``, ``subject_id``, ``department_id``, ``created_at``)
and the national row (``exchange.render``). ``manifest.json`` lists the sequence range, the count and the SHA-256 of
every file; it is written last, so a directory with a manifest is complete. Files are streamed chunk by chunk.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.core.errors import ValidationFailed
from xinyong.exchange import render
from xinyong.exchange.models import FeedMessage

Format = Literal["csv", "json"]
CHUNK = 2000


def parse_since(value: str) -> tuple[int | None, dt.datetime | None]:
    """``--since``: a sequence number (``1200``) or a day (``2024-03-20``, from its local midnight)."""
    value = value.strip()
    if value.isdigit():
        return int(value), None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"--since 应为序号或 YYYY-MM-DD 日期：{value!r}", code="bad_since") from None
    return None, dt.datetime.combine(day, dt.time(), tzinfo=clock.zone())


def _sha256(path: Path) -> str:
    """The file's SHA-256, read 1 MiB at a time (a day's file of a large export does not fit in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class _Out:
    def __init__(self, path: Path, kind: str, day: dt.date, fmt: Format) -> None:
        self.path, self.kind, self.day, self.fmt = path, kind, day, fmt
        self.tmp = path.with_name(path.name + ".part")
        self.fh: IO[str] = self.tmp.open("w", encoding="utf-8", newline="")
        self.count, self.first, self.last = 0, 0, 0
        self.columns = (*render.ENVELOPE, *render.columns(kind))
        if fmt == "csv":
            self.writer = csv.writer(self.fh)
            self.writer.writerow(self.columns)
        else:
            self.fh.write("[")

    def write(self, item: dict[str, Any]) -> None:
        if self.fmt == "csv":
            row = item["row"]
            self.writer.writerow([item.get(c) if c in render.ENVELOPE else row.get(c, "") for c in self.columns])
        else:
            self.fh.write(("," if self.count else "") + "\n" + json.dumps(item, ensure_ascii=False, sort_keys=True))
        self.first = self.first or item["seq"]
        self.last = item["seq"]
        self.count += 1

    def close(self) -> dict[str, Any]:
        if self.fmt == "json":
            self.fh.write("\n]\n")
        self.fh.close()
        os.replace(self.tmp, self.path)
        return {
            "file": self.path.name,
            "kind": self.kind,
            "day": self.day.isoformat(),
            "count": self.count,
            "first_seq": self.first,
            "last_seq": self.last,
            "sha256": _sha256(self.path),
        }


def export(
    session: Session,
    *,
    out_dir: Path,
    since_seq: int | None = None,
    since: dt.datetime | None = None,
    fmt: Format = "csv",
) -> dict[str, Any]:
    """Write the messages with ``seq >= since_seq`` (or written from ``since`` on) to ``out_dir``; the manifest."""
    if fmt not in ("csv", "json"):
        raise ValidationFailed(f"--format 只能是 csv 或 json：{fmt!r}", code="bad_format")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Plain rows, not ORM objects (no identity map to fill), read by keyset (``seq > after``), CHUNK at a time.
    q = select(*FeedMessage.__table__.c).order_by(FeedMessage.seq)
    if since_seq is not None:
        q = q.where(FeedMessage.seq >= since_seq)
    if since is not None:
        q = q.where(FeedMessage.created_at >= since)
    outs: dict[tuple[str, dt.date], _Out] = {}
    after = 0
    total = 0
    first = last = None
    while True:
        chunk = list(session.execute(q.where(FeedMessage.seq > after).limit(CHUNK)))
        if not chunk:
            break
        for item, m in zip(render.render_messages(session, chunk), chunk, strict=True):  # type: ignore[arg-type]
            key = (m.kind, clock.local_date(m.created_at))
            out = outs.get(key)
            if out is None:
                out = outs[key] = _Out(out_dir / f"{key[0]}_{key[1].isoformat()}.{fmt}", key[0], key[1], fmt)
            out.write(item)
            first = first or m.seq
            last = m.seq
            total += 1
        after = chunk[-1].seq
    files = [out.close() for _, out in sorted(outs.items())]
    manifest = {
        "generated_at": utcnow().isoformat(),
        "format": fmt,
        "since_seq": since_seq,
        "since": since.isoformat() if since else None,
        "first_seq": first,
        "last_seq": last,
        "count": total,
        "counts": {k: sum(f["count"] for f in files if f["kind"] == k) for k in sorted({f["kind"] for f in files})},
        "files": files,
    }
    tmp = out_dir / "manifest.json.part"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / "manifest.json")
    return manifest
