"""Recording the goods' exit from the customs area (the terminal's gate-out), the TRS study's last milestone."""

from sqlalchemy import select

from concord.declarations.models import Declaration
from concord.errors import Conflict, Forbidden, NotFound
from concord.messaging.models import EventRecord
from concord.trs.messages import GoodsExited, RecordExit


def record_exit(cmd: RecordExit, uow) -> dict:
    """Customs (at the terminal's gate) records that released goods left; a second record is a replay."""
    subject = uow.subject
    if subject is None or not (subject.lead and subject.has("officer", "supervisor")):
        raise Forbidden("the goods' exit is recorded by customs officers at the gate")
    with uow:
        s = uow.session
        d = s.get(Declaration, cmd.declaration_id, with_for_update=True)
        if d is None:
            raise NotFound(f"declaration {cmd.declaration_id} not found")
        done = s.scalar(select(EventRecord.occurred_at).where(EventRecord.declaration_id == d.id,
                                                              EventRecord.name == GoodsExited.name).limit(1))
        if done is not None:
            return {"id": d.id, "exited_at": done.isoformat(), "replayed": True}
        if d.status != "released":
            raise Conflict(f"declaration {d.id} is {d.status}; goods leave once released")
        event = uow.record(GoodsExited(declaration_id=d.id, gate=cmd.gate or d.office_of_entry))
        uow.audit("declaration:exit:recorded", f"declaration/{d.id}")
        uow.commit()
        return {"id": d.id, "exited_at": event.occurred_at.isoformat(), "replayed": False}
