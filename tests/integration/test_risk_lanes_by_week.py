"""Weekly lanes and hit rates (`risk.queries.lanes_by_week`, `GET /api/v1/risk/lanes`) count alike on SQLite and
PostgreSQL (days are grouped in SQL), and only customs' officers and supervisors read them."""

import pytest

from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Forbidden, InvalidDocument
from concord.risk.messages import RecordOutcome
from concord.risk.queries import lanes_by_week
from support import declaration, item, subjects


def test_lanes_and_hit_rate_of_this_week(concord):
    who = subjects(concord)
    dids = [concord.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(
        lrn=f"LANES-{n}", items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])).model_dump(
        mode="json")), subject=who["hollandfoods"])["id"] for n in range(3)]
    concord.bus.handle(RecordOutcome(outcome={"declaration_id": dids[0], "result": "irregular"}),
                       subject=who["cus-officer"])
    concord.bus.handle(RecordOutcome(outcome={"declaration_id": dids[1], "result": "compliant"}),
                       subject=who["cus-officer"])
    now = concord.clock.now()
    with concord.sessions() as s:
        weeks = lanes_by_week(s, who["cus-supervisor"], now, 3)
        year, week, _ = now.isocalendar()
        assert [w["week"] for w in weeks][-1] == f"{year}-W{week:02d}" and len(weeks) == 3
        assert weeks[-1]["declarations"] == 3 == sum(weeks[-1]["lanes"].values())
        assert (weeks[-1]["inspected"], weeks[-1]["irregular"], weeks[-1]["hit_rate"]) == (2, 1, 0.5)
        assert all(w["declarations"] == 0 for w in weeks[:-1])
        # plant health records no outcome here: its own hit rate is its own
        for user in ("nppo-officer", "hollandfoods"):
            with pytest.raises(Forbidden):
                lanes_by_week(s, who[user], now)
        with pytest.raises(InvalidDocument):
            lanes_by_week(s, who["cus-supervisor"], now, 54)
