"""Property: under generated agreements, subjects and purposes, no field outside the allowed view leaves by any
path (read, timeline, list, export), and counts never reveal hidden records. The oracle below restates the access rule on plain data."""

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from concord.agreements.models import SharingAgreement
from concord.bootstrap import bootstrap
from concord.clearance.models import AgencyTask
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations import queries
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.errors import NotFound
from concord.ids import new_id
from support import declaration, demo_config_text, item, subjects

POINTERS = ["/lrn", "/importer/name", "/importer/id", "/exporter", "/items/*/hs_code", "/items/*/origin",
            "/items/*/value", "/transport/containers", "/declarant/address"]
PURPOSES = ["criminal_investigation", "public_health", "product_safety"]
PARTNERS = ["POL", "FDA", "STD", "NPPO"]
GOODS = [("080390", "EC", ["N851"]), ("610910", "BD", []), ("030617", "VN", []), ("950300", "CN", []),
         ("090111", "BR", ["N851"])]

scope = st.fixed_dictionaries({
    "resource": st.sampled_from(["declaration", "inspection_result"]),
    "fields": st.lists(st.sampled_from(POINTERS), min_size=1, max_size=4, unique=True),
    "condition": st.fixed_dictionaries({"hs_chapters": st.lists(st.sampled_from(["08", "61", "03", "95", "09"]),
                                                                max_size=2, unique=True),
                                        "origins": st.lists(st.sampled_from(["EC", "BD", "VN", "CN", "BR"]),
                                                            max_size=2, unique=True)})})
agreement = st.fixed_dictionaries({
    "recipients": st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=2, unique=True),
    "purposes": st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True),
    "status": st.sampled_from(["active", "active", "suspended", "draft", "revoked"]),
    "expired": st.booleans(),
    "scopes": st.lists(scope, min_size=1, max_size=2)})


def leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from leaves(v, path + ("*",))
    elif doc is not None:
        yield path


def allowed(path, fields) -> bool:
    return "/" in fields or any(tuple(f.split("/")[1:]) == path[:len(f.split("/")) - 1] for f in fields)


def oracle(agreements, tasks, d, agency, purpose, now):
    """Visible? and with which fields — restated from the rule, on plain data."""
    fields = set()
    for t in tasks:
        if t.declaration_id == d.id and t.agency == agency and t.declaration_version == d.version:
            fields |= set(t.fields)
    for a in agreements:
        if a["status"] != "active" or a["expired"] or agency not in a["recipients"] or purpose not in a["purposes"]:
            continue
        for sc in a["scopes"]:
            cond = sc["condition"]
            chapters = set(d.hs_chapters.strip(",").split(","))
            origins = set(d.origins.strip(",").split(","))
            if sc["resource"] == "declaration" and (not cond["hs_chapters"] or chapters & set(cond["hs_chapters"])) \
                    and (not cond["origins"] or origins & set(cond["origins"])):
                fields |= set(sc["fields"])
    return bool(fields), fields


def test_no_field_leaves_outside_the_view(tmp_path):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", var_dir=tmp_path),
                    clock=FixedClock(datetime(2026, 6, 1, tzinfo=timezone.utc)))
    from concord.agencies.messages import LoadConfig

    app.bus.handle(LoadConfig(text=demo_config_text().split("\nagreements:")[0]))
    who = subjects(app)
    for i, (hs, origin, docs) in enumerate(GOODS * 2):
        items = [item(hs, "goods", origin, documents=docs)]
        if i % 3 == 0:  # some declarations mix goods of two chapters
            hs2, origin2, docs2 = GOODS[(i + 1) % len(GOODS)]
            items.append(item(hs2, "other goods", origin2, documents=docs2))
        doc = declaration(lrn=f"P{i}", items=items)
        app.bus.handle(SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")),
                       subject=who["hollandfoods"])
    with app.sessions() as s:
        decls = s.scalars(select(Declaration)).all()
        tasks = s.scalars(select(AgencyTask)).all()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(agreement, max_size=3), st.sampled_from(PARTNERS), st.sampled_from(PURPOSES + [None]))
    def check(agreements, agency, purpose):
        now = app.clock.now()
        with app.sessions() as s:
            s.execute(delete(SharingAgreement))
            for n, a in enumerate(agreements):
                s.add(SharingAgreement(
                    id=new_id("AGR"), key=f"K{n}", version=1, title="generated", provider="CUS",
                    recipients=a["recipients"], purposes=a["purposes"], legal_basis="generated", scopes=a["scopes"],
                    handling={}, valid_from=datetime(2026, 1, 1, tzinfo=timezone.utc),
                    valid_until=datetime(2026, 5 if a["expired"] else 12, 1, tzinfo=timezone.utc),
                    status=a["status"], created_by="t", created_at=now, changed_at=now, status_reason=None))
            s.commit()
        s = app.sessions()
        app.access.book.invalidate()
        subject = who[f"{agency.lower()}-officer"]
        expected = {}
        for d in decls:
            visible, fields = oracle(agreements, tasks, d, agency, purpose, now)
            if visible:
                expected[d.id] = fields
            try:
                got = queries.get_declaration(s, subject, d.id, {}, purpose, access=app.access)
            except NotFound:
                assert not visible, (d.id, agency, purpose)
                for path in (queries.timeline,):
                    try:
                        path(s, subject, d.id, purpose, access=app.access)
                        raise AssertionError("timeline of a hidden declaration")
                    except NotFound:
                        pass
                continue
            assert visible, (d.id, agency, purpose)
            for leaf in leaves(got["document"]):
                assert allowed(leaf, fields), (leaf, fields)
        listed = queries.list_declarations(s, subject, purpose=purpose, limit=500, access=app.access)
        assert listed["total"] == len(expected) and {d["id"] for d in listed["items"]} == set(expected)
        exported = list(queries.export_declarations(s, subject, purpose=purpose, batch=3, access=app.access))
        assert {row["id"] for row in exported} == set(expected)
        for row in exported:
            for leaf in leaves(row["document"]):
                assert allowed(leaf, expected[row["id"]]), (leaf, expected[row["id"]])
        page = queries.list_declarations(s, subject, purpose=purpose, limit=1, access=app.access)
        assert page["total"] == len(expected) and len(page["items"]) == min(1, len(expected))
        s.close()

    check()
    app.close()
