"""The analytics page: per persona and for all, its charts drawn in the browser by the
vendored uPlot from the numbers this page carries (a JSON data island, no inline script),
and the CSV of every measured post."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from bot.analytics import analytics
from bot.web.state import guard, page, vibot

router = APIRouter(dependencies=[Depends(guard)])


def _persona_or_404(request: Request, persona_id: str | None) -> str | None:
    if persona_id is not None and persona_id not in vibot(request).app.personas:
        raise HTTPException(404)
    return persona_id


@router.get("/analytics", response_class=HTMLResponse)
def analytics_all(request: Request) -> HTMLResponse:
    return _page(request, None)


@router.get("/analytics/{persona_id}", response_class=HTMLResponse)
def analytics_persona(request: Request, persona_id: str) -> HTMLResponse:
    return _page(request, _persona_or_404(request, persona_id))


def _page(request: Request, persona_id: str | None) -> HTMLResponse:
    data = analytics(vibot(request).app, persona_id).as_dict()
    # </script> cannot end the data island early: "<" is escaped inside the JSON.
    island = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    return page(request, "analytics.html", data=data, island=island, chosen=persona_id)


@router.get("/analytics.csv")
def analytics_csv(request: Request, persona: str | None = None) -> Response:
    persona_id = _persona_or_404(request, persona)
    body = analytics(vibot(request).app, persona_id).csv()
    name = f"vibot-analytics-{persona_id or 'all'}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
