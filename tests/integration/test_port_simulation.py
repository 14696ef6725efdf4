"""The port simulation drives the real hub, is deterministic for a seed, and meets the issue's goals on a small port."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from concord.simulation.params import Params
from concord.simulation.run import compare

# A small port with more fraud than the default, so that a run of 160 declarations has enough irregular ones
# for the hit rates to mean something (the default 3 % gives about five): 10 %, 70 % of a risky trader's.
SMALL = dict(days=2, per_day=80, traders=60, irregular_share=0.10, risky_volume_share=0.10, risky_irregular_rate=0.7)
TIMINGS = ("seconds", "cpu_seconds", "declarations_per_second")


def _without_timings(result: dict) -> dict:
    out = {k: v for k, v in result.items() if k not in TIMINGS}
    for scenario in ("sequential", "coordinated"):
        out[scenario] = {k: v for k, v in result[scenario].items() if k not in TIMINGS}
    return out


@pytest.fixture(scope="module")
def small_port(tmp_path_factory):
    folder = tmp_path_factory.mktemp("port")
    return compare(Params(seed=11, **SMALL), folder), folder


def test_the_same_seed_gives_the_same_figures(small_port):
    first, _ = small_port
    again = compare(Params(seed=11, **SMALL))
    assert _without_timings(first) == _without_timings(again)
    assert first["sequential"]["released"] == 160 and first["coordinated"]["customs_inspections"] > 0


def test_the_simulation_goes_through_the_hubs_handlers(small_port):
    result, folder = small_port
    for scenario in ("sequential", "coordinated"):
        engine = create_engine(f"sqlite:///{folder / scenario}.db")
        with engine.connect() as conn:
            count = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
            assert count("SELECT count(*) FROM declarations") == result[scenario]["declarations"] == 160
            assert count("SELECT count(*) FROM declarations WHERE status = 'released'") == result[scenario]["released"]
            assert count("SELECT count(*) FROM agency_tasks WHERE agency != 'CUS'") > 0
            # every lodgement, decision and arrival left its audit entry
            assert count("SELECT count(*) FROM audit_entries WHERE action = 'declaration:lodged'") == 160
            assert count("SELECT count(*) FROM audit_entries WHERE action = 'declaration:arrival:recorded'") == 160
            decisions = count("SELECT count(*) FROM task_decisions")
            assert decisions == count("SELECT count(*) FROM audit_entries WHERE action = 'declaration:decision:recorded'")
            # customs' examinations are the hub's red lane: the risk step selected them, the simulation did not
            red = count("SELECT count(*) FROM declarations WHERE lane = 'red'")
            assert red == result[scenario]["customs_inspections"] > 0
            found = count("SELECT count(*) FROM task_decisions WHERE kind = 'approve_with_conditions'")
            assert found == result[scenario]["irregular_found"]
            if scenario == "coordinated":  # every bay visit was the product's joint inspection, held once per box
                visits = result[scenario]["bay_visits"]
                assert result[scenario]["joint_inspections_in_product"] == visits > 0
                assert result[scenario]["joint_inspections_refused_by_product"] == 0
                assert count("SELECT count(*) FROM joint_inspections WHERE status = 'finished'") == visits
                assert count("SELECT count(DISTINCT declaration_id) FROM joint_inspections") == visits
                assert count("SELECT count(*) FROM inspection_findings") >= visits
                # the box was examined in the product's slot: started within it, on the bay the product gave
                assert count("SELECT count(*) FROM joint_inspections WHERE started_at < slot_start "
                             "OR started_at >= slot_end OR facility != 'RTM-PORT' OR bay < 1") == 0
        engine.dispose()


def test_the_sequential_port_draws_at_random_the_share_risk_selects_in_the_coordinated_one(small_port):
    result, _ = small_port
    coordinated, sequential = result["coordinated"], result["sequential"]
    # estimated by the product's risk step on the same trade; the random draws then land near it, not on it
    assert sequential["random_inspection_rate"] > 0
    assert abs(sequential["random_inspection_rate"] - coordinated["customs_inspection_rate"]) <= 0.05
    assert coordinated["slot_wait_median_hours"] is not None and sequential["slot_wait_median_hours"] is None


def test_coordination_meets_the_goals_on_a_small_port(small_port):
    result, _ = small_port
    assert result["sequential"]["not_released"] == result["coordinated"]["not_released"] == 0
    assert result["reduction"] >= 0.30
    assert result["p90_reduction"] >= 0.30
    # risk selection against what random selection finds in expectation, at the same inspection rate
    assert result["hits_per_inspection_ratio_vs_base_rate"] >= 2
    assert result["coordinated"]["containers_moved_twice"] == 0
    assert result["inspections"]["coordinated"]["bay_visits"] <= result["inspections"]["sequential"]["bay_visits"]


def test_concord_simulate_port_prints_the_figures_as_json():
    from concord.cli import app

    out = CliRunner().invoke(app, ["simulate", "port", "--days", "1", "--per-day", "20", "--json"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.stdout[out.stdout.index("{"):])
    for key in ("reduction", "hits_per_inspection_ratio", "inspections"):
        assert key in figures
    for scenario in ("sequential", "coordinated"):
        assert figures[scenario]["median_hours"] is not None and figures[scenario]["p90_hours"] is not None


def test_each_sensitivity_variant_changes_one_factor_of_the_port():
    from dataclasses import fields

    from concord.simulation.sensitivity import variants

    base = Params()
    found = variants(base)
    assert len(found) == 22
    for name, varied in found.items():
        changed = [f.name for f in fields(Params) if getattr(varied, f.name) != getattr(base, f.name)]
        assert len(changed) == 1, (name, changed)
        if isinstance(getattr(base, changed[0]), dict):  # one agency's figure, not the whole table
            before, after = getattr(base, changed[0]), getattr(varied, changed[0])
            assert sum(before[k] != after[k] for k in before) == 1, name
