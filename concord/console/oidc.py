"""Sign-in with an agency's own identity provider (OpenID Connect, authorization code with PKCE), where configured.

The provider is the agency's: it signs in that agency's users only (CONCORD_CONSOLE_OIDC_AGENCY), each named by a
claim of the ID token (CONCORD_CONSOLE_OIDC_CLAIM, preferred_username by default) that must be the id of an active
user of that agency in the coordination config. The ID token is checked as OpenID Connect Core 3.1.3.7 says:
signature against the provider's published keys, issuer, audience, expiry and the nonce this browser was given.
The session that follows is the console's own (auth.py): the same cookie, timeouts and audit entries."""

from __future__ import annotations

import secrets
import time
from functools import lru_cache

import httpx
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from concord.console.web import COOKIE, N_, redirect, render, tr
from concord.errors import ConcordError, Forbidden

router = APIRouter(prefix="/console", include_in_schema=False)
STATE_COOKIE = "concord_oidc"
STATE_TTL_S = 600  # the user has ten minutes at the provider
HTTP_TIMEOUT_S = 10


class OidcRefused(ConcordError):
    status = 401


def configured(settings) -> bool:
    return bool(settings.console_oidc_issuer and settings.console_oidc_client_id and settings.console_oidc_agency)


@lru_cache(maxsize=4)
def _discovery(issuer: str, at: int) -> dict:
    """The provider's metadata (cached for ten minutes: `at` is the time bucket)."""
    r = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_S)
    r.raise_for_status()
    meta = r.json()
    if meta.get("issuer") != issuer:  # OpenID Connect Discovery 4.3: the issuer must be the one asked
        raise OidcRefused("the identity provider's metadata names another issuer")
    return meta


def discovery(settings) -> dict:
    return _discovery(settings.console_oidc_issuer, int(time.time() // 600))


def _redirect_uri(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/sign-in/oidc")
def start(request: Request):
    """Off to the provider with a fresh state, nonce and PKCE verifier (kept in a short-lived HttpOnly cookie)."""
    from authlib.integrations.httpx_client import OAuth2Client

    settings = request.app.state.concord.settings
    if not configured(settings):
        raise Forbidden(tr(request, "Sign-in with an identity provider is not configured on this hub."))
    meta = discovery(settings)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    client = OAuth2Client(settings.console_oidc_client_id, scope="openid profile",
                          redirect_uri=_redirect_uri(request), code_challenge_method="S256")
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=state, nonce=nonce,
                                             code_verifier=verifier)
    nxt = request.query_params.get("next", "/console/")
    response = redirect(url)
    response.set_cookie(STATE_COOKIE, f"{state}.{nonce}.{verifier}.{_safe(nxt)}", max_age=STATE_TTL_S, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/console/sign-in")
    return response


def _safe(value: str) -> str:
    from concord.console.pages import _safe_next

    return _safe_next(value).replace(".", "%2E")  # the cookie's separator stays unambiguous


def _id_token_claims(settings, meta: dict, code: str, verifier: str, nonce: str, redirect_uri: str) -> dict:
    """Exchange the code (with the PKCE verifier and the client's secret) and check the ID token."""
    from authlib.integrations.httpx_client import OAuth2Client
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    with OAuth2Client(settings.console_oidc_client_id, settings.console_oidc_client_secret or None,
                      redirect_uri=redirect_uri, timeout=HTTP_TIMEOUT_S,
                      token_endpoint_auth_method="client_secret_post" if settings.console_oidc_client_secret
                      else "none") as client:
        token = client.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier,
                                   grant_type="authorization_code")
    id_token = token.get("id_token")
    if not id_token:
        raise OidcRefused("the identity provider sent no ID token")
    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=HTTP_TIMEOUT_S).raise_for_status().json())
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.console_oidc_issuer},
            aud={"essential": True, "value": settings.console_oidc_client_id},
            nonce={"essential": True, "value": nonce}, exp={"essential": True}, sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as e:
        raise OidcRefused(f"the ID token does not hold: {e}") from None
    return decoded.claims


def open_session(app, user_id: str, agency: str, issuer: str):
    """A console session for an active user of the provider's agency; refused (and logged) otherwise."""
    from concord.access.handlers import subject_for
    from concord.access.models import User
    from concord.console.auth import Signed, digest
    from concord.console.models import ConsoleSession

    now = app.clock.now()
    with app.uow() as uow:
        user = uow.session.get(User, user_id[:64])
        if user is None or not user.active or user.agency != agency:
            uow.audit("console:sign-in:refused", f"user/{user_id[:64]}", outcome="denied", agency=agency,
                      actor=f"oidc:{issuer}"[:64], detail={"via": "oidc"})
            uow.commit()
            raise OidcRefused("this identity provider does not sign in that user")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        uow.session.add(ConsoleSession(id=digest(token), user_id=user.id, csrf=csrf, created_at=now, seen_at=now,
                                       ended_at=None))
        subject = subject_for(user, app.lead_agency(uow.session))
        uow.audit("console:sign-in", f"user/{user.id}", agency=user.agency, actor=user.id, detail={"via": "oidc"})
        uow.commit()
        return token, Signed(subject, digest(token), csrf, user.name)


REFUSED = N_("Sign-in through the identity provider failed; try again, or sign in with your password.")


@router.get("/sign-in/oidc/callback", name="oidc_callback")
async def callback(request: Request):
    """The provider sends the browser back with a code; the state must be this browser's."""
    from concord.console.auth import ABSOLUTE

    app = request.app.state.concord
    settings = app.settings
    kept = (request.cookies.get(STATE_COOKIE) or "").split(".")
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    if not configured(settings) or len(kept) != 4 or not secrets.compare_digest(kept[0], state) or not code:
        return render(request, "error.html", None, status=400, message=tr(request, REFUSED))
    try:
        meta = await run_in_threadpool(discovery, settings)
        claims = await run_in_threadpool(_id_token_claims, settings, meta, code[:2048], kept[2], kept[1],
                                         _redirect_uri(request))
        user_id = str(claims.get(settings.console_oidc_claim) or "")
        token, _ = await run_in_threadpool(open_session, app, user_id, settings.console_oidc_agency,
                                           settings.console_oidc_issuer)
    except (OidcRefused, httpx.HTTPError, KeyError, ValueError, ConcordError) as e:
        import logging

        logging.getLogger(__name__).warning("OIDC sign-in refused: %s", e)
        return render(request, "error.html", None, status=401, message=tr(request, REFUSED))
    from concord.console.pages import _safe_next

    response = redirect(_safe_next(kept[3].replace("%2E", ".")))
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=int(ABSOLUTE.total_seconds()), path="/console")
    response.delete_cookie(STATE_COOKIE, path="/console/sign-in")
    return response
