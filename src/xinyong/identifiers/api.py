"""HTTP API of `identifiers` (thin: parse, authorise, call the service, return a schema)."""

from fastapi import APIRouter

router = APIRouter(prefix="/identifiers", tags=["identifiers"])
