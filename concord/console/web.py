"""The console's plumbing: templates per language, the signed-in subject, forms with CSRF tokens, static assets."""

from __future__ import annotations

import gettext as gettext_module
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from concord.console.auth import Signed, csrf_ok, session_of
from concord.errors import ConcordError

HERE = Path(__file__).parent
LANGUAGES = {"en": "English", "fr": "Français"}
COOKIE = "concord_session"
LANG_COOKIE = "concord_lang"
FORM_MAX_BYTES = 256 << 10  # a lodging of a few items is a few kilobytes
PAGE = 25  # rows per page of every list


def N_(text: str) -> str:
    """Marks a message for extraction; tr() translates it where it is shown."""
    return text


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page, and comes back after."""


class BadForm(Exception):
    """A form without its CSRF token, or too large: refused before anything runs."""


@lru_cache
def translations(lang: str) -> gettext_module.NullTranslations:
    return gettext_module.translation("messages", HERE / "locale", languages=[lang], fallback=True)


@lru_cache
def environment(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)
    return env


def compile_templates() -> None:
    """At start-up, before the heap is settled: every page's template in every language, so no officer's first
    visit of a screen waits for its compilation (30–230 ms a template; the bench's first visits showed it)."""
    for lang in LANGUAGES:
        env = environment(lang)
        for name in env.list_templates(extensions=["html"]):
            env.get_template(name)


def language(request: Request) -> str:
    """?lang= (the switch), then the cookie it sets, then the browser's Accept-Language; English otherwise."""
    for given in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if given in LANGUAGES:
            return given
    ranked = []
    for part in request.headers.get("accept-language", "")[:200].split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            ranked.append((float(q or 1), tag[:2].lower()))
        except ValueError:
            continue
    return next((tag for _, tag in sorted(ranked, reverse=True) if tag in LANGUAGES), "en")


def tr(request: Request, text: str, **values) -> str:
    """A message of the Python side (flashes, refusals) in the request's language."""
    out = translations(language(request)).gettext(text)
    return out % values if values else out


async def signed_in(request: Request) -> Signed:
    """The dependency of every page but sign-in: the session's subject, or off to the sign-in page."""
    signed = await run_in_threadpool(session_of, request.app.state.concord, request.cookies.get(COOKIE))
    if signed is None:
        raise SignInRequired()
    request.state.subject, request.state.signed = signed.subject, signed
    return signed


async def form(request: Request, signed: Signed | None = None, csrf: str | None = None, *,
               max_bytes: int = FORM_MAX_BYTES, max_fields: int = 400) -> dict:
    """The url-encoded form, refused unless it carries the session's CSRF token (or the sign-in form's cookie's).
    The lodging and amendment forms take more (a declaration of 999 items, as the API does)."""
    body = await request.body()
    if len(body) > max_bytes:
        raise BadForm(N_("The form is too large."))
    try:
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=max_fields))
    except ValueError:  # more fields than the form has
        raise BadForm(N_("The form is too large.")) from None
    expected = signed.csrf if signed is not None else csrf
    if not expected or not csrf_ok(expected, fields.get("csrf")):
        raise BadForm(N_("The form has expired or did not come from this console; reload the page and send it again."))
    return fields


def render(request: Request, template: str, signed: Signed | None = None, status: int = 200, **context):
    lang = language(request)
    page = environment(lang).get_template(template).render(
        request=request, signed=signed, lang=lang, languages=LANGUAGES, csrf=signed.csrf if signed else None,
        path=request.url.path, query=str(request.url.query), **context)
    response = HTMLResponse(page, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'"})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=request.url.scheme == "https")
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def mount_console(app) -> None:
    """The console's pages under /console and its assets, served from the package (no CDN)."""
    from starlette.staticfiles import StaticFiles

    from concord.console import (agreement_forms, auditor, declarant, enforcement, enforcement_forms, liaison, live,
                                 officer, oidc, pages, sharing, supervisor, trader)

    # enforcement_forms before enforcement: /incidents/new is a form, not an incident called "new"
    for module in (pages, officer, supervisor, trader, agreement_forms, liaison, auditor, enforcement_forms,
                   enforcement, declarant, live, sharing, oidc):
        app.include_router(module.router)

    class CachedStatic(StaticFiles):  # kept a day (htmx's name carries its version; our CSS may lag a day)
        def file_response(self, *args, **kwargs):
            response = super().file_response(*args, **kwargs)
            response.headers["Cache-Control"] = "public, max-age=86400"
            return response

    app.mount("/console/static", CachedStatic(directory=HERE / "static"), name="console-static")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired):
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):  # a poll from an expired page: take the whole page to sign-in
            return HTMLResponse("", headers={"HX-Redirect": "/console/sign-in"})
        return redirect(f"/console/sign-in?next={quote(back)}")

    api_errors = app.exception_handlers[ConcordError]

    @app.exception_handler(ConcordError)  # the API's answers stay JSON; a page shows the same refusal as a page
    async def concord_error(request: Request, exc: ConcordError):
        if not request.url.path.startswith("/console"):
            return await api_errors(request, exc)
        return render(request, "error.html", getattr(request.state, "signed", None), status=exc.status,
                      message=exc.message)

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, exc: BadForm):
        return render(request, "error.html", None, status=400, message=tr(request, str(exc)))
