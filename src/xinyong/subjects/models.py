"""Tables of `subjects`."""

from __future__ import annotations
