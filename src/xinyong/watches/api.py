"""HTTP routes of `watches` (mounted under /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/watches", tags=["watches"])
