"""The screening goals on the shared benchmark data (a sample of the negatives; `concord bench screening` runs all of it)."""

from pathlib import Path

import pytest

from concord.bench.screening import false_alarms, un_recall
from concord.screening.lists import load_csv, read_rows
from concord.screening.matching import DEFAULT_THRESHOLD, WatchlistIndex
from concord.bench.name_pairs import name_pairs

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "screening"
pytestmark = pytest.mark.skipif(not (DATA / "positives_un_untreated.csv").exists(),
                                reason=f"benchmark data not found at {DATA} (the shared data folder beside the repo)")


@pytest.fixture(scope="module")
def un():
    return load_csv(DATA / "positives_un_untreated.csv", owner_agency="UN")


@pytest.fixture(scope="module")
def index(un):
    return WatchlistIndex(un.entries)


def test_every_treated_un_row_finds_its_own_row(un, index):
    result = un_recall(index, read_rows(DATA / "positives_un_treated.csv"), [e.id for e in un.entries],
                       DEFAULT_THRESHOLD)
    assert result["recall"] >= 0.99, result["misses"]


def test_names_on_no_list_rarely_raise_a_match(index):
    sample = read_rows(DATA / "negatives_global.csv")[:2500] + read_rows(DATA / "negatives_us.csv")[:2500]
    result = false_alarms(index, sample, DEFAULT_THRESHOLD)
    assert result["rate"] <= 0.001, result["examples"]


def test_name_pairs_f1(tmp_path):
    result = name_pairs(DATA / "name_pairs.csv", DEFAULT_THRESHOLD)
    assert result["at_threshold"]["f1"] >= 0.85
    assert result["cross_validated"]["f1"] >= 0.85
