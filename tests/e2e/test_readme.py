"""The README's shell blocks, run as written against a fresh server in a temporary folder.

Only what a test must change is changed: the server's port (another may be using 8000), the installed
.venv instead of `make install`, a wait for the server to answer, and `make test` is not run from inside
itself. Each command's output is checked against what the README says it prints."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support import declaration

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


def block(containing: str) -> str:
    found = [b for b in BLOCKS if containing in b]
    assert len(found) == 1, f"the README should have one sh block with {containing!r}"
    return found[0]


TWO_COMMANDS = block("make demo")
CLI_EXAMPLES = block("concord screen")
TOUR = [b for b in BLOCKS if b not in (TWO_COMMANDS, CLI_EXAMPLES)]


def commands(script: str) -> list[str]:
    """The script's top-level commands: a command goes on while a quote, a continuation, a { } body or a
    do ... done loop is open."""
    out, current, depth = [], [], 0
    for line in script.splitlines():
        if not current and not line.strip():
            continue
        current.append(line)
        opens = re.match(r"\s*[\w-]+\(\)\s*\{|\s*(for|while)\b.*;\s*do\b", line)
        depth += bool(opens) - bool(re.match(r"\s*(\}|done)\s*(#.*)?$", line))
        text = "\n".join(current)
        if not in_quotes(text) and not line.rstrip().endswith("\\") and depth <= 0:
            out.append(text)
            current, depth = [], 0
    assert not current, f"unfinished command in the README: {current}"
    return out


def in_quotes(text: str) -> bool:
    """Whether shell text ends inside a quoted string (comments skipped: their apostrophes quote nothing)."""
    quote, comment, previous = None, False, " "
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and previous in " \t\n":
            comment = True
        previous = ch
    return quote is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(var: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    # The server shares the tour's terminal, as `concord serve &` does. On a loaded CI machine its stall warning
    # (every thread's stack, tested in its own test) landed among curl's answers the test reads; 0 turns it off.
    return env | {"CONCORD_VAR_DIR": str(var), "CONCORD_PORT": str(port), "PATH": f"{BIN}:{env['PATH']}",
                  "CONCORD_STALL_LOG_MS": "0"}


def run_tour(folder: Path, var: Path, config: Path | None = None) -> dict[str, str]:
    """Run the tour's blocks as one shell session; command text -> what it printed (stdout and stderr)."""
    port = free_port()
    steps = []
    for command in (c for b in TOUR for c in commands(b)):
        script = command.replace("localhost:8000", f"localhost:{port}")
        if script.startswith("make install && source .venv/bin/activate"):
            script = "true  # installed: .venv/bin is on PATH"
        if config is not None:
            script = script.replace("concord/demo/coordination.yaml", str(config))
        if script.startswith("concord serve &"):
            script += (f"\nfor i in $(seq 300); do curl -s localhost:{port}/healthz >/dev/null && break; sleep 0.1; "
                       f"done")
        steps.append((command, script))
    # A marker on a line of its own before each command (curl's answers end without a newline).
    body = "\n".join(f"echo; echo '@@@ {i}'\n{script}" for i, (_, script) in enumerate(steps))
    proc = subprocess.Popen(["bash", "-c", body + "\necho; echo '@@@ end'"], cwd=folder, env=environment(var, port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        transcript, _ = proc.communicate(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server, if the script did not stop it
        except ProcessLookupError:
            pass
    assert "Traceback" not in transcript, transcript
    parts = re.split(r"^@@@ (\d+|end)$\n?", transcript, flags=re.M)
    printed = {steps[int(n)][0]: text for n, text in zip(parts[1::2], parts[2::2]) if n != "end"}
    assert len(printed) == len(steps), transcript
    return printed


def output(printed: dict, *needles: str) -> str:
    found = [text for command, text in printed.items() if all(n in command for n in needles)]
    assert len(found) == 1, f"one command with {needles}"
    return found[0]


def shift_file(folder: Path) -> None:
    good = declaration(lrn="SHIFT-1")
    bad = declaration(lrn="SHIFT-2", items=[{**good["items"][0], "origin": "XX"}])
    (folder / "shift.ndjson").write_text("\n".join(json.dumps(d) for d in (good, good, bad)) + "\n")


def check_tour(printed: dict, var: Path) -> None:
    assert "loaded into " + str(var / "concord.db") in output(printed, "concord config load")
    assert "API docs: http://127.0.0.1:" in output(printed, "concord serve &")
    lodged = output(printed, 'echo "$LODGED"     #')
    assert '"status":"under_control"' in lodged and '"id":"DCL' in lodged
    batch = json.loads(output(printed, "declarations/batch"))
    assert (batch["lodged"], batch["replayed"], batch["failed"]) == (1, 1, 1)
    assert batch["results"][2]["error"]["problems"][0]["pointer"] == "/items/0/origin"
    assert '"failed": 1' in output(printed, "concord declarations lodge shift.ndjson")
    assert '"status":"approved"' in output(printed, "tasks/$(task NPPO)/decisions")
    assert output(printed, 'print(json.load(sys.stdin)["status"])').strip() == "released"
    assert "released" in output(printed, "/timeline")
    assert output(printed, "-w '%{http_code}\\n'").strip() == "404"
    police = json.loads(output(printed, "Concord-Purpose: criminal_investigation"))
    assert police["lrn"] == "HF-2026-0001" and "value" not in police["document"]["items"][0]  # the agreement's fields
    report = output(printed, "access-reports")
    assert "criminal_investigation" in report and "MOU-CUS-POL-2026" in report
    checkpoint = json.loads(output(printed, "audit/checkpoint"))
    assert checkpoint["note"].startswith("concord.local/audit\n") and "\n\u2014 concord.local/audit " in checkpoint["note"]
    verified = output(printed, "concord audit verify --json")
    assert json.loads(verified)["ok"] is True, verified


def test_the_two_commands_then_the_tour_on_the_demo_database(tmp_path):
    """`make demo` (its command: the Makefile runs `concord demo`), `concord audit verify` right after it, then
    the tour on the same database. `make test` is this suite."""
    assert "$(BIN)/concord demo\n" in (ROOT / "Makefile").read_text() and "make test" in TWO_COMMANDS
    var, folder = tmp_path / "var", tmp_path / "work"
    folder.mkdir()
    env = environment(var, free_port())
    demo = subprocess.run(["concord", "demo"], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert str(var / "concord.db") in demo.stderr and "released: " in demo.stdout and "verified: yes" in demo.stdout
    verify = subprocess.run(["concord", "audit", "verify", "--json"], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=120)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True, verify.stderr
    (folder / "concord").symlink_to(ROOT / "concord")  # the tour runs from the checkout: its config path
    shift_file(folder)
    check_tour(run_tour(folder, var), var)


def test_the_tour_reaches_released_when_customs_draws_the_declaration_for_control(tmp_path):
    """Every declaration drawn for control (random_inspection_rate 1): the tour's customs step decides it."""
    var, folder = tmp_path / "var", tmp_path / "work"
    folder.mkdir()
    shift_file(folder)
    config = tmp_path / "always-control.yaml"
    text = (ROOT / "concord/demo/coordination.yaml").read_text()
    config.write_text(text.replace("random_inspection_rate: 0.03", "random_inspection_rate: 1.0"))
    printed = run_tour(folder, var, config)
    check_tour(printed, var)
    assert '"status":"approved"' in output(printed, "for T in $(task CUS)")  # customs' task was open, and decided


def test_the_command_line_examples(tmp_path):
    """`rules try` as written; screening on the shared data sets where they are (CI has them); `risk evaluate`
    runs for minutes, and tests/unit/test_risk_cli.py checks it on a sample of the same files."""
    env = environment(tmp_path / "var", free_port())
    subprocess.run(["concord", "config", "load", str(ROOT / "concord/demo/coordination.yaml")], env=env, check=True,
                   capture_output=True, timeout=120)
    lines = commands(CLI_EXAMPLES)
    assert len(lines) == 3 and "risk evaluate" in lines[2]
    tried = subprocess.run(["bash", "-c", lines[1]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert tried.returncode == 0, tried.stderr
    assert re.fullmatch(r"\d+ of \d+ declarations hit; .*\n", tried.stdout), tried.stdout
    if not (ROOT.parent / "shared/data/screening/positives_un_treated.csv").exists():
        pytest.skip(f"the screening data is not at {ROOT.parent / 'shared/data'}")
    screened = subprocess.run(["bash", "-c", lines[0]], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
    assert "Traceback" not in screened.stderr
    rows = [json.loads(line) for line in screened.stdout.splitlines()]
    assert len(rows) == 3 and all({"query", "matches"} <= set(r) for r in rows)


def test_the_readme_shows_every_console_screen_the_browser_test_photographs():
    """The browser test writes docs/console/*.png and its axe results; the README shows each of those screens."""
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r'src="docs/console/([a-z0-9-]+)\.png"', readme))
    checked = set(json.loads((ROOT / "docs/console/axe-results.json").read_text()))
    photographed = {p.stem for p in (ROOT / "docs/console").glob("*.png")}
    assert shown <= photographed, f"the README shows screens no test photographs: {shown - photographed}"
    assert checked <= shown, f"screens the browser test checks that the README does not show: {checked - shown}"
