"""`concord db upgrade` while the previous release still serves: every migration expands (docs/operations.md).

The previous release's code keeps working on the new schema when each migration only adds: no table or column
of the schema before it is dropped, renamed or retyped, and what it adds to an existing table does not refuse the
old code's writes (a new column is nullable or has a server default; no new unique index, check or foreign key on
an existing table). Removing something is a later release's contract step, which names it in `contracts`, once no
serving code uses it. Checked step by step, from the revision where the rule was written down to the head (the
migrations of the other lanes included, once they are chained)."""

from __future__ import annotations

import importlib.util

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from concord.db import make_engine
from concord.migrations import alembic_config, upgrade

# Every migration after this one follows the rule (0007 to 0011 did before it was written). Earlier ones did not,
# and an upgrade across them needs the old workers stopped first: 0003 and 0004 added NOT NULL columns to
# declarations without a default (hs_chapters, origins, engaged), 0006 a unique index on task_decisions.
RULE_FROM = "0006"


def _schema(engine) -> dict:
    insp = inspect(engine)
    tables = {}
    for table in insp.get_table_names():
        if table == "alembic_version":
            continue
        tables[table] = {
            "columns": {c["name"]: c for c in insp.get_columns(table)},
            "unique": {tuple(i["column_names"]) for i in insp.get_indexes(table) if i["unique"]}
            | {tuple(u["column_names"]) for u in insp.get_unique_constraints(table)},
            "checks": {c["name"] or c["sqltext"] for c in insp.get_check_constraints(table)},
            "foreign_keys": {(tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)},
        }
    return tables


def _contracts(script: ScriptDirectory, revision: str) -> set[str]:
    module = script.get_revision(revision).module
    return set(getattr(module, "contracts", ()))


def expansion_faults(before: dict, after: dict, contracts: set[str]) -> list[str]:
    """What in `after` would break code written for `before` (less what the migration declares it contracts)."""
    faults = []
    for table, old in before.items():
        if table not in after:
            if table not in contracts:
                faults.append(f"table {table} dropped")
            continue
        new = after[table]
        for name, column in old["columns"].items():
            if name not in new["columns"]:
                if f"{table}.{name}" not in contracts:
                    faults.append(f"column {table}.{name} dropped or renamed")
            elif str(new["columns"][name]["type"]) != str(column["type"]):
                faults.append(f"column {table}.{name} retyped {column['type']} -> {new['columns'][name]['type']}")
            elif column["nullable"] and not new["columns"][name]["nullable"]:
                faults.append(f"column {table}.{name} made NOT NULL: old code may still write NULL there")
        for name, column in new["columns"].items():
            if name not in old["columns"] and not column["nullable"] and column.get("default") is None:
                faults.append(f"new column {table}.{name} is NOT NULL without a server default: old code's "
                              f"INSERTs do not name it")
        faults += [f"new unique index on {table}{cols}" for cols in new["unique"] - old["unique"]]
        faults += [f"new check on {table}: {c}" for c in new["checks"] - old["checks"]]
        faults += [f"new foreign key on {table}{fk}" for fk in new["foreign_keys"] - old["foreign_keys"]]
    return faults


def test_every_migration_since_the_rule_only_expands(tmp_path):
    script = ScriptDirectory.from_config(alembic_config())
    chain = [r.revision for r in script.walk_revisions()][::-1]  # base first
    later = chain[chain.index(RULE_FROM) + 1:]
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, RULE_FROM)
    before = _schema(engine)
    faults = []
    for revision in later:
        upgrade(engine, revision)
        after = _schema(engine)
        faults += [f"{revision}: {f}" for f in expansion_faults(before, after, _contracts(script, revision))]
        before = after
    engine.dispose()
    assert faults == []


def test_the_rule_catches_what_breaks_the_previous_release():
    """The check is not vacuous: a dropped column, a NOT NULL column without default, a new unique index."""
    column = lambda name, nullable=True, default=None: {"name": name, "type": "VARCHAR(8)", "nullable": nullable,
                                                         "default": default}
    old = {"declarations": {"columns": {"id": column("id"), "lane": column("lane")}, "unique": set(), "checks": set(),
                            "foreign_keys": set()}}
    new = {"declarations": {"columns": {"id": column("id"), "office": column("office", nullable=False)},
                            "unique": {("id",)}, "checks": set(), "foreign_keys": set()}}
    faults = expansion_faults(old, new, set())
    assert any("lane dropped" in f for f in faults) and any("office is NOT NULL" in f for f in faults)
    assert any("unique" in f for f in faults)
    assert not any("lane" in f for f in expansion_faults(old, new, {"declarations.lane"}))  # a declared contract
    new["declarations"]["columns"]["office"]["default"] = "'NLRTM'"
    assert not any("office" in f for f in expansion_faults(old, new, set()))
