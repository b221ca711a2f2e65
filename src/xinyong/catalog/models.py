"""Tables of `catalog`."""

from __future__ import annotations
