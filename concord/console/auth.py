"""Console sign-in: Argon2id passwords, an optional TOTP second factor, lockout, and server-side sessions.

A console user is a user of the coordination config with a console account; once signed in, the browser acts as
the same `Subject` an API token of that user gives, so every page passes the same policy decision point."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update

from concord.access.handlers import subject_for
from concord.access.identity import Subject
from concord.access.models import User
from concord.console.models import ConsoleAccount, ConsoleSession
from concord.errors import ConcordError, InvalidDocument, NotFound, Problem

IDLE = timedelta(minutes=30)  # a session unused this long is over
ABSOLUTE = timedelta(hours=12)  # and none outlives a shift
MAX_FAILURES = 5  # failed sign-ins in a row before the account locks
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
TOUCH_EVERY = timedelta(seconds=60)  # seen_at is written at most this often: a page view is not a write

hasher = PasswordHasher()  # Argon2id with the library's RFC 9106 low-memory profile
_DUMMY = hasher.hash("not a password of anyone")  # verified for unknown users, so timing tells nothing


class SignInRefused(ConcordError):
    """Wrong user, password or code, or a locked account: one message for all, so it tells nothing."""

    status = 401


@dataclass(frozen=True)
class Signed:
    subject: Subject
    session_id: str
    csrf: str
    name: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_password(app, user_id: str, password: str, *, actor=None) -> None:
    """Create or change a user's console password (Argon2id); unlocks the account."""
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise InvalidDocument("password too short or too long",
                              [Problem("/password", f"use {MIN_PASSWORD} to 1,024 characters")])
    with app.uow(actor) as uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active:
            raise NotFound(f"no active user '{user_id}'; users come from the coordination config")
        account = uow.session.get(ConsoleAccount, user_id)
        now = uow.clock.now()
        if account is None:
            uow.session.add(ConsoleAccount(user_id=user_id, password_hash=hasher.hash(password), totp_secret=None,
                                           failures=0, locked_until=None, changed_at=now))
        else:
            account.password_hash, account.failures, account.locked_until = hasher.hash(password), 0, None
            account.changed_at = now
        uow.audit("console:password:set", f"user/{user_id}", agency=user.agency)
        uow.commit()


def enable_totp(app, user_id: str, *, actor=None) -> str:
    """Give the account a new TOTP secret (RFC 6238); returns the otpauth:// URI to enrol an authenticator app."""
    import pyotp

    with app.uow(actor) as uow:
        account = uow.session.get(ConsoleAccount, user_id)
        if account is None:
            raise NotFound(f"user '{user_id}' has no console account; `concord users add` first")
        account.totp_secret = pyotp.random_base32()
        uow.audit("console:totp:enabled", f"user/{user_id}")
        uow.commit()
        return pyotp.TOTP(account.totp_secret).provisioning_uri(name=user_id, issuer_name="Concord")


def sign_in(app, user_id: str, password: str, code: str | None) -> tuple[str, Signed]:
    """Check the credentials; returns the new session's cookie token and what it signs in as."""
    now = app.clock.now()
    with app.uow() as uow:
        account = uow.session.get(ConsoleAccount, user_id[:64])
        user = uow.session.get(User, user_id[:64]) if account else None
        if account is None or user is None or not user.active:  # counted per client by the caller, not logged
            _verify(_DUMMY, password)  # one by one: a flood of made-up names must not grow the log a line each
            raise SignInRefused("the user, password or code is wrong, or the account is locked for a while")
        locked = account.locked_until is not None and account.locked_until > now
        ok = not locked and _verify(account.password_hash, password) and _second_factor(account, code, now)
        if not ok:
            if not locked:
                account.failures += 1
                if account.failures >= MAX_FAILURES:
                    account.locked_until, account.failures = now + LOCKOUT, 0
                    uow.audit("console:account:locked", f"user/{user_id}", agency=user.agency, actor=user.id)
            uow.audit("console:sign-in:refused", f"user/{user_id}", outcome="denied", agency=user.agency,
                      actor=user.id)
            uow.commit()
            raise SignInRefused("the user, password or code is wrong, or the account is locked for a while")
        account.failures, account.locked_until = 0, None
        if hasher.check_needs_rehash(account.password_hash):
            account.password_hash = hasher.hash(password)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        uow.session.add(ConsoleSession(id=digest(token), user_id=user.id, csrf=csrf, created_at=now, seen_at=now,
                                       ended_at=None))
        subject = subject_for(user, app.lead_agency(uow.session))
        uow.audit("console:sign-in", f"user/{user.id}", agency=user.agency, actor=user.id)
        uow.commit()
        return token, Signed(subject, digest(token), csrf, user.name)


def _verify(stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _second_factor(account: ConsoleAccount, code: str | None, now) -> bool:
    if account.totp_secret is None:
        return True
    import pyotp

    return bool(code) and pyotp.TOTP(account.totp_secret).verify(code.strip(), for_time=now, valid_window=1)


def session_of(app, token: str | None) -> Signed | None:
    """The signed-in subject of a session cookie; None when absent, ended, idle too long or too old."""
    if not token or len(token) > 100:
        return None
    now = app.clock.now()
    with app.sessions() as s:
        row = s.get(ConsoleSession, digest(token))
        if row is None or row.ended_at is not None or now - row.seen_at > IDLE or now - row.created_at > ABSOLUTE:
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        signed = Signed(subject_for(user, app.lead_agency(s)), row.id, row.csrf, user.name)
        stale = now - row.seen_at > TOUCH_EVERY
    if stale:  # bookkeeping of the idle timeout, not an act of the user: no audit entry
        _write(app, update(ConsoleSession).where(ConsoleSession.id == row.id).values(seen_at=now))
    return signed


def sign_out(app, signed: Signed) -> None:
    with app.uow(signed.subject) as uow:
        uow.session.execute(update(ConsoleSession).where(ConsoleSession.id == signed.session_id)
                            .values(ended_at=uow.clock.now()))
        uow.audit("console:sign-out", f"user/{signed.subject.user_id}", agency=signed.subject.agency)
        uow.commit()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def _write(app, statement) -> None:
    from contextlib import nullcontext

    with app.write_lock or nullcontext(), app.sessions() as s:
        s.execute(statement)
        s.commit()
