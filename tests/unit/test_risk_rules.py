"""Officer-written CEL rules: refused with the position of the fault, evaluated over the declaration."""

from datetime import datetime, timedelta, timezone

import pytest

from concord.declarations.schemas import parse_declaration
from concord.errors import InvalidDocument
from concord.observability.metrics import METRICS
from concord.risk.catalogue.rules import CompiledRule, RuleSet, activation, compile_rule
from concord.routing.criteria import Rates
from support import declaration, item

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
RATES = Rates("EUR", {"USD": 0.92})


def doc(**changes) -> dict:
    return parse_declaration(declaration(**changes)).model_dump(mode="json")


def rule(expression: str, rule_id: str = "R1", valid_from=NOW - timedelta(days=1), valid_until=None) -> CompiledRule:
    return CompiledRule(rule_id, 1, rule_id, "CUS", "high", "red", valid_from, valid_until,
                        compile_rule(expression), expression)


def hits(expressions: list[str], d: dict, now=NOW) -> list[str]:
    rules = RuleSet([rule(e, f"R{i}") for i, e in enumerate(expressions)], 1)
    return [r.source for r in rules.evaluate(d, RATES, now)]


def problem(expression: str) -> str:
    with pytest.raises(InvalidDocument) as e:
        compile_rule(expression)
    assert e.value.problems[0].pointer == "/expression"
    return e.value.problems[0].message


def test_syntax_errors_give_line_and_column():
    assert problem('transport.mode == "sea" &&').startswith("line 1, column 27: Syntax error")
    assert problem('transport.mode == "sea"\n  && items.exists(i, i.origin ==)').startswith("line 2, column ")


def test_unknown_names_fields_and_functions_are_refused_where_they_are():
    assert problem('transport.mode == "sea" && shipper.name == "X"').startswith(
        "line 1, column 28: unknown name 'shipper'")
    assert problem('importer.vat == "NL1"') == "line 1, column 10: unknown field 'vat'"
    assert problem("items.exists(i,\n i.origin.frobnicate())").startswith("line 2, column 11: unknown function")
    # Found even where a sample declaration would never get to: behind a condition that is false on it.
    assert problem('items.exists(i, i.hs_code.startsWith("2402"))\n  && transport.mod == "sea"') == \
        "line 2, column 16: unknown field 'mod'"
    compile_rule('transport.mode == "sea.mod" && declaration.arrival.getFullYear() == 2026')


def test_type_errors_and_non_conditions_are_refused():
    assert "type error" in problem('items.exists(i, i.value.amount > "1000")')
    assert "must be a condition" in problem("size(items)")
    assert "empty" in problem("   ")


def test_rules_see_items_parties_transport_and_route_with_typed_values():
    d = doc(items=[item("240220", "Cigarettes", "AE", amount="20000.00", documents=["N935"]),
                   item("610910", "T-shirts", "BD", amount="100.00")],
            transport={"mode": "sea", "conveyance": "IMO9074729", "containers": ["MSCU1234566"]})
    d["items"][1]["value"]["currency"] = "USD"
    expressions = [
        'items.exists(i, i.hs_code.startsWith("2402")) && transport.mode == "sea"',
        "items.exists(i, i.value.amount > 15000.0)",
        "items.exists(i, i.value_base < 95.0)",  # 100 USD at 0.92
        'items.exists(i, "N935" in i.document_types)',
        'route.from == "EC" && route.entry == "NLRTM" && "AE" in route.origins',
        'importer.country == "NL" && exporter.name.contains("Banana")',
        '"MSCU1234566" in transport.containers',
        'declaration.arrival < timestamp("2026-02-01T00:00:00Z")',
        'items.exists(i, i.origin == "CN")',
    ]
    assert hits(expressions, d) == expressions[:-1]


def test_validity_period_and_runtime_errors():
    rules = RuleSet([rule('transport.mode == "sea"', "LATER", valid_from=NOW + timedelta(days=1)),
                     rule('transport.mode == "sea"', "ENDED", valid_until=NOW - timedelta(hours=1)),
                     rule('declaration.destination_country.startsWith("D")', "NULL-FIELD")], 1)
    assert rules.evaluate(doc(), RATES, NOW) == []
    assert rules.errors[("NULL-FIELD", 1)] == 1  # destination_country is null here: no hit, but counted
    # and in /metrics, where an operator can alert on it; a rule only tried (live=False) is not counted there
    counted = METRICS.counters[("concord_rule_evaluation_errors_total", ())]
    rules.evaluate(doc(), RATES, NOW)
    RuleSet(rules.rules, 1, live=False).evaluate(doc(), RATES, NOW)
    assert METRICS.counters[("concord_rule_evaluation_errors_total", ())] == counted + 1
    assert [r.id for r in rules.evaluate(doc(), RATES, NOW + timedelta(days=2))] == ["LATER"]


def test_pruned_activation_gives_the_same_results_as_the_whole_declaration():
    expressions = ['items.exists(i, i.description.contains("shirt"))', 'declarant["id"] == "NL823456781"',
                   "items[0].net_mass_kg > 100.0", 'transport.conveyance == "IMO9074729"']
    d = doc(items=[item("610910", "T-shirts of cotton", "BD")])
    pruned = RuleSet([rule(e, f"R{i}") for i, e in enumerate(expressions)], 1)
    assert pruned.keys is not None and "address" not in pruned.keys
    whole = RuleSet(pruned.rules, 1)
    whole.keys = None
    expected = ["R0", "R1", "R3"]
    assert [r.id for r in pruned.evaluate(d, RATES, NOW)] == [r.id for r in whole.evaluate(d, RATES, NOW)] == expected


def test_a_computed_index_turns_pruning_off():
    assert RuleSet([rule('importer["coun" + "try"] == "NL"')], 1).keys is None
    assert activation(doc(), RATES, ("importer",), frozenset({"country"})) == {"importer": {"country": "NL"}}
