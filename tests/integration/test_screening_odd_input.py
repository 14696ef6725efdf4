"""Odd screening files (empty, header-only, wrong columns, an overlong field, a negative --limit): each is refused
with one line that says what to fix, and a loaded list is never replaced by an empty one."""

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import concord.screening.models  # noqa: F401 - the tables, as test_screening_integration creates them
from concord.cli import app as cli
from concord.config import get_settings
from concord.db import Base
from concord.errors import InvalidDocument
from concord.screening.messages import LoadScreeningList
from concord.screening.models import ScreeningList
from support import subjects

GOOD = "id,full_name\nA,Ivan Petrov\nB,Oceanic Shadow Shipping Ltd\n"
LONG = "full_name\n" + "x" * 140_000 + "\n"  # over csv's field_size_limit (131072)


@pytest.fixture
def hub(sqlite_concord, monkeypatch):
    """The demo hub, which the CLI opens through the environment as on the hub's own shell."""
    Base.metadata.create_all(sqlite_concord.engine)
    monkeypatch.setenv("CONCORD_DATABASE_URL", sqlite_concord.settings.resolved_database_url())
    monkeypatch.setenv("CONCORD_VAR_DIR", str(sqlite_concord.settings.var_dir))
    get_settings.cache_clear()
    yield sqlite_concord
    get_settings.cache_clear()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(result, *words):
    """Exit 2, one line starting with error: (and its problems), naming `words`; no traceback."""
    text = " ".join(result.stderr.split())
    assert result.exit_code == 2 and text.startswith("error:") and "Traceback" not in text, (result.exit_code, text,
                                                                                              result.exception)
    assert text.count("error:") == 1 and not result.stdout, text
    assert all(w in text for w in words), text


def files(tmp_path, **texts):
    for name, text in texts.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


def lists(hub) -> dict:
    with hub.sessions() as s:
        return {x.name: (x.version, x.entry_count) for x in s.scalars(select(ScreeningList))}


def test_an_empty_or_header_only_list_is_refused_and_the_loaded_list_kept(hub, tmp_path):
    d = files(tmp_path, good=GOOD, empty="", header="id,full_name\n")
    assert json.loads(run("screening", "load-list", d / "good.csv", "--name", "un", "--owner", "CUS").stdout)[
        "entries"] == 2
    for name in ("empty", "header"):
        refused(run("screening", "load-list", d / f"{name}.csv", "--name", "un", "--owner", "CUS"),
                f"{name}.csv has no entries; nothing was loaded")
        refused(run("screening", "load-list", d / f"{name}.csv", "--name", "new", "--owner", "CUS"),
                "has no entries")  # a first load too
    assert lists(hub) == {"un": (1, 2)}  # neither wiped nor created
    with pytest.raises(InvalidDocument) as e:  # the API's path: the same handler
        hub.bus.handle(LoadScreeningList(name="un", owner_agency="CUS", records=[]), subject=subjects(hub)["admin"])
    assert "nothing was loaded" in e.value.message and [p.pointer for p in e.value.problems] == ["/records"]
    assert lists(hub) == {"un": (1, 2)}


def test_screen_refuses_a_negative_limit(tmp_path):
    d = files(tmp_path, good=GOOD)
    result = run("screen", d / "good.csv", d / "good.csv", "--json", "--limit", "-1")
    assert result.exit_code == 2 and "--limit" in result.output and not result.stdout.startswith("{"), result.output
    one = run("screen", d / "good.csv", d / "good.csv", "--json", "--limit", "1")
    assert [len(json.loads(line)["matches"]) for line in one.stdout.splitlines()] == [1, 1]


def test_screen_refuses_an_empty_watchlist_or_queries_file(tmp_path):
    d = files(tmp_path, good=GOOD, empty="", header="id,full_name\n")
    for name in ("empty", "header"):
        refused(run("screen", d / f"{name}.csv", d / "good.csv", "--json"),
                f"the watchlist {name}.csv has no entries")
        refused(run("screen", d / "good.csv", d / f"{name}.csv", "--json"), f"{name}.csv has no rows to screen")


def test_screen_refuses_queries_without_a_name_column(tmp_path):
    d = files(tmp_path, good=GOOD, columns="foo,bar\n1,Ivan Petrov\n")
    refused(run("screen", d / "good.csv", d / "columns.csv", "--json"),  # as a watchlist with them is refused
            "columns.csv needs a full_name (or name, or first_name and last_name) column")
    refused(run("screen", d / "columns.csv", d / "good.csv", "--json"), "columns.csv needs a full_name")


def test_a_field_over_the_csv_limit_names_the_file_and_line(hub, tmp_path):
    d = files(tmp_path, good=GOOD, wl_long=LONG)
    words = ("wl_long.csv line 2: a field is longer than 131,072 characters",)
    refused(run("screen", d / "wl_long.csv", d / "good.csv", "--json"), *words)
    refused(run("screen", d / "good.csv", d / "wl_long.csv", "--json"), *words)
    refused(run("screening", "load-list", d / "wl_long.csv", "--name", "un", "--owner", "CUS"), *words)
    assert lists(hub) == {}


def test_a_list_with_unreadable_birth_dates_loads_and_says_which_rows_are_screened_without_them(hub, tmp_path):
    d = files(tmp_path, dates="full_name,date_of_birth\nIvan Petrov,notadate\nOlga Petrova,1970\nJan Smit,31/12/1970\n"
                               "Ali Veli,1961;1962\n")
    loaded = run("screening", "load-list", d / "dates.csv", "--name", "un", "--owner", "CUS")
    assert loaded.exit_code == 0 and json.loads(loaded.stdout)["entries"] == 4, loaded.output
    line = ("2 entries have a date of birth that is not a date (list rows 0, 2: 'notadate', '31/12/1970'); matching "
            "ignores it, so an entry without another date is screened on name and country only; write dates as YYYY, "
            "YYYY-MM or YYYY-MM-DD")
    assert loaded.stderr.splitlines() == [f"warning: {line}"], loaded.stderr
    assert json.loads(loaded.stdout)["warnings"] == [line]
    # the API's path: the same handler answers with the same line, and an empty list when every date is readable
    def load(date_of_birth):
        return hub.bus.handle(LoadScreeningList(name="un", owner_agency="CUS", records=[
            {"full_name": "Ivan Petrov", "date_of_birth": date_of_birth}]), subject=subjects(hub)["admin"])
    one = line.replace("2 entries have", "1 entry has").replace("rows 0, 2: 'notadate', '31/12/1970'",
                                                                "row 0: '31.12.1970'")
    assert load("31.12.1970")["warnings"] == [one] and load("1970-12-31")["warnings"] == []
    assert lists(hub) == {"un": (3, 1)}  # loaded all the same
