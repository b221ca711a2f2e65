"""HTTP API of `auth` (thin: parse, authorise, call the service, return a schema)."""

from fastapi import APIRouter

router = APIRouter(prefix="/auth", tags=["auth"])
