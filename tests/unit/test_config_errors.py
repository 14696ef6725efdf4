import pytest

from concord.agencies.handlers import parse_config
from concord.bootstrap import CONFIG_SECTIONS
from concord.errors import InvalidDocument
from support import demo_config_text


def problems(text):
    with pytest.raises(InvalidDocument) as e:
        parse_config(text, "test.yaml", sections=CONFIG_SECTIONS)
    return {p.pointer: p.message for p in e.value.problems}


def test_the_demo_config_is_valid():
    cfg = parse_config(demo_config_text(), sections=CONFIG_SECTIONS)
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


def test_config_check_refuses_the_agreements_that_config_load_refuses(tmp_path):
    """`concord config check` validates every section `config load` does (it once skipped the agreements)."""
    from typer.testing import CliRunner

    from concord.cli import app

    path = tmp_path / "coordination.yaml"
    path.write_text(demo_config_text().replace("    signed_by: [CUS, POL]\n", "    signed_by: [CUS, XYZ]\n", 1))
    assert "signed_by: [CUS, XYZ]" in path.read_text()
    out = CliRunner().invoke(app, ["config", "check", str(path)])
    assert out.exit_code == 2, out.output
    assert "/agreements/0/signed_by" in out.output
    with pytest.raises(InvalidDocument):  # what `config load` runs, before it writes anything
        parse_config(path.read_text(), str(path), sections=CONFIG_SECTIONS)


def test_the_default_database_does_not_depend_on_the_working_folder(tmp_path, monkeypatch):
    from pathlib import Path

    from concord.config import Settings, default_var_dir
    from concord.errors import Misconfigured

    checkout = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONCORD_VAR_DIR", raising=False)
    monkeypatch.delenv("CONCORD_DATABASE_URL", raising=False)
    assert default_var_dir() == checkout / "var"
    assert Settings().sqlite_path() == checkout / "var" / "concord.db"
    assert Settings(var_dir="rel").var_dir == tmp_path / "rel"  # a relative CONCORD_VAR_DIR: from where it was set
    assert Settings(database_url="sqlite:///x.db").sqlite_path() == tmp_path / "x.db"
    assert Settings(database_url="postgresql://u:secret@h/db").resolved_database_url() == "postgresql+psycopg://u:secret@h/db"
    assert "secret" not in Settings(database_url="postgresql://u:secret@h/db").database_label()
    import pytest

    with pytest.raises(Misconfigured, match="unsupported database URL"):
        Settings(database_url="mysql://h/db").resolved_database_url()
