"""`concord screen WATCHLIST.csv QUERIES.csv`: the --json lines and the terminal table."""

import csv
import json

from typer.testing import CliRunner

from concord.screening.cli import app

FIELDS = ["full_name", "first_name", "middle_name", "last_name", "gender", "date_of_birth", "place_of_birth",
          "nationality"]


def write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    return path


def files(tmp_path):
    watchlist = write(tmp_path / "list.csv", [
        {"full_name": "ABDULHAI SALEK", "date_of_birth": "1965", "nationality": "af"},
        {"full_name": "SERGEY VIKTOROVICH LAVROV", "date_of_birth": "1950-03-21", "nationality": "ru"},
        {"first_name": "Abdulhai", "last_name": "Saleq", "date_of_birth": "1965"},
    ])
    queries = write(tmp_path / "queries.csv", [
        {"full_name": "SALEK, ABDULHAI", "date_of_birth": "1965", "nationality": "Afghanistan"},
        {"full_name": "Patricia Lucas Wheeler", "date_of_birth": "2002-07-14", "nationality": "Ethiopia"},
        {"full_name": "Лавров Сергей Викторович", "nationality": "Russia"},
    ])
    return str(watchlist), str(queries)


def test_json_prints_one_object_per_query_row_with_matches_best_first(tmp_path):
    result = CliRunner().invoke(app, [*files(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == [0, 1, 2]
    first = lines[0]["matches"]
    assert [m["row"] for m in first] == [0, 2]  # rows numbered from 0 in file order, best first
    assert first[0] == {"row": 0, "name": "ABDULHAI SALEK", "score": 1.0}
    assert first[1]["name"] == "Abdulhai Saleq" and first[1]["score"] < 1.0
    assert lines[1]["matches"] == []
    assert [m["row"] for m in lines[2]["matches"]] == [1]  # found across scripts


def test_threshold_option_filters_matches(tmp_path):
    result = CliRunner().invoke(app, [*files(tmp_path), "--json", "--threshold", "0.999"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["row"] for m in lines[0]["matches"]] == [0]
    assert all(m["score"] >= 0.999 for line in lines for m in line["matches"])


def test_terminal_output_is_a_table(tmp_path):
    result = CliRunner().invoke(app, list(files(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "ABDULHAI SALEK" in result.stdout and "3 screened against 3 entries; 2 with a match" in result.output


def test_a_file_without_a_name_column_is_an_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,country\n1,DE\n", encoding="utf-8")
    result = CliRunner().invoke(app, [str(bad), str(bad)])
    assert result.exit_code == 2
    assert "full_name" in result.output


def test_unreadable_birth_dates_are_screened_on_name_with_one_counted_warning_line(tmp_path):
    readable = ["1965", "1950-03", "1950-3-21", "1961;1962", "1970 (circa)", "circa 1970", "c. 1970",
                "~1970", "", "1966-01-02;notadate"]
    unreadable = ["notadate", "12/01/1970", "n/a", "Jan 1971", "unknown", "circa"]
    rows = [{"full_name": f"Listed Person {n}", "date_of_birth": d} for n, d in enumerate(readable + unreadable)]
    watchlist = write(tmp_path / "list.csv", rows)
    queries = write(tmp_path / "queries.csv", [{"full_name": "Listed Person 10", "date_of_birth": "1970"}])
    result = CliRunner().invoke(app, [str(watchlist), str(queries), "--json", "--threshold", "0.99"])
    assert result.exit_code == 0, result.output
    assert [m["row"] for m in json.loads(result.stdout)["matches"]] == [10]  # loaded, matched on the name
    # one line; the mixed row 9 counts (its 'notadate' is ignored), five rows named, the count says the rest
    assert result.stderr.splitlines() == [
        "warning: 7 entries have a date of birth that is not a date (list rows 9, 10, 11, 12, 13, ...: 'notadate', "
        "'notadate', '12/01/1970', 'n/a', 'Jan 1971', ...); matching ignores it, so an entry without another "
        "date is screened on name and country only; write dates as YYYY, YYYY-MM or YYYY-MM-DD"], result.stderr
    clean = CliRunner().invoke(app, [*files(tmp_path), "--json"])
    assert clean.exit_code == 0 and clean.stderr == "", clean.stderr
