"""Odd input to the risk loaders and rules: one line that names the file and line (or the rule's fault), never a
traceback."""

import csv
import json

import pytest
from typer.testing import CliRunner

from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import ConcordError, InvalidDocument
from concord.risk.catalogue.rules import compile_rule
from concord.risk.learning.datasets import load_dataset, load_jsonl, load_kcs
from concord.risk.rules_cli import app as risk_app
from support import declaration, subjects
from test_risk_cli import HEADER

ROW = {"Declaration ID": "97061800", "Date": "2020-01-01", "Office ID": "30", "Process Type": "B",
       "Import Type": "11", "Import Use": "21", "Payment Type": "11", "Mode of Transport": "10",
       "Declarant ID": "ZZR1LT6", "Importer ID": "QLRUBN9", "Seller ID": "0VKY2BR", "Courier ID": "",
       "HS6 Code": "440890", "Country of Departure": "BE", "Country of Origin": "BE", "Tax Rate": "0.0",
       "Tax Type": "FEU1", "Country of Origin Indicator": "G", "Net Mass": "108.0", "Item Price": "372254.4",
       "Fraud": "0", "Critical Fraud": "0"}


def kcs_file(path, *changes: dict):
    """A KCS CSV of one good row, then one row per dict of changed cells."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for change in ({}, *changes):
            w.writerow([{**ROW, **change}[c] for c in HEADER])
    return path


def refused(load, path) -> str:
    with pytest.raises(ConcordError) as e:
        load(path)
    assert "\n" not in e.value.message
    return e.value.message


@pytest.mark.parametrize("change, message", [
    ({"Date": "notadate"}, "line 3: Date 'notadate' is not YYYY-MM-DD"),
    ({"Date": ""}, "line 3: Date '' is not YYYY-MM-DD"),
    ({"Fraud": "yes"}, "line 3: Fraud must be 0 or 1, not 'yes'"),
    ({"Fraud": "2"}, "line 3: Fraud must be 0 or 1, not '2'"),  # a label that is neither class
    ({"Critical Fraud": "3"}, "line 3: Critical Fraud must be 0, 1 or 2, not '3'"),
    ({"Item Price": "abc"}, "line 3: Item Price must be a number, not 'abc'"),  # was a silent 0
    ({"Item Price": "nan"}, "line 3: Item Price must be a number, not 'nan'"),
    ({"Net Mass": "inf"}, "line 3: Net Mass must be a number, not 'inf'"),
    ({"Tax Rate": "-inf"}, "line 3: Tax Rate must be a number, not '-inf'"),
])
def test_a_bad_kcs_cell_is_named_with_its_file_and_line(tmp_path, change, message):
    path = kcs_file(tmp_path / "train.csv", change)
    assert refused(load_kcs, path) == f"{path} {message}"


def test_a_kcs_row_with_missing_cells_is_refused(tmp_path):
    path = kcs_file(tmp_path / "train.csv")
    with open(path, "a") as f:
        f.write("97061801,2020-01-02,30\n")
    assert refused(load_kcs, path) == f"{path} line 3 has 3 cells, the header 22: each row needs one cell per column"


def test_empty_optional_kcs_cells_still_read_as_before(tmp_path):
    """Empty ids are absent, empty numbers 0, an empty Fraud unlabelled; Critical Fraud 2 is the critical case."""
    path = kcs_file(tmp_path / "train.csv", {"Seller ID": "", "Net Mass": "", "Fraud": "", "Critical Fraud": "2"})
    good, odd = load_kcs(path)
    assert (good.courier, good.fraud, good.critical) == (None, 0, 0)
    assert (odd.seller, odd.net_mass, odd.fraud, odd.critical) == (None, 0.0, None, 1)


@pytest.mark.parametrize("line, message", [
    ("{bad", "line 2: not a JSON object (Expecting property name enclosed in double quotes, column 2)"),
    ("[1]", "line 2: not a JSON object (an array)"),
    ('"text"', "line 2: not a JSON object ('text')"),
    ("{}", 'line 2 lacks "when" and "declaration_id"'),
    ('{"declaration_id": "D2"}', 'line 2 lacks "when"'),
    ('{"declaration_id": "D2", "when": "x"}', "line 2: when 'x' is not an ISO 8601 time"),
    ('{"declaration_id": "D2", "when": 5}', "line 2: when 5 is not an ISO 8601 time"),
    ('{"declaration_id": "D2", "when": "2026-01-01", "fraud": 2}', "line 2: fraud must be 0, 1 or null, not 2"),
    ('{"declaration_id": "D2", "when": "2026-01-01", "value": "abc"}', "line 2: value must be a number, not 'abc'"),
    ('{"declaration_id": "D2", "when": "2026-01-01", "net_mass": NaN}', "line 2: net_mass must be a number, not NaN"),
])
def test_a_bad_json_line_is_named_with_its_file_and_line(tmp_path, line, message):
    path = tmp_path / "outcomes.jsonl"
    good = json.dumps({"declaration_id": "D1", "when": "2026-01-01T10:00:00", "fraud": 1})
    path.write_text(f"{good}\n{line}\n")
    assert refused(load_jsonl, path).startswith(f"{path} {message}")


def test_a_kcs_csv_given_to_the_jsonl_adapter_says_which_adapter_reads_it(tmp_path):
    path = kcs_file(tmp_path / "train.csv")
    message = refused(lambda p: load_dataset("jsonl", p), path)
    assert message.startswith(f"{path} line 1: not a JSON object") and "--dataset kcs" in message
    assert [r.declaration_id for r in load_dataset("kcs", path)] == ["97061800"]


@pytest.mark.parametrize("expression, reason", [
    ("1/0 == 1", "division by zero"),
    ("1 % 0 == 1", "modulo by zero"),
    ("9223372036854775807 + 1 > 0", "overflow"),
    ('items[5].hs_code == "x"', "index out of bounds: 5"),
])
def test_a_rule_that_fails_on_the_sample_declaration_is_refused(expression, reason):
    with pytest.raises(InvalidDocument) as e:
        compile_rule(expression)
    problem = e.value.problems[0]
    assert problem.pointer == "/expression" and "fails on the sample declaration" in problem.message
    assert reason in problem.message and "true or false on every declaration" in problem.message


@pytest.fixture
def hub(sqlite_concord, tmp_path, monkeypatch):
    """The CLI on the fixture's hub (its database is {var_dir}/concord.db)."""
    from concord.config import get_settings

    monkeypatch.setenv("CONCORD_VAR_DIR", str(tmp_path))
    for name in ("CONCORD_DATABASE_URL", "CONCORD_AUDIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield sqlite_concord
    get_settings.cache_clear()


def cli(*args):
    out = CliRunner().invoke(risk_app, list(args))
    assert "Traceback" not in out.output and not isinstance(out.exception, (ArithmeticError, LookupError)), out.output
    return out


def test_rules_try_and_add_refuse_a_rule_that_fails_on_the_sample(hub, tmp_path):
    for expression, reason in (("1/0 == 1", "division by zero"), ("1 % 0 == 1", "modulo by zero"),
                               ("9223372036854775807 + 1 > 0", "overflow"),
                               ('items[5].hs_code == "x"', "index out of bounds")):
        out = cli("rules", "try", expression)
        assert out.exit_code == 2 and reason in out.output, out.output
    rule = tmp_path / "rule.yaml"
    rule.write_text('id: R-THIRD\nname: third item\nseverity: high\nlane: red\nrationale: the third item, if any\n'
                    'expression: items[3].hs_code == "x"\n')
    out = cli("rules", "add", str(rule), "--as", "cus-analyst")
    assert out.exit_code == 2 and "index out of bounds: 3" in out.output and "size(items) > 1" in out.output
    assert "R-THIRD" not in cli("rules", "list", "--json").stdout  # nothing was stored


def test_a_rule_failing_on_some_declarations_misses_them_live_and_rules_try_says_how_many(hub, tmp_path):
    """destination_country is null on these declarations: the rule passes the sample (which has one) but cannot be
    evaluated on them, and `rules try` counts the declarations it missed and shows the first. (The hub's fixed clock
    is before the rule's validity, so lodging here does not evaluate it: the live step is the next test's.)"""
    expression = 'declaration.destination_country.startsWith("N")'
    rule = tmp_path / "rule.yaml"
    rule.write_text(f"id: R-DEST\nname: destination\nseverity: high\nlane: red\nrationale: where the goods go\n"
                    f"expression: '{expression}'\n")
    assert cli("rules", "add", str(rule), "--as", "cus-analyst").exit_code == 0
    doc = parse_declaration(declaration()).model_dump(mode="json")
    assert doc["destination_country"] is None
    lodged = [hub.bus.handle(SubmitDeclaration(document=doc | {"lrn": f"DEST-{n}"}),
                             subject=subjects(hub)["hollandfoods"])["id"] for n in range(2)]
    out = cli("rules", "try", expression)
    assert out.exit_code == 0, out.output
    assert "0 of 2 declarations hit" in out.output and "2 of them the rule could not be evaluated on" in out.output
    tried = json.loads(cli("rules", "try", expression, "--json").stdout)
    assert tried["errors"] == 2 and tried["first_error"]["declaration_id"] in lodged


def test_a_live_rule_that_cannot_be_evaluated_is_logged_once_per_version(caplog):
    """The live step counts such a rule as not hit, and lodging goes on; the risk unit learns of it from the log,
    once per rule version, not once per declaration. `rules try` (not live) does not log."""
    from concord.risk.catalogue.rules import CompiledRule, RuleSet, compile_rule
    from concord.risk.queries import EPOCH

    doc = parse_declaration(declaration()).model_dump(mode="json")
    rule = CompiledRule("R-DEST", 2, "destination", "CUS", "high", "red", EPOCH, None,
                        compile_rule('declaration.destination_country.startsWith("N")'), "")
    for live, logged in ((True, 1), (False, 0)):
        rules = RuleSet([rule], 1, live=live)
        caplog.clear()
        with caplog.at_level("WARNING", logger="concord.risk.catalogue.rules"):
            assert [rules.evaluate(doc, declaration_id=f"D{n}") for n in range(3)] == [[], [], []]
        warned = [r.getMessage() for r in caplog.records]
        assert len(warned) == logged and rules.errors[("R-DEST", 2)] == 3 and rules.first_error[("R-DEST", 2)][0] == "D0"
        assert all("R-DEST v2 could not be evaluated on declaration D0" in w and "guard the expression" in w
                   for w in warned)
