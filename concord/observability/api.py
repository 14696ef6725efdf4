"""Operators' routes: /healthz (the process answers), /readyz (it can serve), /metrics (Prometheus)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from concord import __version__
from concord.access.deps import concord_app, current_subject
from concord.errors import Forbidden

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz():
    """Alive: the process answers (a load balancer's liveness probe; it touches nothing)."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(app=Depends(concord_app)):
    """Ready: the database answers at the schema this code needs, and NATS is connected when it is the transport.

    503 with what is not ready, so that a load balancer sends no traffic to a worker that would fail it. No token:
    the answer carries states and revision names, no data."""
    from concord.observability.readiness import checks

    found = await run_in_threadpool(checks, app)
    ready = all(v == "ok" for v in found.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": found},
                        status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request, subject=Depends(current_subject), app=Depends(concord_app)):
    """Prometheus metrics, for the hub's administrators (a scrape config's bearer token); others get 403."""
    from concord.access.policy import HUB_METRICS, authorize
    from concord.observability.metrics import exposition

    if not authorize(subject, "read", HUB_METRICS, session=None, access=None).allowed:
        raise Forbidden("the metrics are for the hub's administrators (the lead agency's); use such a token")
    text = await run_in_threadpool(exposition, app)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
