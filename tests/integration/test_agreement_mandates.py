"""Who may change an agreement: only its parties propose, every party old and new signs, one withdrawal suspends it."""

import pytest
import yaml
from sqlalchemy import select

from concord.agencies.messages import LoadConfig
from concord.agreements.messages import ChangeAgreementStatus, DraftAgreement, SignAgreement
from concord.agreements.models import AgreementSignature, SharingAgreement
from concord.errors import Conflict, Forbidden, NotFound
from support import demo_config_text, subjects

KEY = "SOP-VET-FDA-FOOD-RESULTS"


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def demo_agreement(key=KEY) -> dict:
    (row,) = [a for a in yaml.safe_load(demo_config_text())["agreements"] if a["key"] == key]
    row = {k: v for k, v in row.items() if k != "signed_by"}
    return row | {"valid_from": row["valid_from"].isoformat(), "valid_until": row["valid_until"].isoformat()}


def versions(app, key=KEY) -> list[tuple]:
    with app.sessions() as s:
        rows = s.scalars(select(SharingAgreement).where(SharingAgreement.key == key)
                         .order_by(SharingAgreement.version)).all()
        return [(a.version, a.provider, tuple(a.recipients), a.status) for a in rows]


def in_force(app, key=KEY) -> str:
    with app.sessions() as s:
        return s.scalar(select(SharingAgreement.id).where(SharingAgreement.key == key,
                                                          SharingAgreement.status == "active"))


def test_non_parties_cannot_rewrite_an_agreement(concord):
    """The finding: POL and ENV liaisons put a version naming themselves, signed it, and it superseded VET-FDA."""
    hijack = demo_agreement() | {"provider": "POL", "recipients": ["ENV"], "purposes": ["criminal_investigation"]}
    before = versions(concord)
    for liaison in ("pol-liaison", "env-liaison"):
        with pytest.raises(NotFound, match="no agreement"):  # as if it did not exist: non-parties learn nothing
            as_(concord, liaison, DraftAgreement(document=hijack, amend=True))
        with pytest.raises(NotFound):
            as_(concord, liaison, SignAgreement(agreement_id=in_force(concord)))
        with pytest.raises(NotFound):
            as_(concord, liaison, ChangeAgreementStatus(agreement_id=in_force(concord), status="suspended",
                                                        reason="take over"))
    with pytest.raises(Conflict, match="taken"):  # nor draft it anew under the same key
        as_(concord, "pol-liaison", DraftAgreement(document=hijack))
    with pytest.raises(Forbidden):  # an officer of a party is not its liaison
        as_(concord, "vet-officer", DraftAgreement(document=demo_agreement(), amend=True))
    assert versions(concord) == before == [(1, "VET", ("FDA",), "active")]


def test_a_party_adding_agencies_needs_every_old_and_new_party(concord):
    """VET may propose to share with POL instead of FDA, but FDA must agree before its agreement is replaced."""
    v2 = as_(concord, "vet-liaison", DraftAgreement(document=demo_agreement() | {"recipients": ["POL"]}, amend=True))
    assert v2["awaiting"] == ["FDA", "POL", "VET"]
    as_(concord, "pol-liaison", SignAgreement(agreement_id=v2["id"]))
    out = as_(concord, "vet-liaison", SignAgreement(agreement_id=v2["id"]))
    assert out["status"] == "awaiting_signatures" and out["awaiting"] == ["FDA"]
    assert versions(concord)[0][3] == "active"  # v1 still rules
    with pytest.raises(NotFound):  # ENV is no party of either version
        as_(concord, "env-liaison", SignAgreement(agreement_id=v2["id"]))
    with pytest.raises(Forbidden):  # FDA must sign, through its liaison
        as_(concord, "fda-officer", SignAgreement(agreement_id=v2["id"]))
    out = as_(concord, "fda-liaison", SignAgreement(agreement_id=v2["id"]))
    assert out["status"] == "active"
    assert versions(concord) == [(1, "VET", ("FDA",), "superseded"), (2, "VET", ("POL",), "active")]
    with pytest.raises(NotFound):  # FDA is no party of v2: it can neither amend nor suspend it
        as_(concord, "fda-liaison", DraftAgreement(document=demo_agreement(), amend=True))


def test_an_older_proposal_cannot_take_effect_after_a_newer_one(concord):
    a = as_(concord, "vet-liaison", DraftAgreement(document=demo_agreement() | {"title": "Version two"}, amend=True))
    b = as_(concord, "fda-liaison", DraftAgreement(document=demo_agreement() | {"title": "Version three"}, amend=True))
    for liaison in ("vet-liaison", "fda-liaison"):
        as_(concord, liaison, SignAgreement(agreement_id=b["id"]))
    assert [v[3] for v in versions(concord)] == ["superseded", "superseded", "active"]
    with pytest.raises(Conflict):
        as_(concord, "vet-liaison", SignAgreement(agreement_id=a["id"]))


def shared_with_fda(app) -> int:
    return len(app.access.book.matching("FDA", "inspection_result", "public_health", app.clock.now()))


def test_one_party_withdrawing_suspends_it_for_all_until_it_signs_again(concord):
    agreement = in_force(concord)
    assert shared_with_fda(concord) == 1
    out = as_(concord, "fda-liaison", ChangeAgreementStatus(agreement_id=agreement, status="suspended",
                                                            reason="data protection review"))
    assert out["status"] == "suspended" and out["awaiting"] == ["FDA"]
    assert shared_with_fda(concord) == 0
    with concord.sessions() as s:
        assert s.get(AgreementSignature, (agreement, "FDA")) is None
    with pytest.raises(Conflict, match="FDA withdrew"):  # the provider cannot override the recipient's withdrawal
        as_(concord, "vet-liaison", ChangeAgreementStatus(agreement_id=agreement, status="active", reason="resume"))
    as_(concord, "vet-liaison", ChangeAgreementStatus(agreement_id=agreement, status="suspended", reason="also"))
    out = as_(concord, "fda-liaison", ChangeAgreementStatus(agreement_id=agreement, status="active", reason="done"))
    assert out["status"] == "suspended" and out["awaiting"] == ["VET"]  # VET withdrew too: still suspended
    out = as_(concord, "vet-liaison", ChangeAgreementStatus(agreement_id=agreement, status="active", reason="done"))
    assert out["status"] == "active" and out["awaiting"] == [] and shared_with_fda(concord) == 1
    with pytest.raises(Forbidden):  # only the provider revokes
        as_(concord, "fda-liaison", ChangeAgreementStatus(agreement_id=agreement, status="revoked", reason="end"))


def test_a_config_reload_registers_new_keys_but_only_proposes_changes(concord):
    """An administrator's config vouches for paper signatures on a new agreement, never on a known one."""
    text = demo_config_text()
    hijack = text.replace("provider: VET\n    recipients: [FDA]", "provider: POL\n    recipients: [ENV]").replace(
        "signed_by: [VET, FDA]", "signed_by: [POL, ENV]")
    assert hijack != text
    new_key = hijack.replace("agreements:\n", "agreements:\n  - key: MOU-CUS-STD-PAPER\n"
                             "    title: Customs data for product safety, signed on paper\n"
                             "    provider: CUS\n    recipients: [STD]\n    purposes: [product_safety]\n"
                             "    legal_basis: Regulation (EU) 2019/1020, Art. 25\n"
                             "    scopes: [{resource: declaration, fields: [/lrn]}]\n"
                             "    valid_from: 2026-01-01T00:00:00+00:00\n    valid_until: 2027-01-01T00:00:00+00:00\n"
                             "    signed_by: [CUS, STD]\n", 1)
    admin = subjects(concord)["admin"]
    concord.bus.handle(LoadConfig(text=new_key, source="reload"), subject=admin)
    assert versions(concord) == [(1, "VET", ("FDA",), "active"), (2, "POL", ("ENV",), "draft")]
    assert versions(concord, "MOU-CUS-STD-PAPER") == [(1, "CUS", ("STD",), "active")]
    with concord.sessions() as s:
        v2 = s.scalar(select(SharingAgreement).where(SharingAgreement.key == KEY, SharingAgreement.version == 2))
        assert s.scalars(select(AgreementSignature).where(AgreementSignature.agreement_id == v2.id)).all() == []
    concord.bus.handle(LoadConfig(text=new_key, source="reload"), subject=admin)  # the same again: nothing new
    assert len(versions(concord)) == 2
    for liaison in ("pol-liaison", "env-liaison"):
        as_(concord, liaison, SignAgreement(agreement_id=v2.id))
    assert versions(concord)[0][3] == "active" and versions(concord)[1][3] == "awaiting_signatures"
    for liaison in ("vet-liaison", "fda-liaison"):
        as_(concord, liaison, SignAgreement(agreement_id=v2.id))
    assert [v[3] for v in versions(concord)] == ["superseded", "active"]  # every old and new party agreed


def test_a_grant_counts_only_from_the_agency_that_owns_the_record(concord):
    """Requests name the agency to ask without the hub confirming anything; naming the wrong one opens nothing."""
    from datetime import timedelta

    from concord.access.policy import Ref, authorize
    from concord.agreements.messages import BreakGlass, DecideAccessRequest, RequestAccess
    from concord.risk.messages import AddWatchlistEntry

    later = (concord.clock.now() + timedelta(days=30)).isoformat()
    entry = as_(concord, "nppo-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Verdant Seeds Trading Ltd", "country": "KE"},
        "reason": "uncertified seed potatoes", "severity": "medium", "expires_at": later}))["id"]
    resource, why = f"watchlist_entry/{entry}", "public_health"
    fda = subjects(concord)["fda-officer"]

    def sees() -> bool:
        with concord.sessions() as s:
            return authorize(fda, "read", Ref("watchlist_entry", entry, "NPPO"), why, session=s, access=concord.access).allowed

    wrong = as_(concord, "fda-officer", RequestAccess(resource=resource, provider="POL", purpose=why,
                                                      justification="importer named on a food alert"))
    with pytest.raises(Conflict, match="not a record of POL"):
        as_(concord, "pol-liaison", DecideAccessRequest(request_id=wrong["id"], grant=True, reason="sure"))
    as_(concord, "fda-officer", BreakGlass(resource=resource, provider="POL", purpose=why,
                                           justification="outbreak traced to this seller, acting now"))
    assert not sees()
    right = as_(concord, "fda-officer", RequestAccess(resource=resource, provider="NPPO", purpose=why,
                                                      justification="importer named on a food alert"))
    with pytest.raises(NotFound):  # a request is visible to the two agencies concerned only
        as_(concord, "pol-liaison", DecideAccessRequest(request_id=right["id"], grant=True, reason="sure"))
    as_(concord, "nppo-liaison", DecideAccessRequest(request_id=right["id"], grant=True, reason="ok", hours=2))
    assert sees()


def test_a_request_is_checked_before_it_is_stored_without_a_lookup(concord):
    from concord.agreements.messages import RequestAccess
    from concord.errors import InvalidDocument

    for resource, provider, pointer in (("declaration/" + "D" * 120, None, "/resource"),
                                        ("operation/1", "POL", "/resource"),  # incidents may be asked for, operations not
                                        ("watchlist_entry/WLE1", None, "/provider"),
                                        ("watchlist_entry/WLE1", "XYZ", "/provider"),
                                        ("declaration/DCL1", "POL", "/provider")):
        with pytest.raises(InvalidDocument) as e:
            as_(concord, "fda-officer", RequestAccess(resource=resource, provider=provider, purpose="public_health",
                                                      justification="importer named on a food alert"))
        assert [p.pointer for p in e.value.problems] == [pointer]


def test_the_last_two_signatures_at_once_activate_the_version_once(concord):
    from concurrent.futures import ThreadPoolExecutor

    v2 = as_(concord, "vet-liaison", DraftAgreement(document=demo_agreement() | {"title": "Version two"}, amend=True))
    with ThreadPoolExecutor(2) as pool:
        out = list(pool.map(lambda u: as_(concord, u, SignAgreement(agreement_id=v2["id"])),
                            ["vet-liaison", "fda-liaison"]))
    assert sorted(o["status"] for o in out) == ["active", "awaiting_signatures"]
    assert [v[3] for v in versions(concord)] == ["superseded", "active"]
