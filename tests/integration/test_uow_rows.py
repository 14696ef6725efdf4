"""uow.fetch: rows read through the driver read and write the same stored forms as the ORM, on both databases."""

from datetime import datetime, timezone

from sqlalchemy import select

from concord.clearance.handlers import TASK_COLUMNS
from concord.clearance.models import AgencyTask
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict
from concord.messaging.models import EventRecord
from support import declaration, item, subjects


def tasks(app):
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])
    did = app.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")),
                         subject=subjects(app)["hollandfoods"])["id"]
    with app.sessions() as s:
        return {t.agency: t for t in s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did))}


def test_a_fetched_row_reads_and_writes_what_the_orm_reads_and_writes(concord):
    nppo = tasks(concord)["NPPO"]
    at = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=timezone.utc)
    with concord.uow() as uow:
        (row,) = uow.fetch(AgencyTask, TASK_COLUMNS, for_update=True, id=nppo.id)
        # the same values as the mapped object: aware datetimes, JSON as Python
        assert (row.id, row.agency, row.status, row.declaration_version, row.last_decision) == \
               (nppo.id, "NPPO", "open", nppo.declaration_version, nppo.last_decision)
        assert row.decided_at is None and not hasattr(row, "reasons")  # only the columns asked for
        assert row.decide("approve", "certificate checked", at) == "approved"  # the model's own rule
        row.last_decision = {"decision": "approve", "at": at.isoformat(), "nested": {"list": [1, "two"]}}
        uow.commit()
    with concord.sessions() as s:
        t = s.get(AgencyTask, nppo.id)
        assert (t.status, t.decided_at, t.last_decision) == (
            "approved", at, {"decision": "approve", "at": at.isoformat(), "nested": {"list": [1, "two"]}})
        assert t.reasons == nppo.reasons  # a column not fetched is left alone
        # and the datetime is stored as the ORM stores it: a range query over the column still finds it
        assert s.scalar(select(AgencyTask.id).where(AgencyTask.decided_at == at)) == nppo.id
    with concord.uow() as uow:
        (row,) = uow.fetch(AgencyTask, TASK_COLUMNS, id=nppo.id)
        try:
            row.decide("refuse", "too late", at)
        except Conflict:
            pass
        else:
            raise AssertionError("a decided task took a second decision")


def test_an_unchanged_or_rolled_back_row_writes_nothing(concord):
    nppo = tasks(concord)["NPPO"]
    with concord.uow() as uow:
        (row,) = uow.fetch(AgencyTask, TASK_COLUMNS, id=nppo.id)
        row.status = "approved"
        uow.rollback()
        uow.commit()
    with concord.uow() as uow:
        assert uow.fetch(AgencyTask, TASK_COLUMNS, id="TSK-none") == []
    with concord.sessions() as s:
        assert s.get(AgencyTask, nppo.id).status == "open"


def test_a_staged_row_alone_is_stored_as_it_is_among_others(concord):
    """PostgreSQL writes a group's rows as one unnest of arrays, and a row alone as VALUES (driver._one_row): both forms
    store the same values (None, JSON, aware times, non-ASCII text), read back by the ORM alike."""
    at = datetime(2026, 12, 5, 13, 45, 1, 654321, tzinfo=timezone.utc)

    def event(n: int) -> dict:
        return {"id": f"ev_forms{n}", "name": "DeclarationLodged", "declaration_id": None if n == 2 else f"dcl_{n}",
                "agency": "NPPO", "occurred_at": at, "published_at": None,
                "payload": {"n": n, "note": "Ærø – 検疫", "nested": [1, {"two": None}]}}

    for group in ([event(1)], [event(2), event(3)]):
        with concord.uow() as uow:
            for row in group:
                uow.stage(EventRecord, row)
            uow.commit()
    with concord.sessions() as s:
        stored = {e.id: e for e in s.scalars(select(EventRecord).where(EventRecord.id.like("ev_forms%")))}
        assert s.scalar(select(EventRecord.id).where(EventRecord.occurred_at == at, EventRecord.id == "ev_forms1"))
    for n in (1, 2, 3):
        e, want = stored[f"ev_forms{n}"], event(n)
        assert (e.name, e.declaration_id, e.agency, e.occurred_at, e.published_at, e.payload) == \
               (want["name"], want["declaration_id"], want["agency"], at, None, want["payload"])


def test_one_of_finds_the_same_rows_however_many_values_and_is_one_statement_text(concord):
    """driver.one_of / one_of_sql: `IN` on SQLite, `= ANY(array)` on PostgreSQL, whose text does not grow with the
    list (psycopg parses a text of more than 50 parameters anew on each run, the server plans it anew)."""
    from concord.driver import one_of, one_of_sql

    for _ in range(3):
        tasks(concord)
    with concord.sessions() as s:
        dialect = s.get_bind().dialect
        events = s.execute(select(EventRecord.seq, EventRecord.id).order_by(EventRecord.seq)).all()
        seqs = [e.seq for e in events]
        wanted = seqs[1::2] + [10**9 + i for i in range(60)]  # more than 50 values, some of no row
        found = s.scalars(select(EventRecord.id).where(one_of(EventRecord.seq, wanted, dialect))
                          .order_by(EventRecord.seq)).all()
        assert found == [e.id for e in events[1::2]]
        column = EventRecord.__table__.c.seq
        sql, params = one_of_sql(column, wanted, dialect)
        got = s.connection().exec_driver_sql(f"SELECT id FROM events WHERE {sql} ORDER BY seq", params).scalars().all()
        assert got == found
        if dialect.name == "postgresql":
            assert one_of_sql(column, wanted[:3], dialect)[0] == sql and len(params) == 1
