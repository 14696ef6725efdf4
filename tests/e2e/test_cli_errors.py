"""Bad input and a bad setup get one line that says what to fix and exit 2: never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import postgres_available
from support import demo_config_text

CONCORD = str(Path(sys.executable).parent / "concord")
BAD_INPUT = 2


def concord(*args, var: Path, cwd: Path, url: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env |= {"CONCORD_VAR_DIR": str(var)} | ({"CONCORD_DATABASE_URL": url} if url else {})
    return subprocess.run([CONCORD, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """The command exited 2 with one error line (and its problems), naming `words`; no traceback."""
    text = result.stdout + result.stderr
    assert result.returncode == BAD_INPUT, text
    assert "Traceback" not in text and [line[:6] for line in text.splitlines()].count("error:") == 1, text
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), f"a problem listed twice: {text}"
    for word in words:
        assert word in " ".join(result.stderr.split()), text
    return text


@pytest.fixture
def hub(tmp_path):
    """A loaded hub's var folder, and a folder of bad files to feed it."""
    var, files = tmp_path / "var", tmp_path / "files"
    files.mkdir()
    (files / "config.yaml").write_text(demo_config_text())
    assert concord("config", "load", files / "config.yaml", var=var, cwd=files).returncode == 0
    return var, files


def test_bad_files(hub):
    var, files = hub
    (files / "latin1.yaml").write_bytes(demo_config_text().replace("Mulder", "M\u00fclder").encode("latin-1"))
    (files / "broken.yaml").write_text("id: R-1\nname: [unclosed\n")
    (files / "columns.csv").write_text("a,b\n1,2\n")
    (files / "sanctions.csv").write_bytes("full_name\nJos\u00e9 Mar\u00eda\n".encode("latin-1"))
    (files / "typed.yaml").write_text("id: R-TYPED\nname: Origin five\nexpression: 'items.exists(i, i.origin == 5)'\n"
                                      "severity: high\nlane: red\nrationale: a rule that can never match\n")
    (files / "faults.yaml").write_text("id: R-FAULTS\nname: x\nexpression: 'items.exists(i, i.origin =='\n")
    run = lambda *args: concord(*args, var=var, cwd=files)  # noqa: E731
    refused(run("config", "load", "latin1.yaml"), "latin1.yaml is not UTF-8", "iconv -f latin1 -t utf-8")
    refused(run("config", "check", "latin1.yaml"), "not UTF-8")
    refused(run("config", "check", "broken.yaml"), "broken.yaml is not valid YAML", "line 3")
    refused(run("risk", "rules", "add", "broken.yaml", "--as", "cus-analyst"), "not valid YAML at line 3")
    refused(run("agreements", "draft", "broken.yaml", "--as", "cus-liaison"), "not valid YAML at line 3")
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + "".join(  # a billion laughs, ten to the sixth
        f"{n}: &{n} [{','.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef"))
    (files / "bomb.yaml").write_text(bomb)
    refused(run("agreements", "draft", "bomb.yaml", "--as", "cus-liaison"), "more than 100,000 values")
    refused(run("risk", "evaluate", "--train", "columns.csv", "--valid", "columns.csv", "--test", "columns.csv"),
            "lacks the KCS columns Declaration ID")
    refused(run("screen", "sanctions.csv", "sanctions.csv"), "sanctions.csv is not UTF-8")
    refused(run("screening", "load-list", "sanctions.csv", "--name", "UN", "--owner", "CUS"), "not UTF-8")
    refused(run("risk", "rules", "add", "typed.yaml", "--as", "cus-analyst"), "type error: 'origin' is a string")
    refused(run("risk", "rules", "try", "items.exists(i, i.origin == 5)"), "type error", "column 17")
    refused(run("risk", "rules", "add", "faults.yaml", "--as", "cus-analyst"), "/name", "/rationale")
    assert "R-TYPED" not in run("risk", "rules", "list", "--json").stdout  # nothing was stored


def test_a_missing_or_empty_database_is_named_and_never_created(tmp_path):
    elsewhere, var = tmp_path / "elsewhere", tmp_path / "no" / "such" / "var"
    elsewhere.mkdir()
    for args in (("tokens", "issue", "hollandfoods"), ("audit", "verify"), ("risk", "rules", "list"),
                 ("agreements", "list"), ("screening", "lists")):
        refused(concord(*args, var=var, cwd=elsewhere), f"no database at {var / 'concord.db'}", "concord config load")
    assert not (tmp_path / "no").exists() and not any(elsewhere.iterdir())  # created nothing, here or there
    var.mkdir(parents=True)
    assert concord("db", "upgrade", var=var, cwd=elsewhere).returncode == 0  # a schema, but no config
    refused(concord("audit", "verify", var=var, cwd=elsewhere), "holds no coordination config", "concord config load")


def test_database_urls_that_cannot_work(tmp_path):
    refused(concord("tokens", "issue", "x", var=tmp_path, cwd=tmp_path, url="mysql://db.example/concord"),
            "unsupported database URL", "postgresql+psycopg://")
    refused(concord("db", "upgrade", var=tmp_path, cwd=tmp_path, url="postgresql://postgres@127.0.0.1:1/x"),
            "cannot use the database postgresql+psycopg://postgres@127.0.0.1:1/x", "check that the server runs")
    refused(concord("serve", var=tmp_path, cwd=tmp_path, url="postgresql://postgres@127.0.0.1:1/x"),
            "cannot use the database")  # before uvicorn starts, so no traceback of its own
    if postgres_available() is None:
        missing = "postgresql+psycopg://postgres@127.0.0.1:5432/concord_no_such_database"
        refused(concord("db", "upgrade", var=tmp_path, cwd=tmp_path, url=missing), "does not exist", "createdb")


def test_serve_refuses_a_port_or_host_it_cannot_listen_on_before_its_banner(hub):
    """The kernel keeps a port's low 16 bits (99999 would listen on 34463 while the banner said 99999); a port in
    use or a host that does not resolve is one line, with no banner promising an address it never served."""
    import socket

    var, _ = hub
    for port in ("99999", "0", "-1"):
        refused(concord("serve", "--port", port, var=var, cwd=var), f"--port {port}", "between 1 and 65535")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = refused(concord("serve", "--port", port, var=var, cwd=var), f"cannot listen on 127.0.0.1:{port}")
    assert "Concord on" not in text
    refused(concord("serve", "--host", "999.1.1.1", "--port", "18765", var=var, cwd=var),
            "cannot listen on 999.1.1.1:18765")


def test_an_error_that_echoes_what_was_typed_cannot_drive_the_terminal(hub):
    """An id with an ANSI escape (it would recolour or clear the terminal), rich markup, or 5,000 characters is
    echoed escaped and cut, not replayed."""
    var, _ = hub
    text = refused(concord("declarations", "show", "X\x1b[2JRED", "--as", "cus-officer", var=var, cwd=var),
                   "declaration X\\x1b[2JRED not found")
    assert "\x1b" not in text
    refused(concord("declarations", "show", "[bold]x", "--as", "cus-officer", var=var, cwd=var), "[bold]x not found")
    text = refused(concord("declarations", "show", "A" * 5000, "--as", "cus-officer", var=var, cwd=var),
                   "more characters)")
    assert len(text) < 2500
