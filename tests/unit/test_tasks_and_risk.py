from datetime import datetime, timezone

import pytest

from concord.clearance.models import AgencyTask
from concord.errors import Conflict
from concord.risk.catalogue.profiles import ProfileAssessor
from concord.routing.criteria import Rates
from support import declaration, item

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_status_only_moves_forward():
    t = AgencyTask(id="T1", status="open")
    assert t.decide("hold", "wait", NOW) == "held"
    assert t.decide("approve", "ok", NOW) == "approved" and t.decided_at == NOW
    with pytest.raises(Conflict):
        t.decide("refuse", "late", NOW)


def test_profiles_pick_the_most_severe_lane_and_explain():
    risk = {"random_inspection_rate": 0.0, "profiles": [
        {"id": "P1", "reason": "textiles", "lane": "yellow", "when": {"hs_prefixes": ["61"]}},
        {"id": "P2", "reason": "firearms", "lane": "red", "when": {"hs_prefixes": ["93"]}}]}
    a = ProfileAssessor.from_config(risk, Rates("EUR", {}), "v1")
    out = a.assess(declaration(items=[item("610910", "T", "BD"), item("930200", "P", "US")]), declaration_id="D1")
    assert out.lane == "red" and [r["id"] for r in out.reasons] == ["P1", "P2"]
    assert a.assess(declaration(), declaration_id="D1").lane == "yellow"
    assert a.assess(declaration(items=[item("090111", "Coffee", "BR")]), declaration_id="D2").lane == "green"
