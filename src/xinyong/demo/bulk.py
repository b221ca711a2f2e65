"""A province-size registry in minutes (issue #19 part 2): ``xinyong demo --size N --fast`` on PostgreSQL.

The demo city (``demo.city``: departments, users, catalog, lists, a few thousand subjects built through the
services) is built first at a small size; then this module adds ``subjects`` legal persons, ``records`` licences and
penalties (each with its first version), list entries (2 % of the subjects) and commitments (5 %) in a handful of
set-based statements (``generate_series``), no row passing through Python:

- codes are valid USCCs (authority 9, category 1, an 8-digit organisation body with its GB 11714 check character
  and the MOD-31 check character, computed in SQL (:func:`_uscc_lateral`); region codes of Henan counties other
  than the demo city's, so they never collide with its codes); the bodies are a bijection of the serial number
  (multiplication modulo a prime), so every code is distinct;
- names: a city, a two-character 字号 from the demo's vocabulary, an industry and a legal form (沁阳市宏达机械有限公司);
- decisions are spread over 2015–2026, received 0–14 days after (some late), by the demo city's departments;
- the secondary indexes of the bulk-loaded tables are dropped for the load and built again after it (one sort each
  instead of 20M random insertions), then ``VACUUM (ANALYZE)`` (statistics and the visibility map).

Deterministic: the same sizes give the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from xinyong.identifiers import uscc
from xinyong.identifiers.names import normalize_org_name

# Region codes (GB/T 2260) of Henan counties and districts, not the demo city's 410882.
REGIONS = ("410102", "410103", "410105", "410302", "410311", "410702", "410802", "410811", "410883", "411102")
CITIES = ("郑州市", "郑州市", "郑州市", "洛阳市", "洛阳市", "新乡市", "焦作市", "焦作市", "孟州市", "漯河市")
TRADE = "宏达鑫盛华瑞丰源恒泰金利永兴昌隆福祥嘉和中天宇博创新远航康宁怀沁覃神农太行山河润德信诚聚汇邦凯旭晨星东方明光辉正大通安顺吉豪佳益鼎晟锦亿万福海龙腾飞跃峰岳林森茂乐欣悦阳春秋"
INDUSTRIES = (
    "机械",
    "商贸",
    "建筑工程",
    "食品",
    "化工",
    "物流",
    "科技",
    "农业开发",
    "餐饮管理",
    "医药",
    "建材",
    "纺织",
    "汽车销售",
    "电子",
    "装饰工程",
    "劳务",
)
FORMS = ("有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "商贸行")
#: The largest prime below 10^8: serial -> serial * MULTIPLIER mod PRIME is a bijection of the 8-digit bodies.
PRIME = 99_999_989
MULTIPLIER = 48_271

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
MOD31_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _region_sums() -> list[int]:
    """The MOD-31 weighted sum of '91' + each region code (positions 1–8), computed once here."""
    return [
        sum(ALPHABET.index(ch) * w for ch, w in zip("91" + region, MOD31_WEIGHTS[:8], strict=True))
        for region in REGIONS
    ]


def _uscc_lateral(serial: str) -> str:
    """LATERAL subqueries giving ``reg`` (region code) and ``code`` (a valid USCC) for the serial number ``serial``,
    in integer arithmetic (a plpgsql or string-walking function costs ~100 µs a code; this ~1 µs)."""
    digits = ", ".join(f"(b / {10 ** (7 - k)}) % 10 AS d{k + 1}" for k in range(8))
    org = " + ".join(f"d{k + 1} * {w}" for k, w in enumerate(ORG_WEIGHTS))
    mod31 = " + ".join(f"d{k + 1} * {MOD31_WEIGHTS[8 + k]}" for k in range(8))
    sums = "ARRAY[" + ",".join(map(str, _region_sums())) + "]"
    return f"""
        LATERAL (SELECT ({serial}::bigint * {MULTIPLIER}) % {PRIME} AS b,
                        1 + ({serial} % {len(REGIONS)})::int AS ri) u0,
        LATERAL (SELECT {digits}) u1,
        LATERAL (SELECT 11 - (({org}) % 11) AS oc) u2,
        LATERAL (SELECT ({sums})[ri] + {mod31}
                        + (CASE oc WHEN 11 THEN 0 WHEN 10 THEN 29 ELSE oc END) * {MOD31_WEIGHTS[16]} AS total) u3,
        LATERAL (SELECT ({_array(REGIONS)})[ri] AS reg,
                        '91' || ({_array(REGIONS)})[ri] || lpad(b::text, 8, '0')
                        || substr('0123456789X0', oc::int + 1, 1)
                        || substr('{ALPHABET}', ((31 - total % 31) % 31)::int + 1, 1) AS code) u4"""


def _h(expr: str, salt: int) -> str:
    """A deterministic non-negative pseudo-random integer of ``expr`` (PostgreSQL's hash of a bigint)."""
    return f"(hashint8extended(({expr})::bigint, {salt}) & 9223372036854775807)"


def _array(values: tuple[str, ...] | str) -> str:
    items = list(values)
    return "ARRAY[" + ",".join("'" + v + "'" for v in items) + "]"


def _secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``table`` that back no constraint."""
    rows = conn.execute(
        text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:t AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        ),
        {"t": table},
    )
    return [(r[0], r[1]) for r in rows]


def build_bulk(
    conn: Connection,
    *,
    subjects: int,
    records: int,
    say: Callable[[str], None] = lambda _m: None,
    as_of: str = "2026-06-15",
) -> dict[str, Any]:
    """Add ``subjects`` legal persons and ``records`` records (with versions), list entries and commitments to a
    demo city database (PostgreSQL). Commits as it goes (each step its own transaction). Returns the timings."""
    if conn.dialect.name != "postgresql":
        raise ValueError("the set-based bulk build is for PostgreSQL")
    timings: dict[str, float] = {}

    def step(name: str, *statements: str, params: dict[str, Any] | None = None) -> None:
        t0 = time.perf_counter()
        for statement in statements:
            conn.execute(text(statement), params or {})
        conn.commit()
        timings[name] = round(time.perf_counter() - t0, 1)
        say(f"{name}: {timings[name]} s")

    conn.commit()
    conn.execute(text("SET synchronous_commit = off"))
    conn.execute(text("SET maintenance_work_mem = '512MB'"))
    conn.execute(text("SET jit = off"))
    # The rows are consistent by construction (subject ids within the range just written, department and list type
    # ids read from their tables): the per-row foreign key triggers are skipped for the load (superuser).
    conn.execute(text("SET session_replication_role = replica"))
    depts = conn.execute(
        text("SELECT id, uscc, name FROM departments WHERE uscc IS NOT NULL AND active ORDER BY id")
    ).all()
    if not depts:
        raise ValueError("no departments: build the demo city first")
    list_types = conn.execute(
        text("SELECT id, code, authority FROM list_types WHERE kind IN ('black', 'abnormal', 'red') ORDER BY id")
    ).all()
    s0 = conn.execute(text("SELECT coalesce(max(id), 0) FROM subjects")).scalar_one()
    r0 = conn.execute(
        text(
            "SELECT greatest((SELECT coalesce(max(id), 0) FROM credit_records), "
            "(SELECT coalesce(max(id), 0) FROM record_versions))"
        )
    ).scalar_one()
    dept_ids = "ARRAY[" + ",".join(str(d[0]) for d in depts) + "]::bigint[]"
    dept_usccs = _array(tuple(d[1] for d in depts))
    dept_names = _array(tuple(d[2] for d in depts))
    nd = len(depts)

    dropped: dict[str, list[tuple[str, str]]] = {}
    for table in ("subjects", "credit_records", "record_versions", "list_entries", "commitments"):
        dropped[table] = _secondary_indexes(conn, table)
        for name, _definition in dropped[table]:
            conn.execute(text(f'DROP INDEX "{name}"'))
    conn.commit()

    trade, nt = TRADE, len(TRADE)
    forms_norm = tuple(normalize_org_name(f) for f in FORMS)  # the legal forms as the search key spells them
    step(
        "subjects",
        f"""
        INSERT INTO subjects (id, kind, org_type, name, name_norm, uscc, uscc_flagged, region_code, legal_rep,
                              registered_on, status, registration_authority, source, created_at, updated_at)
        SELECT {s0} + g, 'legal_person', 'enterprise', nm, nm_norm,
               u4.code, false, u4.reg, NULL,
               DATE '1995-01-01' + ({_h("g", 3)} % 11500)::int,
               (ARRAY['存续','存续','存续','存续','存续','存续','存续','存续','存续','存续','存续','存续','存续',
                      '存续','存续','存续','存续','存续','吊销','注销'])[1 + ({_h("g", 4)} % 20)::int],
               city || '市场监督管理局', 'bulk', now(), now()
          FROM generate_series(1::bigint, CAST(:n AS bigint)) g, {_uscc_lateral(f"({s0} + g)")},
               LATERAL (SELECT ({_array(CITIES)})[ri] AS city) r,
               LATERAL (SELECT city
                               || substr('{trade}', 1 + ({_h("g", 1)} % {nt})::int, 1)
                               || substr('{trade}', 1 + ({_h("g", 2)} % {nt})::int, 1)
                               || ({_array(INDUSTRIES)})[1 + ({_h("g", 5)} % {len(INDUSTRIES)})::int] AS stem,
                               1 + ({_h("g", 6)} % {len(FORMS)})::int AS form) n0,
               LATERAL (SELECT stem || ({_array(FORMS)})[form] AS nm,
                               stem || ({_array(forms_norm)})[form] AS nm_norm) n
        """,
        params={"n": subjects},
    )
    sample = conn.execute(text("SELECT uscc FROM subjects WHERE source = 'bulk' ORDER BY id LIMIT 2000")).scalars()
    bad = [c for c in sample if not uscc.validate(c).valid]
    if bad:
        raise RuntimeError(f"bulk USCC codes are invalid: {bad[:5]}")

    # Records: 40 % licences, 60 % penalties (8 % of them serious), decided over 2015–2026, each with version 1.
    record_select = f"""
        SELECT {r0} + g AS id, g,
               CASE WHEN {_h("g", 11)} % 10 < 4 THEN 'licence' ELSE 'penalty' END AS kind,
               1 + ({_h("g", 12)} % {nd})::int AS d,
               {s0} + 1 + ({_h("g", 13)} % CAST(:subjects AS bigint)) AS subject_id,
               DATE '{as_of}' - ({_h("g", 14)} % 4200)::int AS decided,
               ({_h("g", 15)} % 15)::int AS delay
          FROM generate_series(1::bigint, CAST(:m AS bigint)) g
    """
    step(
        "credit_records",
        f"""
        INSERT INTO credit_records (id, kind, authority_uscc, doc_no_norm, doc_no, authority, subject_id,
               department_id, current_version_id, version_count, content_hash, party_kind, party_name,
               decision_date, severity, penalty_types, penalty_types_key, fine_fen, licence_valid_from,
               licence_valid_to, received_at, workdays_late, late, created_at, updated_at)
        SELECT x.id, x.kind, ({dept_usccs})[x.d],
               CASE WHEN x.kind = 'licence' THEN '许' ELSE '罚' END || 'B' || x.id,
               CASE WHEN x.kind = 'licence' THEN '许' ELSE '罚' END || 'B' || x.id,
               ({dept_names})[x.d], x.subject_id, ({dept_ids})[x.d], x.id, 1, sha256(x.id::text::bytea), 'legal_person',
               s.name, x.decided,
               CASE WHEN x.kind = 'penalty' AND {_h("x.g", 16)} % 100 < 8 THEN 'serious' ELSE 'general' END,
               CASE WHEN x.kind = 'licence' THEN '[]'::jsonb
                    WHEN {_h("x.g", 17)} % 10 = 0 THEN '["罚款", "责令停产停业"]'::jsonb ELSE '["罚款"]'::jsonb END,
               CASE WHEN x.kind = 'licence' THEN ''
                    WHEN {_h("x.g", 17)} % 10 = 0 THEN '|罚款|责令停产停业|' ELSE '|罚款|' END,
               CASE WHEN x.kind = 'penalty' THEN 10000 * (1 + {_h("x.g", 18)} % 500) END,
               CASE WHEN x.kind = 'licence' THEN x.decided END,
               CASE WHEN x.kind = 'licence' THEN x.decided + 1095 END,
               (x.decided + x.delay)::timestamp AT TIME ZONE 'Asia/Shanghai' + interval '10 hours',
               greatest(0, x.delay - 9), x.delay > 9, now(), now()
          FROM ({record_select}) x JOIN subjects s ON s.id = x.subject_id
        """,
        params={"m": records, "subjects": subjects},
    )
    step(
        "record_versions",
        f"""
        INSERT INTO record_versions (id, record_id, version_no, content_hash, content, data, extra, flags,
               changed_fields, batch_id, source_row, department_id, received_at, actor, created_at)
        SELECT r.id, r.id, 1, r.content_hash,
               jsonb_build_object('kind', r.kind, 'doc_no', r.doc_no, 'party_name', r.party_name,
                                  'party_code', s.uscc, 'decision_date', r.decision_date,
                                  'authority', r.authority, 'authority_uscc', r.authority_uscc),
               CASE WHEN r.kind = 'penalty'
                    THEN jsonb_build_object('违法行为类型', '违反市场监管规定', '处罚依据', '《中华人民共和国行政处罚法》',
                                            '罚款金额（万元）', r.fine_fen / 1000000.0)
                    ELSE jsonb_build_object('许可类别', '普通', '许可内容', '经营许可') END,
               '{{}}'::jsonb, '[]'::jsonb, '[]'::jsonb, NULL, NULL, r.department_id, r.received_at,
               'bulk', now()
          FROM credit_records r JOIN subjects s ON s.id = r.subject_id
         WHERE r.id > {r0}
        """,
    )
    n_entries = max(1, subjects // 50)
    step(
        "list_entries",
        f"""
        INSERT INTO list_entries (list_type_id, entry_key, subject_id, party_name, party_code, party_kind,
               region_code, reason, facts, legal_basis, decision_no, authority, department_id, status, listed_on,
               term_end, data, match_status, source, revision, created_at, updated_at)
        SELECT lt.id, 'BULK-' || ({s0} + g), s.id, s.name, s.uscc, 'legal_person', s.region_code, '批量生成', '',
               '《河南省社会信用条例》', 'BULK-' || ({s0} + g), lt.authority, ({dept_ids})[1 + (g % {nd})::int], 'active',
               DATE '{as_of}' - (g % 1000)::int, DATE '{as_of}' - (g % 1000)::int + 1095, '{{}}'::jsonb, 'code',
               'department', 1, now(), now()
          FROM generate_series(1::bigint, CAST(:n AS bigint)) g
          JOIN subjects s ON s.id = {s0} + 1 + ({_h("g", 21)} % CAST(:subjects AS bigint))
          JOIN list_types lt ON lt.id = (ARRAY[{",".join(str(t[0]) for t in list_types)}]::bigint[])[1 + (g % {len(list_types)})::int]
        """,
        params={"n": n_entries, "subjects": subjects},
    )
    n_commit = max(1, subjects // 20)
    step(
        "commitments",
        f"""
        INSERT INTO commitments (code, subject_id, department_id, promisor_name, promisor_kind, promisor_code,
               commitment_type, reason, content, liability, made_on, fulfilment_status, determined_on,
               accepting_unit, accepting_unit_code, public_type, extra, broken_on, content_hash, version_count,
               actor, received_at, revision, created_at, updated_at)
        SELECT 'CB' || lpad(({s0} + g)::text, 18, '0'), s.id, ({dept_ids})[1 + (g % {nd})::int], s.name, 'legal_person', s.uscc,
               'approval_substitute', '行政审批告知承诺', '承诺所提交材料真实有效', '依法承担违诺责任',
               DATE '{as_of}' - (g % 1000)::int,
               CASE WHEN g % 10 = 0 THEN 'unfulfilled' ELSE 'fulfilled' END,
               DATE '{as_of}' - (g % 1000)::int + 90,
               ({dept_names})[1 + (g % {nd})::int], ({dept_usccs})[1 + (g % {nd})::int], 'public', '{{}}'::jsonb,
               CASE WHEN g % 10 = 0 THEN DATE '{as_of}' - (g % 1000)::int + 90 END, md5(g::text), 1, 'bulk',
               now(), 1, now(), now()
          FROM generate_series(1::bigint, CAST(:n AS bigint)) g JOIN subjects s ON s.id = {s0} + 1 + ({_h("g", 31)} % CAST(:subjects AS bigint))
        """,
        params={"n": n_commit, "subjects": subjects},
    )
    conn.execute(text("SET session_replication_role = origin"))
    t0 = time.perf_counter()
    for indexes in dropped.values():
        for name, definition in indexes:
            t1 = time.perf_counter()
            conn.execute(text(definition))
            conn.commit()
            say(f"index {name}: {time.perf_counter() - t1:.1f} s")
    timings["indexes"] = round(time.perf_counter() - t0, 1)
    for seq, table in (
        ("subjects_id_seq", "subjects"),
        ("credit_records_id_seq", "credit_records"),
        ("record_versions_id_seq", "record_versions"),
    ):
        conn.execute(text(f"SELECT setval('{seq}', (SELECT max(id) FROM {table}))"))
    conn.commit()
    # VACUUM, not only ANALYZE: it sets the visibility map, without which PostgreSQL reads the heap for every
    # row of an index-only scan (the covering indexes of the dashboards and the check) — the state autovacuum
    # reaches on a live database, which is what the benchmarks should measure.
    t0 = time.perf_counter()
    autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
    for table in ("subjects", "credit_records", "record_versions", "list_entries", "commitments"):
        autocommit.execute(text(f"VACUUM (ANALYZE) {table}"))
    autocommit.execute(text("ANALYZE"))
    conn.commit()
    timings["vacuum_analyze"] = round(time.perf_counter() - t0, 1)
    say(f"vacuum + analyze: {timings['vacuum_analyze']} s")
    return {
        "subjects": subjects,
        "records": records,
        "list_entries": n_entries,
        "commitments": n_commit,
        "first_subject_id": s0 + 1,
        "timings": timings,
    }
