"""The periodic SLA check: each late task raised once, in bounded batches, found through its own index, and that
index never taken for another query's plan on SQLite (which plans without statistics)."""

from __future__ import annotations

from sqlalchemy import select, text

from concord.clearance import handlers
from concord.clearance.messages import CheckDeadlines, DecideTask
from concord.clearance.models import AgencyTask
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from support import declaration, item, subjects


def _lodge(app, n: int) -> None:
    who = subjects(app)["hollandfoods"]
    for i in range(n):
        doc = declaration(lrn=f"SLA-{i}", items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])
        app.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")), subject=who)


def test_late_tasks_are_raised_once_in_batches_and_a_decided_one_never(sqlite_concord, monkeypatch):
    app = sqlite_concord
    _lodge(app, 7)
    with app.sessions() as s:
        tasks = s.scalars(select(AgencyTask).where(AgencyTask.status == "open").order_by(AgencyTask.id)).all()
    decided = next(t for t in tasks if t.agency == "NPPO")
    app.bus.handle(DecideTask(task_id=decided.id, decision="approve", reason="seen"), subject=subjects(app)["nppo-officer"])
    app.clock.advance(hours=25)
    monkeypatch.setattr(handlers, "LATE_BATCH", 3)  # several rounds, the last one short
    assert app.bus.handle(CheckDeadlines()) == len(tasks) - 1 > 3
    assert app.bus.handle(CheckDeadlines()) == 0
    with app.sessions() as s:
        raised = dict(s.execute(select(AgencyTask.id, AgencyTask.overdue_raised)).all())
        overdue = s.scalar(text("SELECT count(*) FROM events WHERE name = 'task.overdue'"))
    assert overdue == len(tasks) - 1 and not raised[decided.id] and sum(raised.values()) == len(tasks) - 1


def test_sqlite_plans_the_check_on_its_index_and_a_declarations_open_tasks_on_the_declarations(sqlite_concord):
    app = sqlite_concord
    _lodge(app, 3)

    def plan(statement) -> str:
        sql = str(statement.compile(app.engine, compile_kwargs={"literal_binds": True}))
        with app.engine.connect() as conn:
            return " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

    now = app.clock.now()
    assert "USING INDEX ix_agency_tasks_due" in plan(handlers.late_tasks(now)), plan(handlers.late_tasks(now))
    # the demo's and the simulation's lookup: an index led by status was chosen here, and read every open task
    one = select(AgencyTask).where(AgencyTask.declaration_id == "DCL1", AgencyTask.status == "open")
    assert "ix_agency_tasks_declaration" in plan(one), plan(one)
