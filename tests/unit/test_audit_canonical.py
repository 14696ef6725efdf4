"""The fast canonical form is byte for byte what the rfc8785 library produces, for any entry."""

from datetime import datetime, timezone

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.audit.canonical import canonical_entry, canonical_json
from concord.messaging.uow import AuditNote

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
maybe = st.none() | text
scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(values)
def test_canonical_json_matches_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.builds(AuditNote, action=text, resource=text, outcome=text, purpose=maybe, agreement=maybe,
                 detail=st.dictionaries(text, values, max_size=3), actor=maybe, agency=maybe, owner=maybe),
       st.integers(0, 2**40), maybe, st.datetimes(timezones=st.just(timezone.utc)))
def test_entries_match_rfc8785(note, seq, request_id, at):
    entry = {"seq": seq, "at": at.isoformat(), "actor": note.actor, "agency": note.agency, "action": note.action,
             "resource": note.resource, "purpose": note.purpose, "agreement": note.agreement, "outcome": note.outcome,
             "owner": note.owner, "request_id": request_id}
    if note.detail:
        entry["detail"] = note.detail
    assert canonical_entry(seq, at, note, request_id) == rfc8785.dumps(entry)


def test_a_float_in_the_detail_takes_the_library_path():
    note = AuditNote("a:b:c", "r/1", detail={"score": 0.1})
    at = datetime(2026, 1, 5, tzinfo=timezone.utc)
    assert b'"score":0.1' in canonical_entry(1, at, note, None)
