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
