import pytest

from concord.agencies.handlers import parse_config
from concord.errors import InvalidDocument
from support import demo_config_text


def problems(text):
    with pytest.raises(InvalidDocument) as e:
        parse_config(text, "test.yaml")
    return {p.pointer: p.message for p in e.value.problems}


def test_the_demo_config_is_valid():
    cfg = parse_config(demo_config_text())
    assert cfg.lead_agency() == "CUS" and len([a for a in cfg.agencies if a.role == "partner"]) >= 6


def test_each_fault_has_its_key_path_and_line():
    text = demo_config_text().replace("agency: NPPO\n    description: Plants", "agency: NPP0\n    description: Plants")
    text = text.replace("sla_hours: 6\n", "sla_hours: -6\n")
    found = problems(text)
    assert any(k.endswith("/sla_hours") and "line" in v for k, v in found.items())
    (unknown,) = [v for k, v in found.items() if k.endswith("/agency")]
    assert "unknown agency 'NPP0'" in unknown and unknown.startswith("line ")


def test_yaml_syntax_error_says_where():
    found = problems("agencies: [\n  {code: CUS")
    assert "line" in next(iter(found.values()))


def test_exactly_one_lead_agency():
    found = problems("agencies:\n  - {code: CUS, name: Customs, role: partner}\n")
    assert "exactly one agency" in found["/agencies"]
