"""Rules that read history: an importer's earlier declarations of the same goods, strictly before this one."""

from datetime import datetime, timezone

import pytest

from concord.db import Base
from concord.declarations.schemas import parse_declaration
from concord.errors import InvalidDocument
from concord.risk.catalogue.history import DeclarationHistory
from concord.risk.catalogue.rules import compile_rule
from concord.risk.messages import CreateRule
from concord.risk.scoring.step import RiskStep
from support import declaration, item
from test_risk_engine import NeverDraws, as_, risk_of, submit

SPLIT = ("items.exists(i, i.history.importer_hs6_7d.count >= 2 && i.history.importer_hs6_7d.max_value < 1000.0 "
         "&& i.value_base < 1000.0)")


@pytest.fixture
def app(concord):
    Base.metadata.create_all(concord.engine)
    concord.bus.deps["risk"] = RiskStep(clock=concord.clock, rng=NeverDraws())
    return concord


def split_rule() -> dict:
    return {"id": "SPLIT-7D", "name": "Split consignment under the simplified threshold",
            "rationale": "third declaration of the same goods in 7 days, each under 1,000 EUR",
            "expression": SPLIT, "severity": "high", "lane": "red"}


def part(n: int, hs: str = "610910", amount: str = "900.00") -> dict:
    return declaration(lrn=f"PART-{hs}-{n}", items=[item(hs, "T-shirts", "CN", amount=amount)])


def test_the_third_part_of_a_split_consignment_goes_red_and_other_goods_do_not(app):
    as_(app, "cus-analyst", CreateRule(rule=split_rule()))
    lanes = []
    for n in range(3):
        lanes.append(risk_of(app, submit(app, part(n))["id"])["lane"])
        app.clock.advance(days=1)
    assert lanes[:2] == ["green", "green"] and lanes[2] == "red"
    assert risk_of(app, submit(app, part(9, hs="090111"))["id"])["lane"] == "green"  # other goods: no burst
    assert risk_of(app, submit(app, part(10, amount="4000.00"))["id"])["lane"] == "green"  # over the threshold
    app.clock.advance(days=8)  # the window has passed
    assert risk_of(app, submit(app, part(11))["id"])["lane"] == "green"


def test_a_restarted_step_reads_the_declarations_lodged_before_it_started(app):
    for n in range(2):
        submit(app, part(n))
        app.clock.advance(hours=5)
    app.bus.deps["risk"] = RiskStep(clock=app.clock, rng=NeverDraws())  # a restart: an empty store
    as_(app, "cus-analyst", CreateRule(rule=split_rule()))
    assert risk_of(app, submit(app, part(2))["id"])["lane"] == "red"


def test_only_declarations_strictly_before_count_and_never_the_declarations_own_versions():
    h = DeclarationHistory()
    doc = parse_declaration(part(0)).model_dump(mode="json")
    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    h.record(doc, [900.0], at, "D1/1")
    h.record(doc, [800.0], at, "D2/1")
    h.record(doc, [700.0], at.replace(day=2), "D3/1")
    top, items = h.aggregates(doc, at.replace(day=2), "D3/2")  # an amendment of D3, lodged on day 2
    assert items[0]["importer_hs6_7d"] == {"count": 2, "value": 1700.0, "max_value": 900.0}
    assert top["importer_30d"]["count"] == 2
    h.record(doc, [650.0], at.replace(day=2), "D1/2")  # D1 amended: its first version no longer counts
    _, items = h.aggregates(doc, at.replace(day=3))
    assert items[0]["importer_hs6_7d"] == {"count": 3, "value": 2150.0, "max_value": 800.0}
    assert h.aggregates(doc, at)[1][0]["importer_hs6_7d"]["count"] == 0  # the same instant is not before


def test_history_fields_are_checked_like_any_other():
    compile_rule(SPLIT)
    compile_rule("history.importer_30d.value > 100000.0 && history.importer_7d.count == 0")
    with pytest.raises(InvalidDocument) as e:
        compile_rule("items.exists(i, i.history.importer_hs6_1d.count > 2)")
    assert e.value.problems[0].message == "line 1, column 27: unknown field 'importer_hs6_1d'"


def test_trying_a_history_rule_replays_the_past_in_lodging_order(app):
    from concord.risk.messages import TryRule

    for n in range(4):
        submit(app, part(n))
        app.clock.advance(hours=3)
    submit(app, part(9, hs="090111"))
    tried = as_(app, "cus-analyst", TryRule(expression=SPLIT))
    assert tried["scanned"] == 5 and tried["hits"] == 2  # the third and fourth parts
