"""Scoring, qualifiers, explanations, blocking and the keys a decision on a match is stored under."""

import pytest

from concord.errors import InvalidDocument
from concord.screening.lists import watchlist_from_records
from concord.screening.matching import DEFAULT_THRESHOLD, WatchlistIndex, name_keys, screen_name
from concord.screening.normalize import normalize_name
from concord.screening.qualifiers import compare_birth_dates, country_code
from concord.screening.results import ScreeningQuery
from concord.screening.scoring import compare_names


def score(a: str, b: str, kind: str = "unknown") -> float:
    return compare_names(normalize_name(a, kind), normalize_name(b, kind)).score


@pytest.mark.parametrize("a, b", [
    ("SALEK, ABDULHAI", "ABDULHAI SALEK"),  # reordered
    ("Bin Salman Mohammed", "Mohammed bin Salman"),
    ("HAFIZ ABUDL SALAM BHUTTAVI", "HAFIZ ABDUL SALAM BHUTTAVI"),  # transposed letters
    ("Muhammad bin Salman", "Mohammed bin Salman"),  # transliteration variant
    ("Barack Obama", "Барак Обама"),  # another script
    ("AlisherUsmanov", "Alisher Usmanov"),  # words run together
    ("Hans J Friedrich", "Hans Joachim Friedrich"),  # an initial
    ("Mr. Recep Tayyip Erdoğan", "Recep Tayyip Erdogan"),
    ("FAZL RABI ABDUL HAMID", "FAZL RABI"),  # the father's name added
])
def test_variants_of_one_name_match(a, b):
    assert score(a, b) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("a, b", [
    ("Sergey Ivanov", "Sergey Viktorovich LAVROV"),  # one shared given name
    ("BARZAN IBRAHIM HASSAN AL-MOSULI", "BARZAN IBRAHIM HASSAN AL-TIKRITI"),  # another family
    ("Hans O Friedrich", "Hans Joachim Friedrich"),  # an initial that fits no name
    ("WALIJAN", "WALIJAN ABDUL GHAFOOR HAQQANI"),  # a single word inside a long name
    ("Volkswagen AG", "Siemens AG"),  # only the legal form in common
])
def test_different_names_do_not_match(a, b):
    assert score(a, b) < DEFAULT_THRESHOLD


def test_company_suffixes_do_not_count():
    assert score("Deutsche Bank AG", "Deutsche Bank Aktiengesellschaft", "company") == 1.0
    assert score("CRYSTALORD LIMITED", "CRISTALORD LTD", "company") >= DEFAULT_THRESHOLD


def test_explanation_says_which_parts_matched_how():
    result = compare_names(normalize_name("Jonson, Boris"), normalize_name("Boris Johnson Smith"))
    how = {(p.query, p.entry): p.how for p in result.pairs}
    assert how == {("boris", "boris"): "exact", ("jonson", "johnson"): "phonetic"}
    assert result.entry_only == ("smith",) and result.query_only == ()


def _index(**entry):
    record = {"full_name": "ABDULHAI SALEK", "date_of_birth": "1965", "nationality": "af"} | entry
    return WatchlistIndex(watchlist_from_records([record], list_id="un", owner_agency="UN").entries)


def test_qualifiers_raise_agreeing_and_lower_conflicting_matches():
    index = _index()
    agreed = screen_name(index, "Abdulhai Salek", date_of_birth="1965-02-01", nationality="Afghanistan")[0]
    conflicted = index.screen(ScreeningQuery("Abdulhai Salek", birth_dates=("1990",), countries=("FR",)),
                              threshold=0)[0]
    assert agreed.score > conflicted.score
    outcomes = {q.qualifier: q.outcome for q in conflicted.qualifiers}
    assert outcomes == {"birth_date": "conflicted", "country": "conflicted"}
    # Lists carry wrong birth years and changed nationalities, so an identical name still raises a match.
    assert conflicted.score < conflicted.name.score == 1.0


def test_birth_dates_a_year_apart_are_close_not_conflicting():
    assert compare_birth_dates(("1988-01-06",), ("1989-01-06",)).outcome == "close"
    assert compare_birth_dates(("1969",), ("1960", "1969")).outcome == "agreed"
    assert compare_birth_dates((), ("1969",)) is None


@pytest.mark.parametrize("raw, code", [("af", "AF"), ("Iraq", "IQ"), ("South Korea", "KR"), ("Russia", "RU"),
                                       ("Ivory Coast", "CI"), ("Atlantis", None), ("", None)])
def test_countries_normalize_to_iso2(raw, code):
    assert country_code(raw) == code


def test_match_carries_entry_id_and_a_fingerprint_that_changes_with_either_side():
    index = _index()
    first = screen_name(index, "SALEK ABDULHAI")[0]
    assert first.entry_id == "un:0"
    assert screen_name(index, "Salek, Abdulhai")[0].fingerprint == first.fingerprint  # same normalized name
    assert screen_name(index, "SALEK ABDUL HAI")[0].fingerprint != first.fingerprint
    changed_entry = screen_name(_index(date_of_birth="1966"), "SALEK ABDULHAI")[0]
    assert changed_entry.entry_id == first.entry_id and changed_entry.fingerprint != first.fingerprint


def test_hit_no_hit_view_hides_the_entry():
    match = screen_name(_index(), "Abdulhai Salek", date_of_birth="1965")[0]
    hidden = match.as_dict(view="hit")
    assert hidden["hit"] is True and hidden["owner_agency"] == "UN"
    assert "name" not in hidden and "explanation" not in hidden and "entry_id" not in hidden
    full = match.as_dict()
    assert full["name"] == "ABDULHAI SALEK" and full["explanation"]["qualifiers"]


def test_aliases_and_identifiers_are_screened():
    records = [{"name": "Tactical Missiles Corporation JSC", "kind": "company", "aliases": "KTRV; Корпорация ТРВ",
                "identifiers": "INN:7722383894", "country": "Russia"}]
    index = WatchlistIndex(watchlist_from_records(records, list_id="eu", owner_agency="EU").entries)
    assert screen_name(index, "KTRV")[0].matched_name == "KTRV"
    by_id = index.screen(ScreeningQuery("Some Trading House", identifiers=(("INN", "7722383894"),)))
    assert by_id and by_id[0].score == 1.0
    assert {q.outcome for q in by_id[0].qualifiers} >= {"agreed"}


def test_a_record_without_a_name_is_reported_with_a_pointer():
    with pytest.raises(InvalidDocument) as e:
        watchlist_from_records([{"name": "ok"}, {"date_of_birth": "1970"}], list_id="x", owner_agency="X")
    assert e.value.problems[0].pointer == "/1/name"


def test_blocking_reads_few_entries_per_query():
    records = [{"full_name": f"Person{i} Family{i % 50}"} for i in range(2000)]
    index = WatchlistIndex(watchlist_from_records(records, list_id="big", owner_agency="X").entries,
                           max_candidates=20)
    assert len(index._candidates(ScreeningQuery("Person7 Family7"))) <= 20
    assert screen_name(index, "Person7 Family7")[0].entry.row == 7
    assert "t:person7" in name_keys(normalize_name("Person7 Family7"))


def test_an_updated_entry_replaces_its_older_version_and_a_removed_one_stops_matching():
    index = _index()
    updated = watchlist_from_records([{"full_name": "ABDULHAI SALEK", "date_of_birth": "1966"}], list_id="un",
                                     owner_agency="UN").entries
    index.add(updated)
    matches = screen_name(index, "Abdulhai Salek")
    assert len(index) == 1 and len(matches) == 1 and matches[0].entry.birth_dates == ("1966",)
    index.remove("un:0")
    assert screen_name(index, "Abdulhai Salek") == [] and len(index) == 0


def test_hit_no_hit_lists_show_the_entry_to_the_owner_only():
    entries = watchlist_from_records([{"full_name": "ABDULHAI SALEK"}], list_id="pol", owner_agency="POLICE",
                                     sharing="hit_no_hit").entries
    match = screen_name(WatchlistIndex(entries), "Abdulhai Salek")[0]
    assert match.view_for("CUSTOMS") == "hit" and match.view_for("POLICE") == "full"
