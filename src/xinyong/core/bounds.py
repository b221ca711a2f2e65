"""Bounded integers for every id, offset and count a request carries (paths, queries, forms, JSON bodies).

Row ids are ``BIGINT`` on PostgreSQL and SQLite's 64-bit ``INTEGER``: a number past 2^63−1 reaches the driver and
fails there (``OverflowError`` on SQLite, ``NumericValueOutOfRange`` on PostgreSQL), a 500. Declaring the bound in
the parameter's type makes FastAPI refuse it with a 422 before any code runs, and puts the range in the OpenAPI
document, so clients and fuzzers see it. Use them as the annotation, with a plain default, inside ``Annotated``
with ``Query``/``Path``/``Form``, or as a member of ``| None`` with a ``Query(None, …)``/``Form(None)`` default::

    def batch(batch_id: Id, offset: Offset = 0, seed: Annotated[Offset, Form()],
              department_id: Id | None = Query(None, description="…")): …

Not ``offset: Offset = Query(0)`` nor ``subject_id: Id = Form(...)``: FastAPI then takes the constraints of that
default alone and the bounds are silently lost. ``tests/web/test_integer_bounds.py`` walks every route and fails
on any integer parameter left unbounded. In Pydantic bodies, ``Id`` combines with ``Field(...)`` as usual.

Text that names an id (``/departments/{ref}`` takes an id or a code, the portal's ``id-<n>``) goes through
:func:`parse_id`.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

#: The largest value of a 64-bit signed integer column on both databases.
BIGINT_MAX = 2**63 - 1

#: A row id: 1 … 2^63−1.
Id = Annotated[int, Ge(1), Le(BIGINT_MAX)]
#: An offset into a listing, a seed, a revision or version counter read from a request: 0 … 2^63−1.
Offset = Annotated[int, Ge(0), Le(BIGINT_MAX)]
#: A revision or version number a client read and sends back (optimistic locking): 1 … 2^63−1.
Revision = Id
#: The page size of a listing: 1 … 500 rows (``limit: Limit = 50``).
Limit = Annotated[int, Ge(1), Le(500)]


def parse_id(text: str | int | None) -> int | None:
    """An id written as text (ASCII digits, 1 … 2^63−1) → int; None for anything else.

    ``str.isdigit`` is not enough: it accepts ``"¹"`` and ``"٣"``, which ``int()`` refuses or reads, and any length.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text if 1 <= text <= BIGINT_MAX else None
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= BIGINT_MAX else None
