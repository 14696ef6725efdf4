"""Raw SQL (the hot paths that skip the ORM) names only tables and columns the ORM metadata has.

Each statement written as a string literal in concord/ is found in the source, its tables and columns read
with a small parser for the shapes we use (SELECT ... FROM t [alias] [JOIN ...], INSERT INTO t (...),
UPDATE t SET ...), and each name checked against `concord.schema.metadata`: a renamed column then fails
here rather than at the first request that takes the fast path.
"""

import ast
import re
from pathlib import Path

import pytest

from concord.schema import metadata

ROOT = Path(__file__).resolve().parents[2] / "concord"
SKIP = {"migrations", "bench"}  # migrations create the schema; benchmarks build bare tables of their own
# A statement whose table is itself a parameter (driver.bulk_insert: INSERT INTO {table.name}) takes its columns
# from the Table object, so the metadata is its source already.
STATEMENT = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE)\s", re.I)
KEYWORDS = {"and", "or", "in", "is", "null", "not", "order", "by", "limit", "where", "set", "returning", "asc", "desc"}


def _text(node) -> str | None:
    """A string literal, or an f-string with each {...} as '{}'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def statements() -> list[tuple[str, str]]:
    """(where, sql) for every SQL string literal in the package."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        tree = ast.parse(path.read_text())
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = None if id(node) in parts else _text(node)
            if text and STATEMENT.match(text) and not re.match(r"\s*\w+( INTO)? \{\}", text, re.I):
                found.append((f"{path.relative_to(ROOT.parent)}:{node.lineno}", text))
    return found


def references(sql: str) -> list[tuple[str, str | None]]:
    """(table, column) pairs the statement names; column None for a table alone."""
    sql = " ".join(sql.split())
    if m := re.match(r"INSERT INTO (\w+) \(([^){]*)\)", sql, re.I):
        return [(m[1], c.strip()) for c in m[2].split(",")]
    if m := re.match(r"INSERT INTO (\w+)", sql, re.I):
        return [(m[1], None)]
    if m := re.match(r"UPDATE (\w+) SET (.*)", sql, re.I):
        return [(m[1], None)] + [(m[1], c) for c in _bare_columns(m[2])]
    if re.fullmatch(r"SELECT \w+\([^()]*\)", sql, re.I):  # a function call alone (an advisory lock): no table
        return []
    m = re.match(r"SELECT (.*?) FROM (.*)", sql, re.I)
    assert m, sql
    tables, default = {}, None
    for t, alias in re.findall(r"(?:FROM|JOIN)\s+(\w+)(?:\s+(?!ON\b|WHERE\b|JOIN\b|LEFT\b|ORDER\b)(\w+))?",
                               "FROM " + m[2], re.I):
        tables[alias or t] = t
        default = default or t
    out = [(t, None) for t in tables.values()]
    for alias, column in re.findall(r"\b(\w+)\.(\w+)\b", sql):
        out.append((tables[alias], column))
    for column in _bare_columns(m[1] + " WHERE " + m[2].split("WHERE", 1)[-1] if "WHERE" in m[2] else m[1]):
        out.append((default, column))
    return out


def _bare_columns(clause: str) -> list[str]:
    """Unqualified identifiers used as columns: select-list items and left-hand sides of comparisons."""
    names = []
    for part in re.split(r",|\bAND\b|\bOR\b|\bWHERE\b|\bORDER BY\b|\bRETURNING\b", clause, flags=re.I):
        if re.match(r"\s*\w+\s*\(", part):  # a function call (count(*)), not a column
            continue
        part = re.sub(r"\(.*", "", part).strip()
        if m := re.match(r"(\w+)(?:\s*(?:=|>=|<=|<|>|\bIN\b|\bIS\b)|\s*$)", part, re.I):
            if "." not in part.split()[0] and m[1].lower() not in KEYWORDS and not m[1].isdigit():
                names.append(m[1])
    return names


def faults(sql: str) -> list[str]:
    """Names in the statement that the metadata does not have."""
    out = []
    for table, column in dict.fromkeys(references(sql)):
        if table.startswith("pg_"):  # PostgreSQL's own catalog (concord/housekeeping.py): not in our metadata
            continue
        if table not in metadata.tables:
            out.append(f"table {table}")
        elif column is not None and column not in metadata.tables[table].c:
            out.append(f"column {table}.{column}")
    return list(dict.fromkeys(out))


FOUND = statements()


def test_the_source_has_the_raw_statements_we_know_of():
    texts = " | ".join(sql for _, sql in FOUND)
    assert len(FOUND) >= 8
    for table in ("api_tokens", "declarations", "events", "audit_entries", "audit_nodes", "audit_head"):
        assert table in texts, table


@pytest.mark.parametrize("where,sql", FOUND, ids=[w for w, _ in FOUND])
def test_raw_sql_names_only_what_the_metadata_has(where, sql):
    assert faults(sql) == [], f"{where}: {sql}"


def test_the_check_sees_a_misspelt_column_and_table():
    assert faults("SELECT t.id, t.revokd_at FROM api_tokens t JOIN users u ON u.id = t.user_id") == [
        "column api_tokens.revokd_at"]
    assert faults("SELECT id, trader FROM declarations WHERE lrn IN ({})") == ["column declarations.trader"]
    assert faults("UPDATE event SET published_at = ? WHERE id IN (?)") == ["table event"]
    assert faults("INSERT INTO audit_nodes (id, hashes) VALUES (?, ?)") == ["column audit_nodes.hashes"]
    assert faults("SELECT s.relname, e.idd FROM pg_stat_user_tables s JOIN events e ON e.id = s.relname") == [
        "column events.idd"]


def test_column_lists_kept_as_constants_match_the_metadata():
    from concord.audit.log import COLUMNS
    from concord.audit.scan import SCAN_COLUMNS

    entries = metadata.tables["audit_entries"].c
    assert [c for c in (*COLUMNS, *SCAN_COLUMNS) if c not in entries] == []
