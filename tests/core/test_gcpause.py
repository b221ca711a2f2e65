"""core.gcpause: bulk work makes young collections rarer and hides the existing heap; nesting restores once."""

from __future__ import annotations

import gc
import threading

from xinyong.core import gcpause


def test_bulk_sets_and_restores_the_collector():
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with gcpause.bulk():
        assert gc.get_threshold()[0] == gcpause.BULK_THRESHOLD0
        assert gc.get_freeze_count() >= frozen
        with gcpause.bulk():  # nested: the inner exit must not restore early
            pass
        assert gc.get_threshold()[0] == gcpause.BULK_THRESHOLD0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_bulk_restores_after_an_error_and_still_collects_cycles():
    before = gc.get_threshold()
    try:
        with gcpause.bulk():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before

    class Node:
        pass

    with gcpause.bulk():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = id(a)
        del a, b
        assert gc.collect() > 0  # an explicit collection still finds cycles made during bulk work
    assert all(id(o) != ref for o in gc.get_objects() if isinstance(o, Node))


def test_bulk_as_decorator_and_from_threads():
    before = gc.get_threshold()
    seen = []

    @gcpause.bulk()
    def work():
        seen.append(gc.get_threshold()[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [gcpause.BULK_THRESHOLD0] * 4
    assert gc.get_threshold() == before
