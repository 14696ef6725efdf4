"""Commands of the notification stream: agencies' webhook subscriptions and their dead letters."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command


@dataclass(kw_only=True)
class CreateWebhook(Command):
    """An agency's system subscribes to the agency's notifications; the answer shows the signing secret once."""

    url: str
    events: list[str] = field(default_factory=list)  # event name prefixes; empty: every notification
    description: str = ""


@dataclass(kw_only=True)
class RemoveWebhook(Command):
    webhook_id: str


@dataclass(kw_only=True)
class ReplayDeadLetters(Command):
    """Send dead-lettered deliveries again (all of the subscription's, or those named), from the next round on."""

    webhook_id: str
    delivery_ids: list[str] = field(default_factory=list)
