"""`concord tasks assign` and `concord tasks workload`: a supervisor's reassignment from the hub's shell, through
the API's own AssignTask command and access rule; every refusal is one line naming what to fix, exit 2."""

import json

import pytest
from typer.testing import CliRunner

from concord.agencies.messages import LoadConfig
from concord.cli import app as cli
from concord.config import get_settings
from support import declaration, demo_config_text, item
from test_console import BANANAS, _tasks, submit


@pytest.fixture
def hub(sqlite_concord, monkeypatch):
    """The demo hub, which the CLI opens through the environment as on the hub's own shell."""
    monkeypatch.setenv("CONCORD_DATABASE_URL", sqlite_concord.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(sqlite_concord.settings.var_dir))
    get_settings.cache_clear()
    yield sqlite_concord
    get_settings.cache_clear()


def _run(*args):
    return CliRunner().invoke(cli, ["tasks", *args])


def _refused(result, *words):
    text = " ".join(result.stderr.split())
    assert result.exit_code == 2 and text.startswith("error:") and "Traceback" not in text, (result.exit_code, text)
    assert all(w in text for w in words), text


def test_a_supervisor_assigns_a_task_and_every_refusal_says_why(hub):
    green = submit(hub, declaration(lrn="CLI-GREEN", items=[item("847130", "Laptops", "CN")]))
    decided = next(t for t in _tasks(hub, green) if t.agency == "CUS")
    hub.bus.handle(LoadConfig(text=demo_config_text(random_rate=1.0), source="every declaration controlled"))
    drawn = submit(hub, declaration(lrn="CLI-DRAWN", items=[BANANAS]))
    tasks = {t.agency: t for t in _tasks(hub, drawn)}
    cus = tasks["CUS"].id
    assert tasks["CUS"].open and not decided.open

    done = _run("assign", cus, "cus-officer", "--as", "cus-supervisor")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"task_id": cus, "assignee": "cus-officer", "previous": None,
                                       "replayed": False}
    load = json.loads(_run("workload", "--as", "cus-supervisor").stdout)
    assert [(w["officer"], w["open"]) for w in load["workload"]] == [("cus-officer", 1)]
    assert {o["id"] for o in load["officers"]} == {"cus-officer", "cus-analyst", "cus-supervisor"}
    moved = json.loads(_run("assign", cus, "cus-analyst", "--as", "cus-supervisor").stdout)
    assert (moved["assignee"], moved["previous"]) == ("cus-analyst", "cus-officer")

    _refused(_run("assign", cus, "cus-officer", "--as", "cus-officer"),
             "only a supervisor of the agency can assign its tasks")
    _refused(_run("assign", cus, "nppo-officer", "--as", "cus-supervisor"),
             "no such officer in your agency", "/officer:", "officer or supervisor of CUS")
    _refused(_run("assign", cus, "x" * 65, "--as", "cus-supervisor"), "/officer:", "64")
    _refused(_run("assign", decided.id, "cus-officer", "--as", "cus-supervisor"),
             f"task {decided.id} is already {decided.status}; only an open task can be reassigned")
    _refused(_run("assign", tasks["NPPO"].id, "cus-officer", "--as", "cus-supervisor"),  # not in its queue
             f"task {tasks['NPPO'].id} not found in your agency's queue")
    _refused(_run("assign", cus, "cus-officer", "--as", "nobody"), "no active user 'nobody'")
    _refused(_run("workload", "--as", "cus-officer"), "supervisor")
    with hub.sessions() as s:  # what was refused changed nothing
        from concord.clearance.models import AgencyTask

        assert s.get(AgencyTask, cus).assignee == "cus-analyst"
