"""Bootstrap is the one place that wires the hub: its parts are typed fields, built there and passed explicitly."""

from sqlalchemy.orm import sessionmaker

from concord.access.policy import authorize, declaration_scope
from concord.declarations import queries
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration
from support import declaration, subjects


def test_the_access_rule_works_on_a_session_from_any_factory(sqlite_concord):
    """Sessions carry no dependencies: the policy reads the hub's access context, passed to it."""
    hub = sqlite_concord
    who = subjects(hub)
    lodged = hub.bus.handle(SubmitDeclaration(document=declaration()), subject=who["hollandfoods"])
    with sessionmaker(hub.engine)() as plain:  # not the hub's factory
        d = plain.get(Declaration, lodged["id"])
        assert authorize(who["hollandfoods"], "read", d, session=plain, access=hub.access).allowed
        assert authorize(who["cus-officer"], "read", d, session=plain, access=hub.access).basis == "role:lead-agency"
        assert not authorize(who["eurotech"], "read", d, session=plain, access=hub.access).allowed
        assert not authorize(who["pol-officer"], "read", d, session=plain, access=hub.access).allowed
        assert plain.query(Declaration).filter(declaration_scope(who["pol-officer"], session=plain,
                                                                 access=hub.access)).count() == 0
        seen = queries.get_declaration(plain, who["hollandfoods"], d.id, {}, access=hub.access)
        assert seen["access_basis"] == "owner"


def test_bootstrap_builds_every_part_the_routes_use(sqlite_concord):
    hub = sqlite_concord
    assert hub.tokens is not None and hub.lodging_queue is not None and hub.audit_nodes is not None
    assert hub.access.clock is hub.clock and hub.bus.deps["access"] is hub.access
    assert hub.bus.deps["book"] is hub.access.book
    assert set(hub.config_sections) == {"agreements", "sps_certificates", "inspection_facilities"}
    assert set(hub.resource_owners) == {"watchlist_entry", "incident"}
    assert set(hub.periodic) == {"screening-index", "audit-summaries", "operation-escalations", "notice-feedback",
                                 "notification-retention", "risk-drift", "risk-declarations"}
    # PostgreSQL adds the lane exchange (its own thread, `hub.lanes`) and its prune; several workers add
    # "metrics-publish" to both. The rest of `periodic` runs on the leader.
    assert hub.per_worker == {"screening-index", "audit-summaries", "risk-declarations"} and hub.lanes is None
    assert hub.leadership.leading  # SQLite: one process, always the leader
    assert hub.notifications is not None and not hub.notifications.started  # the server starts it
    screening = hub.bus.deps["screening"]
    assert screening is hub.screening and hub.risk is hub.bus.deps["risk"] and hub.risk.screening is screening
    assert screening.clock is hub.clock and screening.lead_of == hub.lead_agency
    assert hub.sessions.kw.get("info") is None  # nothing travels in session.info
