"""`concord audit`: verify the log, witness a kept checkpoint, issue checkpoints, print proofs."""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from concord.cliutil import fail, read_text

app = typer.Typer(help="Tamper-evident audit log: verify, witness, checkpoints and proofs.", no_args_is_help=True)
prove_app = typer.Typer(help="Inclusion and consistency proofs from the stored tree.", no_args_is_help=True)
app.add_typer(prove_app, name="prove")
console = Console()

JSON = typer.Option(False, "--json", help="Print JSON.")
KEY = typer.Option(None, "--key", help="The hub's verifier key (name+keyid+base64); default: from its key file.")
SIZE_MAX = (1 << 63) - 1  # a log size the database's integers hold: a larger one cannot even be looked up


def _hub():
    from concord.cliutil import require_database
    from concord.config import get_settings
    from concord.db import make_engine, make_session_factory

    settings = get_settings()
    require_database(settings)  # a read: never create an empty database and verify that
    engine = make_engine(settings.resolved_database_url())
    return settings, engine, make_session_factory(engine)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _vkey(settings, key: str | None) -> str:
    from concord.audit.checkpoints import hub_vkey

    return _checked_key(key) if key else hub_vkey(settings)


def _checked_key(key: str) -> str:
    """--key, once it parses: a mistyped key is the user's to fix (exit 2), never a log that fails to verify."""
    from concord.audit.note import CheckpointError, parse_verifier_key

    try:
        parse_verifier_key(key)
    except CheckpointError as exc:
        fail(f"--key: {exc.message}; pass the hub's key as `concord audit key` prints it")
    return key


def _kept_text(path: Path) -> str:
    """A checkpoint kept in a file. An empty file is refused, never read as "nothing kept": the log would then be
    checked against its own latest checkpoint, and pass whatever was done to it."""
    text = read_text(path)
    if not text.strip():
        fail(f"{path} is empty: not a kept checkpoint (keep what `concord audit checkpoint` prints)")
    return text


@app.command()
def verify(json_output: bool = JSON, key: str | None = KEY,
           kept: Path | None = typer.Option(None, "--kept", exists=True, dir_okay=False,
                                            help="A checkpoint kept outside the database (default: the signer's)")):
    """Recompute the tree from every stored entry and check it against every checkpoint.

    Exit 0: every entry is covered by a signed checkpoint that matches; 1: a fault; 3: no fault, but entries after
    the last signed checkpoint (an unsigned tail: sign one with `concord audit checkpoint` or wait for the signer)."""
    from concord.audit.verify import verify_log

    from concord.audit.note import verify_checkpoint
    from concord.audit.signer import kept_checkpoint

    settings, engine, _ = _hub()
    vkey = _vkey(settings, key)
    held = verify_checkpoint(_kept_text(kept), vkey) if kept else kept_checkpoint(settings, vkey)
    with engine.connect() as conn:
        report = verify_log(conn, vkey, kept=held)
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.ok:
        console.print(f"[green]ok[/green]: {report.entries} entries, {report.checkpoints} checkpoints match "
                      f"(signed up to {report.verified_size}), {report.seconds} s")
    elif report.status == "unsigned-tail":
        console.print(f"[yellow]UNSIGNED TAIL[/yellow]: entries {report.verified_size}..{report.entries - 1} "
                      f"({report.unsigned_tail}) are after the last signed checkpoint; entries before them verify. "
                      "Sign a checkpoint (`concord audit checkpoint`, or wait for the signer) and verify again.")
    else:
        where = "" if report.exact else " (a checkpoint failed: the first bad entry is at or after this one)"
        console.print(f"[red]FAILED[/red]: first bad entry {report.first_bad_seq}{where}")
        table = Table("seq", "problem")
        for f in report.findings:
            table.add_row(str(f.seq), f.problem)
        console.print(table)
    raise typer.Exit(0 if report.ok else 3 if report.status == "unsigned-tail" else 1)


@app.command()
def witness(kept: Path = typer.Argument(..., exists=True,
                                        help="A witness copy (directory) or a checkpoint kept earlier."),
            key: str | None = KEY, url: str | None = typer.Option(None, help="Check a hub over HTTP: .../api/v1/audit"),
            token: str | None = typer.Option(None, help="Bearer token for --url."), json_output: bool = JSON,
            submit: bool = typer.Option(False, "--submit", help="Send the cosignature to the hub (with a copy).")):
    """Check that today's log still holds what was kept, entry by entry; exit 1 if anything was changed.

    With a witness copy (`concord audit witness-init`) the leaf hashes of every entry are kept and compared, the
    copy moves on to the hub's latest checkpoint, and the witness cosigns it (C2SP tlog-cosignature)."""
    from concord.audit.witness_copy import WitnessCopy

    if url and not url.lower().startswith(("http://", "https://")):
        fail(f"--url must be an http:// or https:// URL (the hub's .../api/v1/audit), not {url!r}")
    if key:
        _checked_key(key)
    copy = WitnessCopy(kept) if kept.is_dir() else None
    if copy is not None and key and key.strip() != copy.vkey:
        raise typer.BadParameter("--key differs from the key this copy pinned; a witness never changes it")
    if url and not (key or copy):
        raise typer.BadParameter("--url needs --key: the verifier key you kept, not one the hub hands you")
    kept_note, kept_leaves = copy.kept() if copy else (_kept_text(kept), None)
    report, leaves = _witness_check(url, token, kept_note, kept_leaves, copy.vkey if copy else key)
    line = None
    if copy is not None and report.status in ("ok", "unsigned-tail"):
        from concord.clock import Clock

        line = copy.keep(report, leaves, int(Clock().now().timestamp()))
        if submit:
            _submit(url, token, report.current_size, line)
    if json_output:
        typer.echo(json.dumps(report.as_dict() | ({"cosignature": line} if line else {}), indent=2))
    else:
        colour, word = {"ok": ("green", "ok"), "unsigned-tail": ("yellow", "UNSIGNED TAIL")}.get(
            report.status, ("red", "FAILED"))
        console.print(f"[{colour}]{word}[/{colour}]: kept {report.kept_size}, "
                      f"current {report.current_size}: {report.reason}")
    raise typer.Exit(0 if report.ok else 3 if report.status == "unsigned-tail" else 1)


def _witness_check(url, token, kept_note, kept_leaves, key):
    from concord.audit.witness import WitnessReport, check_leaves, local_view, remote_view

    if url:
        import httpx

        with _reaching(url), httpx.Client(base_url=url.rstrip("/") + "/", timeout=60) as http:
            note, leaves = remote_view(http, key, {"Authorization": f"Bearer {token}"} if token else {})
        problems, head = [], None
    else:
        settings, _, sessions = _hub()
        key = _vkey(settings, key)
        with sessions() as session:
            note, leaves, problems, head = local_view(session)
        if note is None:
            return WitnessReport(False, reason="this log has no checkpoint yet"), b""
    # Only a witness copy's first check (None: nothing kept yet) takes the hub's latest checkpoint on trust.
    kept_note = note if kept_note is None else kept_note
    return check_leaves(kept_note, kept_leaves, leaves, note, key, problems, head), leaves


@contextmanager
def _reaching(url: str):
    """A hub that cannot be reached, or that does not answer as the audit API: one line and exit 2, and no
    verdict on its log (nothing was checked)."""
    import httpx

    try:
        yield
    except httpx.HTTPStatusError as exc:
        fail(f"{url} answered {exc.response.status_code} {exc.response.reason_phrase}: check --url "
             "(the hub's .../api/v1/audit) and --token")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # refused, timed out, no such host, a malformed URL
        why = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) or type(exc).__name__
        fail(f"cannot reach {url}: {why[:1].lower()}{why[1:]}")
    except (ValueError, KeyError, TypeError):  # JSON that is not the API's, or none
        fail(f"{url} did not answer as a Concord audit API: check --url (the hub's .../api/v1/audit)")


def _submit(url, token, size, line) -> None:
    """Send a cosignature to the hub (over HTTP, or straight into the local database)."""
    if url:
        import httpx

        with _reaching(url):
            r = httpx.post(url.rstrip("/") + "/cosignatures", json={"size": size, "cosignature": line},
                           headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
        if r.status_code != 201:
            raise typer.BadParameter(f"the hub refused the cosignature: {r.text}")
        return
    from sqlalchemy import update

    from concord.audit.cosign import add_signature
    from concord.audit.models import AuditCheckpoint

    _, _, sessions = _hub()
    with sessions() as session:
        row = session.get(AuditCheckpoint, size)
        session.execute(update(AuditCheckpoint).where(AuditCheckpoint.size == size).values(
            note=add_signature(row.note, line)))
        session.commit()


@app.command("witness-init")
def witness_init(path: Path = typer.Argument(..., help="Directory for the new witness copy."),
                 name: str = typer.Option(..., help="The witness's name, e.g. witness.pol.example/concord"),
                 key: str = typer.Option(..., "--key", help="The hub's verifier key, pinned in the copy.")):
    """Start a witness copy: pin the hub's key, create the witness's cosigner key; print the cosigner's vkey."""
    from concord.audit.witness_copy import WitnessCopy
    from concord.errors import ConcordError

    if not name:
        fail("--name must not be empty: the witness's name, e.g. witness.pol.example/concord")
    if "+" in name or any(c.isspace() for c in name):  # a signed-note key name: its vkey and lines split on them
        fail(f"--name {name!r} must hold no spaces and no '+', e.g. witness.pol.example/concord")
    _checked_key(key)
    if path.exists() and not path.is_dir():
        fail(f"{path} exists: choose a new directory for the witness's copy")
    try:
        copy = WitnessCopy.create(path, key, name)
    except OSError as exc:
        fail(f"cannot create {path}: {exc.strerror or exc}")
    except ConcordError as exc:  # a directory that already holds a copy
        fail(exc)
    typer.echo(copy.cosigner.vkey)


@app.command()
def checkpoint(json_output: bool = JSON):
    """Sign a checkpoint for the current log size now, and print the latest checkpoint."""
    from concord.audit.checkpoints import latest_checkpoint
    from concord.audit.signer import checkpointer_for
    from concord.clock import Clock

    settings, _, sessions = _hub()
    from concord.audit.signer import SignerRefused

    checkpointer = checkpointer_for(settings, sessions, Clock())
    try:
        checkpointer.issue()
    except SignerRefused as exc:
        console.print(f"[red]REFUSED[/red]: {exc.message}")
        raise typer.Exit(1) from None
    with sessions() as session:
        row = latest_checkpoint(session)
    if row is None:
        raise typer.BadParameter("the log is empty: nothing to sign yet")
    if json_output:
        typer.echo(json.dumps({"size": row.size, "root": _b64(row.root), "note": row.note,
                               "vkey": checkpointer.signer.vkey}))
    else:
        typer.echo(row.note, nl=False)


@app.command()
def sign(every: float = typer.Option(1.0, help="Seconds between checkpoints while entries arrive (0.1 to 86400)."),
         once: bool = typer.Option(False, "--once", help="Sign one checkpoint if the log grew, then exit.")):
    """The separate signer: sign checkpoints as the one user who may read the key (CONCORD_AUDIT_SIGNER=external
    for the web process). It remembers its last checkpoint outside the database and refuses to sign a log that
    no longer extends it."""
    import time

    from concord.audit.signer import checkpointer_for
    from concord.clock import Clock

    if not 0.1 <= every <= 86400:  # NaN fails this too; 0 would spin a core, and sleep refuses a negative one
        fail(f"--every {every}: the seconds between checkpoints, from 0.1 to 86400 (a day)")
    settings, _, sessions = _hub()
    checkpointer = checkpointer_for(settings.model_copy(update={"audit_signer": "external"}), sessions, Clock())
    typer.echo(f"signing as {checkpointer.signer.vkey}", err=True)
    from concord.audit.signer import SignerRefused

    while True:
        try:
            cp = checkpointer.issue()
        except SignerRefused as exc:  # nothing more is signed until someone has looked at the log
            console.print(f"[red]REFUSED[/red]: {exc.message}")
            raise typer.Exit(1) from None
        if cp is not None:
            typer.echo(f"signed {cp.size}", err=True)
        if once:
            return
        time.sleep(every)


@app.command()
def key():
    """Print the hub's verifier key, for other agencies to keep."""
    settings, _, _ = _hub()
    typer.echo(_vkey(settings, None))


@prove_app.command("inclusion")
def prove_inclusion(seq: int, size: int | None = typer.Option(None, max=SIZE_MAX,
                                                              help="Tree size; default: latest checkpoint."),
                    json_output: bool = JSON):
    """Inclusion proof of entry SEQ in the tree of SIZE entries (checked here before printing)."""
    from concord.audit.proofs import inclusion

    _, _, sessions = _hub()
    with sessions() as session:
        result = inclusion(session, seq, size)
    _print_proof(result, json_output)


@prove_app.command("consistency")
def prove_consistency(old: int = typer.Argument(..., max=SIZE_MAX), new: int = typer.Argument(..., max=SIZE_MAX),
                      json_output: bool = JSON):
    """Consistency proof that the tree of NEW entries extends the tree of OLD entries (checked here)."""
    from concord.audit.proofs import consistency

    if not 0 < old <= new:  # said here once: the proof's own error would repeat the sizes after its own prefix
        fail(f"no consistency proof from size {old} to {new}: need 0 < OLD <= NEW")
    _, _, sessions = _hub()
    with sessions() as session:
        result = consistency(session, old, new)
    _print_proof(result, json_output)


def _print_proof(result: dict, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(show_header=False)
    for k, v in result.items():
        table.add_row(k, "\n".join(v) if isinstance(v, list) else str(v))
    console.print(table)
