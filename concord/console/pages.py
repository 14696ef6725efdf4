"""Sign-in, sign-out and the home page, which sends each user to the screen of their work."""

import secrets

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from concord.console.auth import SignInRefused, sign_in, sign_out
from concord.console.web import COOKIE, N_, form, redirect, render, signed_in, tr

router = APIRouter(prefix="/console", include_in_schema=False)
SIGN_IN_CSRF = "concord_signin"
WRONG = N_(
    "The user, password or code is wrong, or the account is locked for a while.")  # double-submit token of the sign-in form (there is no session yet)


def _safe_next(value: str | None) -> str:
    """Only a path of the console: never an open redirect to another site."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


def _sign_in_page(request: Request, status: int = 200, error: str | None = None, user: str = ""):
    token = request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", None, status=status, sign_in_csrf=token, error=error, user=user,
                      next=_safe_next(request.query_params.get("next")))
    response.set_cookie(SIGN_IN_CSRF, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/console/sign-in")
    return response


@router.get("/sign-in")
def sign_in_page(request: Request):
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in_form(request: Request):
    fields = await form(request, csrf=request.cookies.get(SIGN_IN_CSRF))
    app = request.app.state.concord
    user = fields.get("user", "").strip()[:64]
    # Refused sign-ins count against the client like refused API tokens: one audit entry per window, 429 past
    # the limit (an office's other users, behind the same address, still sign in with the right password).
    refusals, key = app.auth_refusals, ("client", request.client.host if request.client else "unknown")
    try:
        # Argon2id takes a tenth of a second of CPU by design: in the thread pool, not on the event loop
        token, signed = await run_in_threadpool(sign_in, app, user, fields.get("password", "")[:1024],
                                                fields.get("code") or None)
    except SignInRefused:
        if refusals is None:
            return _sign_in_page(request, 401, tr(request, WRONG), user)
        from concord.audit.summaries import write_notes

        wait = refusals.retry_after(key)
        notes = refusals.hit(key, f"console:{user}", limited=wait is not None)
        await run_in_threadpool(write_notes, app, notes, request.state.request_id)
        if wait is not None:
            return _sign_in_page(request, 429, tr(request, "Too many failed sign-ins from this address; try again "
                                                           "in %(seconds)s seconds.", seconds=wait), user)
        return _sign_in_page(request, 401, tr(request, WRONG), user)
    response = redirect(_safe_next(fields.get("next")))
    from concord.console.auth import ABSOLUTE

    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=int(ABSOLUTE.total_seconds()), path="/console")
    response.delete_cookie(SIGN_IN_CSRF, path="/console/sign-in")
    return response


@router.post("/sign-out")
async def sign_out_form(request: Request, signed=Depends(signed_in)):
    await form(request, signed)
    await run_in_threadpool(sign_out, request.app.state.concord, signed)
    response = redirect("/console/sign-in")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/")
def home(signed=Depends(signed_in)):
    """Each role starts where its work is."""
    s = signed.subject
    if s.is_trader:
        return redirect("/console/declarations")
    if s.has("officer", "supervisor"):
        return redirect("/console/tasks")
    if s.has("liaison"):
        return redirect("/console/agreements")
    if s.has("auditor", "administrator"):
        return redirect("/console/audit")
    return redirect("/console/declarations")
