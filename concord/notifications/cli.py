"""`concord webhooks ...`: an agency's webhook subscriptions and dead letters, with the same handlers as the API."""

from __future__ import annotations

import typer

from concord.cliutil import AS, act_as, print_json

webhooks_app = typer.Typer(help="Agencies' webhooks: signed deliveries of their notifications, dead letters, replay.",
                           no_args_is_help=True)


@webhooks_app.command("add")
def add(url: str, user: str = AS,
        event: list[str] = typer.Option([], help="an event name prefix to deliver (repeatable); none: all"),
        description: str = ""):
    """Subscribe URL to the notifications of USER's agency (a liaison officer or administrator); prints the
    signing secret, shown this once."""
    from concord.notifications.messages import CreateWebhook

    print_json(act_as(user, lambda app, who: app.bus.handle(
        CreateWebhook(url=url, events=event, description=description), subject=who)))


@webhooks_app.command("list")
def list_(user: str = AS):
    """USER's agency's webhooks, with their pending and dead deliveries."""
    from concord.notifications import queries

    def command(app, who):
        with app.sessions() as s:
            return queries.list_webhooks(s, who)

    print_json(act_as(user, command))


@webhooks_app.command("remove")
def remove(webhook_id: str, user: str = AS):
    """Stop delivering to a webhook."""
    from concord.notifications.messages import RemoveWebhook

    print_json(act_as(user, lambda app, who: app.bus.handle(RemoveWebhook(webhook_id=webhook_id), subject=who)))


@webhooks_app.command("dead-letters")
def dead_letters(webhook_id: str, user: str = AS):
    """The deliveries that failed every attempt, newest first."""
    from concord.notifications import queries

    def command(app, who):
        with app.sessions() as s:
            return queries.dead_letters(s, who, webhook_id)

    print_json(act_as(user, command))


@webhooks_app.command("replay")
def replay(webhook_id: str, user: str = AS,
           delivery: list[str] = typer.Option([], help="a dead letter's id (repeatable); none: all of them")):
    """Send dead letters again; the running server delivers them on its next round."""
    from concord.notifications.messages import ReplayDeadLetters

    print_json(act_as(user, lambda app, who: app.bus.handle(
        ReplayDeadLetters(webhook_id=webhook_id, delivery_ids=delivery), subject=who)))
