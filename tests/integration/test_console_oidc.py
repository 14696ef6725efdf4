"""Console sign-in through an agency's OpenID Connect provider, against a real (small) provider on loopback: the
authorization code flow with PKCE, state and nonce, and an ID token signed with the provider's published key.
The provider signs in its own agency's users only, and a token that does not hold opens nothing."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from concord.app import create_app


class Provider:
    """A minimal OpenID provider: discovery, authorize (the user is whoever the test says logged in), token
    (client secret, redirect URI and the PKCE S256 verifier checked; codes used once), and its JWKS."""

    def __init__(self, client_id: str, secret: str):
        from joserfc.jwk import RSAKey

        self.client_id, self.secret = client_id, secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # what a forger would sign with
        self.user, self.tamper, self.codes = "nppo-officer", None, {}
        self.base = ""

    def app(self):
        from joserfc import jwt
        from joserfc.jwk import KeySet
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, RedirectResponse
        from starlette.routing import Route

        async def discovery(request: Request):
            return JSONResponse({"issuer": self.base, "authorization_endpoint": f"{self.base}/authorize",
                                 "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks",
                                 "response_types_supported": ["code"], "subject_types_supported": ["public"],
                                 "id_token_signing_alg_values_supported": ["RS256"]})

        async def authorize(request: Request):
            q = request.query_params
            assert q["client_id"] == self.client_id and q["response_type"] == "code"
            assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
            code = secrets.token_urlsafe(16)
            self.codes[code] = (q["redirect_uri"], q["nonce"], q["code_challenge"], self.user)
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

        async def token(request: Request):
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}  # url-encoded
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.secret:
                return JSONResponse({"error": "invalid_client"}, 401)
            redirect_uri, nonce, challenge, user = self.codes.pop(form.get("code"), (None,) * 4)
            verifier = form.get("code_verifier") or ""
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if redirect_uri is None or redirect_uri != form.get("redirect_uri") or computed != challenge:
                return JSONResponse({"error": "invalid_grant"}, 400)
            now = int(time.time())
            claims = {"iss": self.base, "sub": f"sub-{user}", "aud": self.client_id, "iat": now, "exp": now + 300,
                      "nonce": nonce, "preferred_username": user}
            if self.tamper == "nonce":
                claims["nonce"] = "another"
            if self.tamper == "audience":
                claims["aud"] = "another-client"
            key = self.other_key if self.tamper == "key" else self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": id_token})

        async def jwks(request: Request):
            return JSONResponse(KeySet([self.key]).as_dict(private=False))

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/authorize", authorize),
                                 Route("/token", token, methods=["POST"]), Route("/jwks", jwks)])


@pytest.fixture(scope="module")
def running_provider():
    """One provider (its RSA keys take a while to make) for the module; each test resets what it plays."""
    import uvicorn

    idp = Provider("concord-console", "s3cret-of-the-client")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    idp.base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(idp.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield idp
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def provider(running_provider):
    running_provider.user, running_provider.tamper = "nppo-officer", None
    return running_provider


@pytest.fixture
def console(sqlite_concord, provider):
    s = sqlite_concord.settings
    s.console_oidc_issuer, s.console_oidc_client_id = provider.base, provider.client_id
    s.console_oidc_client_secret, s.console_oidc_agency = provider.secret, "NPPO"
    return TestClient(create_app(sqlite_concord, background=False), base_url="http://testserver",
                      follow_redirects=False)


def through_provider(console: TestClient, next_path: str = "/console/tasks"):
    """The browser's round trip: the console sends it to the provider, which sends it back with a code."""
    start = console.get(f"/console/sign-in/oidc?next={next_path}")
    assert start.status_code == 303
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["location"])
    assert back.path == "/console/sign-in/oidc/callback"
    return console.get(f"{back.path}?{back.query}")


def test_an_agency_user_signs_in_through_the_agencys_provider(sqlite_concord, console, provider):
    from sqlalchemy import select

    from concord.audit.models import AuditEntry

    assert "/console/sign-in/oidc" in console.get("/console/sign-in").text
    r = through_provider(console)
    assert r.status_code == 303 and r.headers["location"] == "/console/tasks"
    page = console.get("/console/tasks")
    assert page.status_code == 200 and "Task queue of NPPO" in page.text
    with sqlite_concord.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "console:sign-in")).all()[-1]
    assert entry.actor == "nppo-officer" and '"via":"oidc"' in entry.body.replace(" ", "")


@pytest.mark.parametrize("tamper", ["nonce", "audience", "key", "user of another agency", "state"])
def test_a_token_or_a_return_that_does_not_hold_opens_nothing(console, provider, tamper):
    if tamper == "user of another agency":
        provider.user = "cus-officer"  # NPPO's provider cannot vouch for a customs officer
    elif tamper != "state":
        provider.tamper = tamper
    if tamper == "state":
        start = console.get("/console/sign-in/oidc")
        back = urlparse(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
        query = parse_qs(back.query)
        r = console.get(f"{back.path}?{urlencode({'code': query['code'][0], 'state': 'forged'})}")
        assert r.status_code == 400
    else:
        r = through_provider(console)
        assert r.status_code == 401
    assert "concord_session" not in r.headers.get("set-cookie", "")
    assert console.get("/console/tasks").status_code == 303  # still signed out


def test_without_a_provider_configured_there_is_no_such_sign_in(sqlite_concord):
    c = TestClient(create_app(sqlite_concord, background=False), follow_redirects=False)
    assert "/console/sign-in/oidc" not in c.get("/console/sign-in").text
    assert c.get("/console/sign-in/oidc").status_code == 403
    assert c.get("/console/sign-in/oidc/callback?code=x&state=y").status_code == 400
