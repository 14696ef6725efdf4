"""create_app(): routers, one error handler, lifespan."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from concord import __version__
from concord.bounds import request_id as request_id_of
from concord.clearance.messages import CheckDeadlines
from concord.errors import ConcordError, InvalidDocument, Problem, problem_of
from concord.housekeeping import FIRST_STATISTICS_S, HOUSEKEEPING_S, first_statistics_job, housekeeping_job
from concord.ids import new_id
from concord.observability.logs import REQUEST_ID

log = logging.getLogger(__name__)


def _periodic(stop: threading.Event, seconds: float, job, name: str) -> threading.Thread:
    from concord.observability.stalls import RUNNING

    def loop():
        while not stop.wait(seconds):
            RUNNING[name] = time.monotonic()  # named in a stall's warning if the loop stalls meanwhile
            try:
                job()
            except Exception:  # a failed round is retried on the next tick
                log.exception("%s failed", name)
            finally:
                RUNNING.pop(name, None)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def _request_id(scope) -> bytes:
    """The caller's X-Request-Id or a new one, kept in the request's state for the audit log."""
    given = request_id_of(next((v for k, v in scope["headers"] if k == b"x-request-id"), None))
    request_id = given or new_id("req_")
    scope.setdefault("state", {})["request_id"] = request_id
    REQUEST_ID.set(request_id)  # for the log lines of this request (CONCORD_LOG_FORMAT=json)
    return request_id.encode()


class RequestId:
    """Gives every request an id (the caller's X-Request-Id or a new one) for the audit log and the response.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware costs about a millisecond per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = _request_id(scope)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _internal_error(request_id: str | None) -> JSONResponse:
    """A bug of ours, not the caller's fault: the error tree's form, with the id to quote to the operators."""
    return JSONResponse({"error": {"code": "internal", "message": "an unexpected error on our side; quote the "
                                   "request id to the operators", "request_id": request_id}}, status_code=500)


class FastLane:
    """Serves the hottest routes (method, path) -> endpoint(request) -> Response, in front of the middleware stack.

    A lodging went through six middlewares and the router before it reached its endpoint. This gives it what they
    did: a request id, and the error tree's answers (an unexpected error is a 500 in the same form, and logged).
    Every other request goes through the whole stack. The routes' FastAPI twins document them."""

    def __init__(self, app, routes: dict):
        self.app, self.routes = app, routes

    async def __call__(self, scope, receive, send):
        endpoint = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if endpoint is None:
            return await self.app(scope, receive, send)
        request_id = _request_id(scope)
        try:
            response = await endpoint(Request(scope, receive))
        except ConcordError as e:
            response = JSONResponse(e.as_dict(), status_code=e.status, headers=e.headers)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = _internal_error(request_id.decode())
        response.raw_headers.append((b"x-request-id", request_id))
        await response(scope, receive, send)


def create_app(concord=None, *, background: bool = True) -> FastAPI:
    """The HTTP API over a wired Concord (bootstrapped from settings when not given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "concord", None) is None:
            from concord.bootstrap import bootstrap

            app.state.concord = bootstrap()
        c = app.state.concord
        stop = threading.Event()
        # Import the model stack (LightGBM, scikit-learn) now, not inside the first trader's request.
        import concord.risk.learning.model  # noqa: F401
        from concord.bootstrap import settle_heap, warm_up

        warm_up(c)
        from concord.console.web import compile_templates

        compile_templates()  # the console's pages, compiled before the heap is settled
        settle_heap()
        c.tokens.start()  # PostgreSQL: listen for credential changes, so identities may be cached
        ticker = watch = None
        if c.settings.stall_log_ms > 0:
            from concord.observability.stalls import StallWatch

            watch = StallWatch(c.settings.stall_log_ms / 1000).start()
        memory = None
        if c.settings.memory_trace_s > 0:
            from concord.observability.memory import MemoryTrace

            memory = MemoryTrace(c.settings.memory_trace_s).start()
        if background:
            from concord.audit.checkpoints import Checkpointer, Ticker, signer_from_settings

            # Several workers on one database: what must run once at a time runs on the elected leader only.
            leader = c.leadership.start()
            if c.settings.workers == 1:  # alone, it leads at once: its first sweep and checkpoint are not skipped
                await asyncio.to_thread(leader.wait, 2.0)
            once = leader.only_when_leading
            _periodic(stop, 60, once(lambda: c.bus.handle(CheckDeadlines())), "sla-deadlines")
            if c.engine.dialect.name == "sqlite":
                from concord.db import wal_checkpoint_job

                _periodic(stop, 0.1, wal_checkpoint_job(c.engine), "wal-checkpoint")
            else:  # PostgreSQL
                _periodic(stop, FIRST_STATISTICS_S, once(first_statistics_job(c.engine)), "db-first-statistics")
                if (tidy := housekeeping_job(c.engine)) is not None:  # autovacuum off
                    _periodic(stop, HOUSEKEEPING_S, once(tidy), "db-housekeeping")
            if c.lanes is not None:  # every worker, from the start: it receives the others' decisions before lodging
                c.lanes.start()
            for name, (seconds, job) in c.periodic.items():  # jobs bootstrap wired
                _periodic(stop, seconds, job if name in c.per_worker else once(job), name)
            from concord.messaging.transports import InProcessTransport

            if c.notifications is not None:  # before the relay: its first sweep is stored too
                await c.notifications.start()
            c.bus.relay.may_sweep = lambda: leader.leading
            if c.settings.workers > 1:
                c.bus.relay.sweep_grace = 5.0
            # On the loop only where nothing waits: on PostgreSQL each flush waits for two commits (the stored
            # notifications, the published marks), which blocked every request for milliseconds 20 times a second.
            on_loop = isinstance(c.transport, InProcessTransport) and c.engine.dialect.name == "sqlite"
            if c.settings.relay_elsewhere and c.engine.dialect.name == "postgresql":
                c.bus.relay.elsewhere = True  # `concord relay` publishes (concord.messaging.relay_process)
            else:
                c.bus.relay.start(loop=asyncio.get_running_loop() if on_loop else None)
            # A signed checkpoint at least every second while entries arrive (none when the log did not grow);
            # with an external signer (`concord audit sign`) this process never reads the key.
            if c.settings.audit_signer == "embedded":
                checkpointer = Checkpointer(c.sessions, signer_from_settings(c.settings), c.clock,
                                            write_lock=c.write_lock)
                ticker = Ticker(once(checkpointer.issue), c.settings.checkpoint_interval_s).start()
        yield
        stop.set()
        c.tokens.stop()
        if watch is not None:
            watch.stop()
        if memory is not None:
            memory.stop()
        if background:
            for job in c.on_stop:  # e.g. the audit summaries still counting: logged, not lost
                try:
                    job()
                except Exception:
                    log.exception("shutdown job failed")
            if ticker is not None:
                ticker.stop()
            if c.lanes is not None:
                c.lanes.close()
            c.bus.relay.stop()
            if c.notifications is not None:
                await c.notifications.stop()
            c.leadership.stop()  # last: the final checkpoint and sweep above ran as the leader

    app = FastAPI(title="Concord", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Coordinated border management hub: one declaration, every agency, one release.")
    from concord.docs_ui import mount_docs

    mount_docs(app)  # Swagger UI from the package, not a CDN
    app.state.concord = concord

    app.add_middleware(RequestId)

    @app.exception_handler(ConcordError)
    async def concord_error(request: Request, exc: ConcordError):
        return JSONResponse(exc.as_dict(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)  # the router's own 404 and 405, in the error tree's form
    async def http_error(request: Request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = {404: f"no route {request.url.path}; the API is under /api/v1 (see /docs)",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(Exception)  # Starlette still re-raises it, and the server logs it
    async def unexpected(request: Request, exc: Exception):
        return _internal_error(request.scope.get("state", {}).get("request_id"))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            where, loc = (loc[0], loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else ("body", loc)
            problem = problem_of(e, loc)
            if where != "body":
                problem = Problem(problem.pointer, f"{where} parameter: {problem.message}")
            problems.append(problem)
        return JSONResponse(InvalidDocument("the request has faults; nothing was stored", problems).as_dict(),
                            status_code=422)

    from concord.access.api import router as access_router
    from concord.agencies.api import router as agencies_router
    from concord.agreements.api import router as agreements_router
    from concord.audit.api import router as audit_router
    from concord.clearance.api import router as clearance_router
    from concord.declarations.api import router as declarations_router
    from concord.hunting.api import router as hunting_router
    from concord.hunting.taxii import router as taxii_router
    from concord.incidents.api import router as incidents_router
    from concord.inspections.api import router as inspections_router
    from concord.notifications.api import router as notifications_router
    from concord.observability.api import router as observability_router
    from concord.risk.api import router as risk_router
    from concord.screening.api import router as screening_router
    from concord.standards.api import router as standards_router
    from concord.trs.api import router as trs_router

    for router in (access_router, agencies_router, declarations_router, clearance_router, agreements_router,
                   audit_router, risk_router, screening_router, inspections_router, trs_router, incidents_router,
                   standards_router, hunting_router, taxii_router, notifications_router, observability_router):
        app.include_router(router)
    from concord.declarations.api import FAST_ROUTES
    from concord.observability.metrics import Measured

    stack = app.build_middleware_stack  # Starlette builds it at the first request; the fast lane goes in front
    app.build_middleware_stack = lambda: Measured(FastLane(stack(), FAST_ROUTES), {p for _, p in FAST_ROUTES})

    from concord.console.web import mount_console

    mount_console(app)  # the web console: pages over the same queries and policy decision point

    from concord.openapi import document_errors

    document_errors(app)

    return app
