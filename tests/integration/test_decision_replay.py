"""A decision_id is idempotent per task: a replay answers for the same task only, never for another agency's."""

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask, TaskDecision
from concord.db import make_engine
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict, NotFound
from concord.migrations import upgrade
from support import declaration, item, subjects


def tasks(app):
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"]),
                             item("030617", "Frozen shrimps", "VN")])
    did = app.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")),
                         subject=subjects(app)["hollandfoods"])["id"]
    with app.sessions() as s:
        return {t.agency: t for t in s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did))}


def decide(app, user, task_id, decision_id, decision="approve", reason="certificate checked"):
    return app.bus.handle(DecideTask(task_id=task_id, decision=decision, reason=reason, decision_id=decision_id),
                          subject=subjects(app)[user])


def test_another_agency_reusing_a_decision_id_is_recorded_on_its_own_task(concord):
    t = tasks(concord)
    first = decide(concord, "nppo-officer", t["NPPO"].id, "click-1")
    assert first["task_id"] == t["NPPO"].id and not first["replayed"]
    vet = decide(concord, "vet-officer", t["VET"].id, "click-1", "refuse", "residues found")
    assert vet == {"task_id": t["VET"].id, "decision_id": "click-1", "status": "refused",
                   "declaration_status": "refused", "replayed": False}
    with concord.sessions() as s:
        kinds = {s.get(AgencyTask, d.task_id).agency: d.kind for d in s.scalars(select(TaskDecision))}
    assert kinds == {"NPPO": "approve", "VET": "refuse"}


def test_a_replay_on_a_task_not_ones_own_reveals_nothing(concord):
    t = tasks(concord)
    decide(concord, "nppo-officer", t["NPPO"].id, "click-1")
    for task_id in ("TSKmadeup", t["NPPO"].id):
        with pytest.raises(NotFound) as e:
            decide(concord, "pol-officer", task_id, "click-1")
        assert t["NPPO"].id not in e.value.message or task_id == t["NPPO"].id
        assert e.value.message == f"task {task_id} not found in your agency's queue"


def test_the_same_id_again_is_a_replay_and_with_another_decision_a_conflict(concord):
    t = tasks(concord)
    decide(concord, "nppo-officer", t["NPPO"].id, "click-1", "hold", "awaiting lab")
    again = decide(concord, "nppo-officer", t["NPPO"].id, "click-1", "hold", "awaiting lab")
    assert again["replayed"] and again["status"] == "held" and again["task_id"] == t["NPPO"].id
    with pytest.raises(Conflict, match="new decision_id"):
        decide(concord, "nppo-officer", t["NPPO"].id, "click-1", "approve", "lab clean")
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TaskDecision)) == 1


def test_the_migration_keeps_old_decision_ids_as_client_ids(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    upgrade(engine, "0005")
    raw = sa.create_engine(url)  # without the foreign-key pragma: one decision row is all this test needs
    with raw.begin() as c:
        c.execute(sa.text("INSERT INTO task_decisions (id, task_id, kind, reason, conditions, documents, officer, "
                          "decided_at) VALUES ('click-1', 'TSK1', 'approve', 'ok', '[]', '[]', 'o', '2026-01-01')"))
    raw.dispose()
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT id, task_id, client_id FROM task_decisions")).all() == [
            ("click-1", "TSK1", "click-1")]
    engine.dispose()


def test_concurrent_retries_record_one_decision(concord):
    from concurrent.futures import ThreadPoolExecutor

    t = tasks(concord)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: decide(concord, "nppo-officer", t["NPPO"].id, "click-9"), range(4)))
    assert sorted(a["replayed"] for a in answers) == [False, True, True, True]
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TaskDecision)) == 1
