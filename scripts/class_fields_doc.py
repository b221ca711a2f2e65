"""Print the Markdown tables of docs/data-standards.md ("Other information classes") from the class standards
(catalog/data/classes/*.yaml) — the same data as `xinyong catalog fields <class> --json`.

    .venv/bin/python scripts/class_fields_doc.py > /tmp/classes.md   # then paste into docs/data-standards.md
"""

from __future__ import annotations

from xinyong.catalog.fields import generic_kinds, standards
from xinyong.catalog.rules import describe_publicity
from xinyong.catalog.spec import load_catalog


def main() -> None:
    catalog = {c.code: c for c in load_catalog().classes}
    for code in generic_kinds():
        s = standards()[code]
        cls = catalog[code]
        basis = "；".join(f"{b.title}{b.article or ''}（{b.confidence or ''}）" for b in s.legal_basis)
        print(f"#### {s.name_zh}（`{code}`）\n")
        print(f"{s.standard}。{s.description}\n")
        print(
            f"- 公开属性：{cls.public_attribute.value}（自然人：{cls.natural_person_attribute.value}）；"
            f"公示：{describe_publicity(cls.publicity)}，起算字段 `{s.publicity.start_field}`"
            + (f"，终止字段 `{s.publicity.end_field}`" if s.publicity.end_field else "")
            + (f"；政务共享回溯 {s.publicity.lookback_years} 年" if s.publicity.lookback_years else "")
        )
        print(f"- 识别字段（同一机关）：{'、'.join(f'`{k}`' for k in s.identity)}")
        print(f"- 法律依据：{basis}\n")
        print("| 字段 | 中文列名 | 代码列名 | 类型 | 长度 | 必填 | 取值 | 公开 |")
        print("|---|---|---|---|---|---|---|---|")
        for f in s.table():
            values = " / ".join(f["values"])
            print(
                f"| `{f['key']}` | {f['zh'] or ''} | {f['coded'] or ''} | {f['type']} | {f['max_len']} | "
                f"{f['required']} | {values} | {'是' if f['public'] else ''}{'（个人信息，遮蔽）' if f['personal'] else ''} |"
            )
        print()


if __name__ == "__main__":
    main()
