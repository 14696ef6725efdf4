"""Issuing, revoking and checking API tokens; every one of these is an audit entry."""

import hashlib
import secrets

from sqlalchemy import select

from concord.access.identity import Subject
from concord.access.messages import IssueToken, RevokeToken
from concord.access.models import ApiToken, User
from concord.errors import NotFound, Unauthenticated
from concord.ids import new_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(cmd: IssueToken, uow) -> dict:
    """Create a token for an active user; only its hash is stored, the token is shown once."""
    with uow:
        user = uow.session.get(User, cmd.user_id)
        if user is None or not user.active:
            raise NotFound(f"no active user '{cmd.user_id}'; users come from the coordination config")
        token = "cnc_" + secrets.token_urlsafe(32)
        row = ApiToken(id=new_id("TOK"), user_id=user.id, token_hash=token_hash(token), created_at=uow.clock.now(),
                       revoked_at=None)
        uow.session.add(row)
        uow.audit("auth:token:issued", f"user/{user.id}", detail={"token_id": row.id}, agency=user.agency)
        uow.commit()
        return {"token": token, "token_id": row.id, "user": user.id}


def revoke_token(cmd: RevokeToken, uow) -> dict:
    with uow:
        row = uow.session.get(ApiToken, cmd.token_id)
        if row is None:
            raise NotFound(f"no token '{cmd.token_id}'")
        if row.revoked_at is None:
            row.revoked_at = uow.clock.now()
            uow.audit("auth:token:revoked", f"user/{row.user_id}", detail={"token_id": row.id})
        uow.commit()
        return {"token_id": row.id, "revoked_at": row.revoked_at.isoformat()}


def subject_for(user, lead_agency: str | None) -> Subject:
    """The subject of a user row (or of any object with its id, agency, trader_id and roles)."""
    return Subject(user.id, user.agency, user.trader_id, frozenset(user.roles),
                   lead=user.agency is not None and user.agency == lead_agency)


def authenticate(uow, token: str | None, lead_agency_of) -> Subject:
    """The subject a bearer token stands for; a refused token is logged and answered 401."""
    if not token:
        raise Unauthenticated("send 'Authorization: Bearer TOKEN'; `concord tokens issue USER` prints one")
    with uow.read() as session:  # most requests: one indexed read of a few columns, no write lock
        row = session.execute(select(ApiToken.id.label("token_id"), ApiToken.revoked_at, User.id, User.agency,
                                     User.trader_id, User.roles, User.active)
                              .join(User, User.id == ApiToken.user_id)
                              .where(ApiToken.token_hash == token_hash(token))).first()
        if row is not None and row.revoked_at is None and row.active:
            return subject_for(row, lead_agency_of(session))
    with uow:
        uow.audit("auth:token:refused", "token", outcome="refused", detail={"token_id": row.token_id} if row else {})
        uow.commit()
    raise Unauthenticated("the token is unknown, revoked, or its user is inactive")


def log_reads(uow, reads: list, purpose: str | None) -> None:
    """Write one audit entry per cross-agency read: who read whose record, why, under which agreement."""
    if not reads:
        return
    with uow:
        for resource, decision in reads:
            kind = resource.split("/", 1)[0]
            outcome = "break-glass" if decision.basis and "break-glass:" in decision.basis else "ok"
            uow.audit(f"{kind}:read", resource, purpose=purpose, agreement=decision.agreement, outcome=outcome,
                      owner=decision.provider, detail={"basis": decision.basis})
        uow.commit()
