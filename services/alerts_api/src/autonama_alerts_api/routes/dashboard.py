"""The dashboard's page (its scripts and styles are mounted under /static)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"


@router.get("/alerts")
async def page() -> FileResponse:
    return FileResponse(STATIC / "alerts.html", headers={"Cache-Control": "no-cache"})


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/alerts")
