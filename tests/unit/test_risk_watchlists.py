"""Watchlist matching: exact identifiers by index, party names normalized, expiry, the screening hook."""

from datetime import datetime, timedelta, timezone

from concord.declarations.schemas import parse_declaration
from concord.risk.catalogue.watchlists import CompiledWatchlists, Listed, normalize_name
from support import declaration, item

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def entry(kind: str, value: dict, entry_id: str = "W1", expires_at=None) -> Listed:
    return Listed(entry_id, 1, "POL", kind, value, "intelligence", "high", expires_at)


def matched(entries: list[Listed], doc: dict, now=NOW) -> list[tuple[str, str, str]]:
    return [(h.entry.id, h.pointer, h.matched) for h in CompiledWatchlists(entries, 1).match(doc, now)]


def doc(**changes) -> dict:
    return parse_declaration(declaration(**changes)).model_dump(mode="json")


def test_each_kind_matches_on_its_field():
    d = doc(items=[item("610910", "T-shirts", "BD"), item("240220", "Cigarettes", "AE")])
    entries = [entry("container", {"number": "MSCU1234566"}, "C"), entry("vessel", {"imo": "IMO9074729"}, "V"),
               entry("party", {"identifier": "ec-exp 000001"}, "P"), entry("route", {"from": "EC", "to": "NLRTM"}, "R"),
               entry("route", {"from": "EC", "to": "NL"}, "R2"), entry("route", {"from": "EC"}, "R3"),
               entry("hs_origin", {"hs_prefix": "2402", "origin": "AE"}, "H"),
               entry("hs_origin", {"hs_prefix": "2402", "origin": "CN"}, "H-OTHER"),
               entry("route", {"from": "CN"}, "R-OTHER")]
    assert matched(entries, d) == [
        ("P", "/exporter/id", "identifier"), ("C", "/transport/containers/0", "number"),
        ("V", "/transport/conveyance", "imo"), ("R", "/office_of_entry", "route"), ("R2", "/office_of_entry", "route"),
        ("R3", "/office_of_entry", "route"), ("H", "/items/1/hs_code", "hs_origin")]


def test_party_names_match_normalized_and_exactly_with_the_country_when_given():
    d = doc()
    assert normalize_name("  Guayaquil Bánana-Exporters, S.A. ") == "guayaquil banana exporters s a"
    assert matched([entry("party", {"name": "GUAYAQUIL BANANA EXPORTERS SA"})], d) == [("W1", "/exporter/name", "name")]
    assert matched([entry("party", {"name": "Guayaquil Banana Exporters SA", "country": "PE"})], d) == []
    assert matched([entry("party", {"name": "Guayaquil Banana Exporter"})], d) == []  # fuzzy is screening's job


def test_expired_entries_do_not_match():
    d = doc()
    listed = entry("container", {"number": "MSCU1234566"}, expires_at=NOW + timedelta(days=1))
    assert matched([listed], d, NOW) and not matched([listed], d, NOW + timedelta(days=2))


def test_a_name_matcher_plugs_in():
    class Everyone:
        def __init__(self, entries):
            self.entries = entries

        def match(self, name, country):
            return [(e, 0.9) for e in self.entries]

    index = CompiledWatchlists([entry("party", {"name": "Someone else"})], 1, names=Everyone)
    hits = index.match(doc(), NOW)
    assert [(h.pointer, h.score) for h in hits] == [("/declarant/name", 0.9), ("/importer/name", 0.9),
                                                    ("/exporter/name", 0.9)]


def test_party_screening_plugs_in_for_names_with_a_score():
    from concord.risk.catalogue.watchlists import ScreeningNames

    listed = entry("party", {"name": "Guayaquil Bananna Exporter S.A."})
    hits = CompiledWatchlists([listed], 1, names=ScreeningNames).match(doc(), NOW)
    assert [h.pointer for h in hits] == ["/exporter/name"] and 0.82 <= hits[0].score < 0.95  # reported, not forcing
