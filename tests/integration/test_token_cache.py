"""The token cache (issue 17): identities are served from memory, yet a revocation or a role change made by any
writer refuses the next request. On both databases, with the demo config."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from concord.access.handlers import TokenReader, token_hash
from concord.access.messages import IssueToken, RevokeToken


class Ticks:
    """A monotonic clock the test moves by hand (the cache's TTL)."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _refused_within(reader, digest, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while reader.subject(digest)[1] is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _unseen_revocation(app, reader, token_id: str) -> None:
    """Revoke a token by a write the cache is not told of: the TTL is then all that catches it."""
    if app.engine.dialect.name == "sqlite":  # the reader's own connection: its data_version does not move
        conn = reader._connection()
        cur = conn.cursor()
        cur.execute("UPDATE api_tokens SET revoked_at = '2026-01-01 00:00:00.000000' WHERE id = ?", (token_id,))
        conn.commit()
        cur.close()
    else:  # triggers off for this one session (the test's user is a superuser)
        with app.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE id = :i"), {"i": token_id})


def test_a_cached_identity_is_dropped_on_revocation_and_outlives_an_unseen_change_by_the_ttl_only(concord):
    ticks = Ticks()
    reader = TokenReader(concord.engine, ttl=5.0, clock=ticks).start()
    try:
        assert concord.engine.dialect.name == "sqlite" or reader.wait_listening(10)
        issued = concord.bus.handle(IssueToken(user_id="hollandfoods"))
        digest = token_hash(issued["token"])
        assert reader.subject(digest)[1].trader_id == "NL823456781"
        assert digest in reader._cache

        # revoked through the hub (another connection, as another worker or `concord tokens revoke` would)
        concord.bus.handle(RevokeToken(token_id=issued["token_id"]))
        assert _refused_within(reader, digest, 5.0)
        assert digest not in reader._cache

        # a change nobody announces: served from the cache until the TTL, refused after it
        other = concord.bus.handle(IssueToken(user_id="cus-officer"))
        digest = token_hash(other["token"])
        assert reader.subject(digest)[1] is not None
        _unseen_revocation(concord, reader, other["token_id"])
        assert reader.subject(digest)[1] is not None
        ticks.t += 5.1
        assert reader.subject(digest)[1] is None
        assert reader.subject(token_hash("cnc_unknown")) == (None, None)
    finally:
        reader.stop()


@pytest.mark.postgres
def test_a_role_change_made_in_sql_reaches_the_cache(pg_url, tmp_path):
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from support import demo_config_text

    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path))
    reader = TokenReader(app.engine, ttl=60.0).start()
    try:
        app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        assert reader.wait_listening(10)
        digest = token_hash(app.bus.handle(IssueToken(user_id="cus-officer"))["token"])
        assert reader.subject(digest)[1].lead
        with app.engine.begin() as conn:  # as an administrator would, by hand
            conn.execute(text("UPDATE users SET active = false WHERE id = 'cus-officer'"))
        assert _refused_within(reader, digest, 5.0)
    finally:
        reader.stop()
        app.close()


@pytest.mark.postgres
def test_the_readers_connection_leaves_no_transaction_open_between_requests(pg_url, tmp_path):
    """An open transaction held for the worker's life would hold back vacuum (and trips any
    idle_in_transaction_session_timeout an administrator sets)."""
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from support import demo_config_text

    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path))
    reader = TokenReader(app.engine, ttl=0)
    try:
        app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        digest = token_hash(app.bus.handle(IssueToken(user_id="cus-officer"))["token"])
        assert reader.subject(digest)[1].lead
        with app.engine.connect() as conn:
            states = conn.execute(text("SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND query LIKE 'SELECT t.id, t.revoked_at%'")).scalars().all()
        assert states == ["idle"], states
    finally:
        reader.stop()
        app.close()
