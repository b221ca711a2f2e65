"""Garbage-collector settings for bulk work (imports of hundreds of thousands of rows).

CPython's cyclic collector runs its full collection when enough objects have survived younger collections; a
bulk import keeps a chunk of thousands of rows alive at a time, so those survive, get promoted and make the
collector walk the whole heap again and again: measured here, a third of a collection's time. During bulk work
:func:`bulk` moves what already exists out of the collector's sight (``gc.freeze``) and makes young collections
rarer; cycles are still collected (memory stays bounded), only less often. Nested and concurrent uses share one
setting; the last one out restores the collector.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between two young collections during bulk work (CPython's default is 700).
BULK_THRESHOLD0 = 10_000
#: Switches for measuring (bench/ingest.py --gc): hide the existing heap; change the collector at all.
FREEZE = True
ENABLED = True

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def bulk() -> Iterator[None]:
    global _depth, _saved
    if not ENABLED:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            if FREEZE:
                gc.freeze()
            gc.set_threshold(BULK_THRESHOLD0, _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
