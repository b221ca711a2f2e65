"""Benchmark: validate 双公示 penalty rows (``ingest.validate.validate_row``), in memory and from a CSV file.

    .venv/bin/python bench/ingest_validate.py [--rows 200000] [--errors 0.05] [--no-file]

Generates N realistic penalty rows of the current standard (Chinese headers, every cell a string as a CSV gives
it): legal persons (70 %), individual businesses (20 %) and natural persons (10 %), ~100 authorities, decision dates
over four years in the usual spellings, fines in 万元, and about ``--errors`` of rows with one typical fault (bad
check digit, impossible date, missing fine, unknown penalty type, negative amount, bad resident ID, formula error).
Prints rows/s of ``validate_row`` alone (valid rows only, and the mix), then of reading a GB18030 CSV end to end
(``open_table`` + ``detect_format`` + ``validate_row``), and the process's peak memory.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

HEADERS = [
    "行政相对人名称",
    "行政相对人类别",
    "行政相对人代码_1（统一社会信用代码）",
    "行政相对人代码_2（工商注册号）",
    "行政相对人代码_3（组织机构代码）",
    "行政相对人代码_4（税务登记号）",
    "行政相对人代码_5（事业单位证书号）",
    "行政相对人代码_6（社会组织登记证号）",
    "法定代表人",
    "法定代表人证件类型",
    "法定代表人证件号码",
    "证件类型",
    "证件号码",
    "行政处罚决定书文号",
    "违法行为类型",
    "违法事实",
    "处罚依据",
    "处罚类别",
    "处罚内容",
    "罚款金额（万元）",
    "没收违法所得、没收非法财物的金额（万元）",
    "暂扣或吊销证照名称及编号",
    "处罚决定日期",
    "处罚有效期",
    "公示截止期",
    "处罚机关",
    "处罚机关统一社会信用代码",
    "数据来源单位",
    "数据来源单位统一社会信用代码",
    "备注",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红"
TRADES = ["商贸", "建材", "食品", "餐饮", "物流", "科技", "机械", "医药", "服装", "电子"]


def generate(n: int, error_rate: float, seed: int = 7) -> list[list[str]]:
    return list(iter_rows(n, error_rate, seed))


def authorities(seed: int = 7) -> list[tuple[str, str, str]]:
    """The deciding authorities (name, USCC, document-number prefix) the rows of ``iter_rows(…, seed)`` name: the
    department that submits them must be registered for them (the authority rule, ``auth.authorities``)."""
    return _authorities(random.Random(seed))


def _authorities(rnd: random.Random) -> list[tuple[str, str, str]]:
    from xinyong.identifiers import uscc

    found = []
    for i in range(100):
        region = f"3501{rnd.randint(0, 99):02d}"
        code = uscc.make(authority="1", category="1", region=region, org_body=f"{rnd.randint(0, 99_999_999):08d}")
        found.append((f"福州市第{i + 1}监管局", code, f"榕监{i + 1}"))
    return found


def iter_rows(
    n: int, error_rate: float, seed: int = 7, subjects: int | None = None, authority_seed: int | None = None
) -> Iterator[list[str]]:
    """The rows one by one (``bench/ingest.py`` streams millions to a file). ``subjects``: draw the counterpart of
    each row from that many distinct subjects (same name and code each time they recur); default one per row.
    ``authority_seed``: the rows name the authorities of ``authorities(authority_seed)`` (default: of ``seed``), so
    that files of different seeds can come from one department registered for one set of authorities."""
    from xinyong.identifiers import resident_id, uscc

    rnd = random.Random(seed)
    authorities = _authorities(rnd)
    if authority_seed is not None:
        authorities = _authorities(random.Random(authority_seed))
    start = dt.date(2021, 1, 1)
    for i in range(n):
        auth_name, auth_code, abbr = authorities[rnd.randrange(len(authorities))]
        decided = start + dt.timedelta(days=rnd.randrange(1400))
        spelling = rnd.random()
        if spelling < 0.8:
            decided_s = decided.isoformat()
        elif spelling < 0.9:
            decided_s = f"{decided.year}/{decided.month}/{decided.day}"
        elif spelling < 0.95:
            decided_s = f"{decided.year}年{decided.month}月{decided.day}日"
        else:
            decided_s = decided.strftime("%Y%m%d")
        row = dict.fromkeys(HEADERS, "")
        if subjects:
            # The subject's own generator: the same index gives the same kind, name and code in every row.
            s = rnd.randrange(subjects)
            srnd, k = random.Random(seed * 1_000_003 + s), s
        else:
            srnd, k = rnd, i
        who = srnd.random()
        person = SURNAMES[srnd.randrange(20)] + GIVEN[srnd.randrange(28)] + GIVEN[srnd.randrange(28)]
        if who < 0.7:
            row["行政相对人类别"] = "法人及非法人组织"
            row["行政相对人名称"] = f"福州{TRADES[k % 10]}{k}有限公司"
            row["行政相对人代码_1（统一社会信用代码）"] = uscc.make(
                authority="9",
                category="1",
                region="350100",
                org_body=f"MA{k if subjects else srnd.randint(0, 999_999):06d}",
            )
            row["法定代表人"] = person
        elif who < 0.9:
            row["行政相对人类别"] = "个体工商户"
            row["行政相对人名称"] = f"福州市{person}{TRADES[k % 10]}店"
            row["行政相对人代码_1（统一社会信用代码）"] = uscc.make(
                authority="9",
                category="2",
                region="350102",
                org_body=f"L{k if subjects else srnd.randint(0, 9_999_999):07d}",
            )
            row["法定代表人"] = person
        else:
            row["行政相对人类别"] = "自然人"
            row["行政相对人名称"] = person
            row["证件类型"] = "身份证"
            row["证件号码"] = resident_id.make(
                region="350102",
                birth_date=dt.date(1960 + srnd.randrange(40), 1 + srnd.randrange(12), 1 + srnd.randrange(28)),
                sequence=k % 1000 if subjects else srnd.randrange(1000),
            )
        types = rnd.choice(["警告", "罚款", "警告、罚款", "罚款、没收违法所得", "责令停产停业", "吊销许可证件"])
        row["处罚类别"] = types
        if "罚款" in types:
            row["罚款金额（万元）"] = rnd.choice(["0.5", "1", "1.5", "2", "3.2", "5", "10", "0.2"])
        if "没收" in types:
            row["没收违法所得、没收非法财物的金额（万元）"] = f"{rnd.randint(1, 999) / 100}"
        if "吊销" in types:
            row["暂扣或吊销证照名称及编号"] = f"食品经营许可证 JY{rnd.randint(10**13, 10**14 - 1)}"
        row["行政处罚决定书文号"] = f"{abbr}罚〔{decided.year}〕{i}号"
        row["违法行为类型"] = "违反《中华人民共和国食品安全法》第三十四条"
        row["违法事实"] = "经查，当事人经营超过保质期的食品，货值金额较小。"
        row["处罚依据"] = "《中华人民共和国食品安全法》第一百二十四条第一款"
        row["处罚内容"] = f"{types}。"
        row["处罚有效期"] = (decided + dt.timedelta(days=365)).isoformat()
        row["处罚机关"] = auth_name
        row["处罚机关统一社会信用代码"] = auth_code
        row["数据来源单位"] = auth_name
        row["数据来源单位统一社会信用代码"] = auth_code
        if rnd.random() < error_rate:
            fault = rnd.randrange(7)
            if fault == 0:
                code = row["行政相对人代码_1（统一社会信用代码）"] or auth_code
                row["行政相对人代码_1（统一社会信用代码）"] = code[:17] + ("0" if code[17] != "0" else "1")
            elif fault == 1:
                row["处罚决定日期"] = "2019-02-30"
                decided_s = "2019-02-30"
            elif fault == 2:
                row["处罚类别"] = "罚款"
                row["罚款金额（万元）"] = ""
            elif fault == 3:
                row["处罚类别"] = "批评教育"
            elif fault == 4:
                row["处罚类别"] = "罚款"
                row["罚款金额（万元）"] = "-1"
            elif fault == 5:
                row["行政相对人类别"] = "自然人"
                row["证件类型"] = "身份证"
                row["证件号码"] = "350102199001011235"
            else:
                row["违法事实"] = "#VALUE!"
        row["处罚决定日期"] = decided_s
        yield [row[h] for h in HEADERS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--errors", type=float, default=0.05, help="share of rows with one fault")
    parser.add_argument("--no-file", action="store_true", help="skip the CSV end-to-end run")
    args = parser.parse_args()

    from xinyong.ingest.readers import open_table
    from xinyong.ingest.standards import detect_format, known_headers
    from xinyong.ingest.validate import validate_row
    from xinyong.records.inputs import RecordKind

    kind = RecordKind.PENALTY
    t0 = time.perf_counter()
    rows = generate(args.rows, args.errors)
    print(f"generated           {len(rows):,} rows in {time.perf_counter() - t0:.1f} s")

    valid_rows = [r for r in rows if validate_row(kind, detect_format(kind, HEADERS), 2, r)[0] is not None]
    for label, sample in (("valid rows", valid_rows), (f"mix ({args.errors:.0%} faulty)", rows)):
        hm = detect_format(kind, HEADERS)
        ok = bad = 0
        t0 = time.perf_counter()
        for number, values in enumerate(sample, 2):
            record, _issues = validate_row(kind, hm, number, values)
            if record is None:
                bad += 1
            else:
                ok += 1
        elapsed = time.perf_counter() - t0
        print(
            f"validate_row        {label:18s} {len(sample) / elapsed:>10,.0f} rows/s "
            f"({elapsed / len(sample) * 1e6:.1f} µs/row; {ok:,} valid, {bad:,} rejected)"
        )

    if not args.no_file:
        OUT.mkdir(exist_ok=True)
        path = OUT / f"penalties-{args.rows}.csv"
        with path.open("w", encoding="gb18030", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["某市行政处罚信息（双公示）"])
            writer.writerow(HEADERS)
            writer.writerows(rows)
        t0 = time.perf_counter()
        table = open_table(path, known_headers=known_headers(kind))
        hm = detect_format(kind, table.headers)
        hm.require_complete()
        n = ok = 0
        for number, values in table.rows:
            record, _ = validate_row(kind, hm, number, values)
            n += 1
            ok += record is not None
        elapsed = time.perf_counter() - t0
        print(
            f"CSV end to end      GB18030, {path.stat().st_size / 1e6:.0f} MB {n / elapsed:>10,.0f} rows/s "
            f"({ok:,} valid of {n:,})"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS)   {peak_mb:,.0f} MB (includes the {len(rows):,} generated rows held in memory)")
    print(f"python              {sys.version.split()[0]}")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
