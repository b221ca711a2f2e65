"""Writers at once (both databases): uploads (the batch path: feed rows reported before the batch's audit event)
and withdrawals (the audit path) in parallel threads — no deadlock, no lost or duplicate sequence number, and each
record's messages in the order of its changes."""

from __future__ import annotations

import threading
from collections import defaultdict

from tests.exchange.helpers import RECEIVED, penalty, setup
from tests.records.helpers import ADMIN, make_batch
from xinyong.exchange import feed
from xinyong.records import service as records_service
from xinyong.records import upsert as records_upsert

THREADS = 4
ROUNDS = 3


def test_parallel_uploads_and_withdrawals(database, session):
    dept_id = setup(session).id
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for r in range(ROUNDS):
                doc = f"榕鼓市监罚〔2024〕{n * 100 + r}号"

                def upload(s, doc=doc):  # type: ignore[no-untyped-def]
                    batch = make_batch(s, dept_id)
                    result = records_upsert.upsert_records(
                        s,
                        actor=ADMIN,
                        department_id=dept_id,
                        batch_id=batch,
                        received_at=RECEIVED,
                        rows=[penalty(**{"行政处罚决定书文号": doc})],
                    )
                    return result.outcomes[0].record_id

                record_id = database.run(upload)
                database.run(
                    lambda s, rid=record_id: records_service.withdraw(s, actor=ADMIN, record_id=rid, reason="撤销")
                )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    session.expire_all()
    messages = feed.messages_after(session, 0)
    assert [m.seq for m in messages] == list(range(1, 2 * THREADS * ROUNDS + 1))
    ops = defaultdict(list)
    for m in messages:
        ops[m.entity_id].append(m.op)
    assert len(ops) == THREADS * ROUNDS and all(o == ["created", "withdrawn"] for o in ops.values())
