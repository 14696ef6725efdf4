"""`concord incidents|operations|notices ...`: the same handlers, queries and access rule as the API.

The CLI runs on the hub itself; `--as USER` names the user it acts for, whose agency and roles apply."""

from __future__ import annotations

from pathlib import Path

import typer

from concord.cliutil import AS, act_as, print_json

incidents_app = typer.Typer(help="Incidents and seizures: report, read, triage, close, attach.", no_args_is_help=True)
operations_app = typer.Typer(help="Response teams and joint operations: members, tasks, thread.", no_args_is_help=True)
notices_app = typer.Typer(help="Risk information notices and their feedback.", no_args_is_help=True)
PURPOSE = typer.Option(None, "--purpose", help="why another agency's record is read (an agreement's purpose)")
FILE = typer.Argument(..., exists=True, dir_okay=False, help="a YAML or JSON document (the API's request body)")


def _doc(file: Path) -> dict:
    from concord.cliutil import load_yaml

    return load_yaml(file)


def _read(user: str, read):
    """Run a query as USER, writing its cross-agency reads to the audit log as the API does."""
    from concord.access.handlers import log_reads

    def run(app, who):
        reads: list = []
        with app.sessions() as s:
            out = read(app, s, who, reads)
        log_reads(app.uow(who), reads, None)
        return out

    return act_as(user, run)


@incidents_app.command("report")
def report(file: Path = FILE, user: str = AS):
    """Report an incident for your agency (the fields of POST /api/v1/incidents)."""
    from concord.incidents.messages import RecordIncident

    document = _doc(file)
    print_json(act_as(user, lambda app, who: app.bus.handle(RecordIncident(document=document), subject=who)))


@incidents_app.command("list")
def list_incidents(user: str = AS, purpose: str = PURPOSE, limit: int = typer.Option(50, min=1, max=500)):
    """The incidents you may see: your agency's, and those agreements share for the purpose."""
    from concord.incidents.queries import list_incidents as q

    print_json(_read(user, lambda app, s, who, reads: q(s, who, purpose=purpose, limit=limit, reads=reads,
                                                        access=app.access)))


@incidents_app.command("show")
def show(incident_id: str, user: str = AS, purpose: str = PURPOSE):
    """One incident, cut to what you may see of it."""
    from concord.incidents.queries import get_incident

    print_json(_read(user, lambda app, s, who, reads: get_incident(s, who, incident_id, purpose, reads,
                                                                   access=app.access)))


@incidents_app.command("status")
def status(incident_id: str, new_status: str = typer.Argument(..., help="triaged, responding or closed"),
           user: str = AS, note: str = typer.Option("", help="a line for the timeline"),
           review: Path = typer.Option(None, exists=True, dir_okay=False,
                                       help="the post-incident review (YAML/JSON: summary, what_worked, to_improve)")):
    """Move an incident on: reported -> triaged -> responding -> closed (closing needs --review)."""
    from concord.incidents.messages import ChangeIncidentStatus

    doc = _doc(review) if review else None
    print_json(act_as(user, lambda app, who: app.bus.handle(ChangeIncidentStatus(
        incident_id=incident_id, status=new_status, note=note, review=doc), subject=who)))


@incidents_app.command("attach")
def attach(incident_id: str, file: Path = typer.Argument(..., exists=True, dir_okay=False), user: str = AS):
    """Attach a photo (JPEG, PNG) or report (PDF) to your agency's incident."""
    import mimetypes

    from concord.incidents.messages import AddAttachment

    data = file.read_bytes()
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    print_json(act_as(user, lambda app, who: app.bus.handle(AddAttachment(
        incident_id=incident_id, name=file.name, media_type=media_type, data=data), subject=who)))


@operations_app.command("open")
def open_operation(file: Path = FILE, user: str = AS):
    """Open an operation (the fields of POST /api/v1/operations)."""
    from concord.incidents.messages import OpenOperation

    document = _doc(file)
    print_json(act_as(user, lambda app, who: app.bus.handle(OpenOperation(document=document), subject=who)))


@operations_app.command("list")
def list_operations(user: str = AS):
    """The operations with a member of your agency."""
    from concord.incidents.queries import list_operations as q

    print_json(_read(user, lambda app, s, who, reads: q(s, who, access=app.access)))


@operations_app.command("show")
def show_operation(operation_id: str, user: str = AS):
    """An operation's members, tasks and thread."""
    from concord.incidents.queries import get_operation

    print_json(_read(user, lambda app, s, who, reads: get_operation(s, who, operation_id, access=app.access)))


@operations_app.command("task")
def task(operation_id: str, title: str, owner: str = typer.Option(..., help="a member's user id"),
         due: str = typer.Option(..., help="ISO 8601 with offset"), user: str = AS):
    """Give a member a task with a due time."""
    from concord.incidents.messages import AssignOperationTask

    print_json(act_as(user, lambda app, who: app.bus.handle(AssignOperationTask(
        operation_id=operation_id, title=title, owner=owner, due_at=due), subject=who)))


@operations_app.command("done")
def done(operation_id: str, task_id: str, user: str = AS,
         report: Path = typer.Option(None, exists=True, dir_okay=False, help="the template's fields (YAML/JSON)")):
    """Report a task done."""
    from concord.incidents.messages import CompleteOperationTask

    doc = _doc(report) if report else {}
    print_json(act_as(user, lambda app, who: app.bus.handle(CompleteOperationTask(
        operation_id=operation_id, task_id=task_id, report=doc), subject=who)))


@operations_app.command("say")
def say(operation_id: str, text: str, user: str = AS):
    """Write to the operation's thread."""
    from concord.incidents.messages import PostOperationMessage

    print_json(act_as(user, lambda app, who: app.bus.handle(PostOperationMessage(
        operation_id=operation_id, text=text), subject=who)))


@operations_app.command("escalate")
def escalate():
    """Escalate overdue tasks now (the server does it every minute)."""
    from concord.incidents.messages import EscalateOverdueTasks

    print_json({"escalated": act_as(None, lambda app, who: app.bus.handle(EscalateOverdueTasks()))})


@notices_app.command("issue")
def issue(file: Path = FILE, user: str = AS):
    """Issue a notice (the fields of POST /api/v1/notices) to the agencies your agreements entitle."""
    from concord.incidents.messages import IssueNotice

    document = _doc(file)
    print_json(act_as(user, lambda app, who: app.bus.handle(IssueNotice(document=document), subject=who)))


@notices_app.command("list")
def list_notices(user: str = AS):
    """Notices your agency issued or received."""
    from concord.incidents.queries import list_notices as q

    print_json(_read(user, lambda app, s, who, reads: q(s, who, reads=reads, access=app.access)))


@notices_app.command("show")
def show_notice(notice_id: str, user: str = AS):
    """A notice (its issuer: with every feedback and the hit rate)."""
    from concord.incidents.queries import get_notice

    print_json(_read(user, lambda app, s, who, reads: get_notice(s, who, notice_id, reads, access=app.access)))


@notices_app.command("feedback")
def feedback(notice_id: str, action: str = typer.Option(..., help="none, screened, inspected, held, seized, referred"),
             result: str = typer.Option(..., help="no_hit, hit or seizure"), note: str = "", user: str = AS):
    """Say what your agency did with a notice and what came of it."""
    from concord.incidents.messages import GiveNoticeFeedback

    print_json(act_as(user, lambda app, who: app.bus.handle(GiveNoticeFeedback(
        notice_id=notice_id, action_taken=action, result=result, note=note), subject=who)))
