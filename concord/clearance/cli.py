"""`concord tasks ...`: a supervisor's work on the agency's queue, through the same commands and access rule as
`POST /api/v1/tasks/{id}/assignment` and `GET /api/v1/tasks/workload`.

The CLI runs on the hub itself; `--as USER` names the supervisor it acts for, whose roles and agency apply."""

from __future__ import annotations

import typer

from concord.cliutil import AS, act_as, print_json

tasks_app = typer.Typer(help="An agency's tasks: assign one to an officer, see the workload per officer.",
                        no_args_is_help=True)


@tasks_app.command("assign")
def assign(task_id: str = typer.Argument(..., help="the task's id (TSK...), as the queue shows it"),
           officer: str = typer.Argument(..., help="the user id of an officer or supervisor of the task's agency"),
           user: str = AS):
    """Give an open task of your agency to one of its officers (a supervisor's act; audited). Refused, in one line
    and exit 2, as the API refuses it: a task not in your agency's queue, not a supervisor, an officer not of your
    agency (at /officer), a task already decided."""
    from pydantic import ValidationError

    from concord.clearance.messages import AssignTask
    from concord.clearance.schemas import AssignmentIn
    from concord.errors import InvalidDocument, problems_from

    def run(app, who):
        try:  # the API's own body check: the same bounds, the same pointer
            body = AssignmentIn(officer=officer)
        except ValidationError as e:
            raise InvalidDocument("the officer is not a user id", problems_from(e)) from None
        return app.bus.handle(AssignTask(task_id=task_id[:32], officer=body.officer), subject=who)

    print_json(act_as(user, run))


@tasks_app.command("workload")
def workload(user: str = AS):
    """Open and overdue tasks per officer of your agency, and the officers a task may be given to (supervisors)."""
    from concord.clearance.queries import agency_officers, workload as per_officer

    def run(app, who):
        with app.sessions() as s:
            return {"workload": per_officer(s, who, app.clock.now(), access=app.access),
                    "officers": agency_officers(s, who, access=app.access)}

    print_json(act_as(user, run))
