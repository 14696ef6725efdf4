"""A revoked token is refused at once by every server (issue 17): each caches token -> identity, and a
revocation through one server reaches the other's cache by NOTIFY before the client can ask it. Two plain
`concord serve` processes on one PostgreSQL database, as several workers or hosts behind a balancer would be;
and one server on SQLite."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from concord.bench.alerts import prepare, serve
from test_notifications_stream import wait_for


def _listening(url: str) -> int:
    """How many servers' credential listeners are connected and listening."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                                     "'concord-credentials:%' AND query <> ''")).scalar()
    finally:
        engine.dispose()


def _revoke_and_ask(revoking: str, asked: str, tokens: dict) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    trader = {"Authorization": f"Bearer {tokens['hollandfoods']}"}
    with httpx.Client(timeout=30) as c:
        for _ in range(5):  # cached on both servers by now
            assert c.get(f"{asked}/api/v1/me", headers=trader).status_code == 200
            assert c.get(f"{revoking}/api/v1/me", headers=trader).status_code == 200
        token_id = c.post(f"{revoking}/api/v1/tokens", json={"user": "hollandfoods"}, headers=admin).json()
        mine = {"Authorization": f"Bearer {token_id['token']}"}
        assert c.get(f"{asked}/api/v1/me", headers=mine).status_code == 200
        r = c.delete(f"{revoking}/api/v1/tokens/{token_id['token_id']}", headers=admin)
        assert r.status_code == 200, r.text
        assert c.get(f"{asked}/api/v1/me", headers=mine).status_code == 401  # the very next request
        assert c.get(f"{revoking}/api/v1/me", headers=mine).status_code == 401
        assert c.get(f"{asked}/api/v1/me", headers=trader).status_code == 200  # the user's other token still holds


@pytest.mark.postgres
def test_a_token_revoked_through_one_server_is_refused_at_once_by_the_other(tmp_path, pg_url):
    tokens = prepare(tmp_path, ("admin", "hollandfoods"), database_url=pg_url)
    env = {"CONCORD_DATABASE_URL": pg_url}
    with serve(tmp_path, **env) as (one, _), serve(tmp_path, **env) as (two, _):
        wait_for(lambda: _listening(pg_url) == 2, 30)
        _revoke_and_ask(one, two, tokens)
        _revoke_and_ask(two, one, tokens)


def test_a_token_revoked_on_sqlite_is_refused_at_once(tmp_path):
    tokens = prepare(tmp_path, ("admin", "hollandfoods"))
    with serve(tmp_path) as (base, _):
        _revoke_and_ask(base, base, tokens)
