"""HTTP routes of `lists` (mounted under /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/lists", tags=["lists"])
