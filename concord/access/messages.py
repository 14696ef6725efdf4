"""Token commands."""

from dataclasses import dataclass

from concord.messaging.messages import Command


@dataclass(kw_only=True)
class IssueToken(Command):
    user_id: str


@dataclass(kw_only=True)
class RevokeToken(Command):
    token_id: str
