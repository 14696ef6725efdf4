"""`concord users`: console accounts for users of the coordination config (operators run these)."""

import typer

from concord.cliutil import fail, hub
from concord.errors import ConcordError

users_app = typer.Typer(help="Console accounts: passwords (Argon2id) and one-time codes (TOTP).",
                        no_args_is_help=True)


def _password(value: str | None) -> str:
    return value if value is not None else typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add(user: str, password: str = typer.Option(None, help="prompted for when not given (keeps it out of the "
                                                           "shell history)")):
    """Give USER (a user of the coordination config) a console account with a password."""
    _set(user, _password(password))
    typer.echo(f"console account for {user} ready; sign in at /console/sign-in")


@users_app.command("passwd")
def passwd(user: str, password: str = typer.Option(None, help="prompted for when not given")):
    """Change USER's console password; this also unlocks a locked account."""
    _set(user, _password(password))
    typer.echo(f"password of {user} changed")


@users_app.command("totp")
def totp(user: str):
    """Require a one-time code (TOTP) from USER at sign-in; prints the otpauth:// URI to enrol an app."""
    from concord.console.auth import enable_totp

    app = hub()
    try:
        typer.echo(enable_totp(app, user))
    except ConcordError as e:
        fail(e)
    finally:
        app.close()


def _set(user: str, password: str) -> None:
    from concord.console.auth import set_password

    app = hub()
    try:
        set_password(app, user, password)
    except ConcordError as e:
        fail(e)
    finally:
        app.close()
