"""HTTP API of `catalog` (thin: parse, authorise, call the service, return a schema)."""

from fastapi import APIRouter

router = APIRouter(prefix="/catalog", tags=["catalog"])
