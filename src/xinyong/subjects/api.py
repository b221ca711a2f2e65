"""HTTP API of `subjects` (thin: parse, authorise, call the service, return a schema)."""

from fastapi import APIRouter

router = APIRouter(prefix="/subjects", tags=["subjects"])
