"""No field outside the view ever leaves through redaction (generated documents and views)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord.access.redaction import redact

keys = st.sampled_from(["lrn", "importer", "name", "id", "items", "hs_code", "value", "amount", "origin"])
leaf = st.one_of(st.integers(), st.text(max_size=5))
docs = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
                    max_leaves=12)
views = st.lists(st.lists(st.one_of(keys, st.just("*"), st.sampled_from(["0", "1"])), min_size=1, max_size=4)
                 .map(lambda parts: "/" + "/".join(parts)), max_size=4)


def leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaves(v, path + (str(i),))
    elif doc is not None:  # None only stands in for an element outside the view
        yield path


def allowed(path, view):
    for ptr in view:
        parts = ptr.split("/")[1:]
        if len(parts) <= len(path) and all(p == "*" and q.isdigit() or p == q for p, q in zip(parts, path)):
            return True
    return False


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(keys, docs, max_size=5), views)
def test_nothing_outside_the_view_survives(doc, view):
    out = redact(doc, tuple(view))
    for path in leaves(out):
        assert allowed(path, view), (path, view)


def test_whole_view_and_wildcards():
    doc = {"items": [{"hs_code": "1", "value": 2}, {"hs_code": "3", "value": 4}], "lrn": "x"}
    assert redact(doc, ("/",)) is doc
    assert redact(doc, ("/items/*/hs_code",)) == {"items": [{"hs_code": "1"}, {"hs_code": "3"}]}
