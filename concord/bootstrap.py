"""The only place that picks implementations: database, bus transport, clock."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from concord.access import handlers as access
from concord.access.context import AccessContext
from concord.access.handlers import TokenReader
from concord.access.messages import IssueToken, RevokeToken
from concord.agencies import handlers as agencies
from concord.agencies.directory import Directory
from concord.agencies.messages import LoadConfig
from concord.agreements import handlers as agreements
from concord.agreements.book import AgreementBook
from concord.agreements.messages import (BreakGlass, ChangeAgreementStatus, DecideAccessRequest, DraftAgreement,
                                         RequestAccess, SignAgreement)
from concord.audit import summaries as audit_summaries
from concord.audit.log import AuditLog
from concord.audit.summaries import Summaries
from concord.audit.tree import NodeCache
from concord.clearance import handlers as clearance
from concord.clearance.messages import CheckDeadlines, DecideTask, GoodsInspected, SupplyDocuments
from concord.clock import Clock
from concord.config import Settings, get_settings
from concord.db import make_engine, make_session_factory
from concord.declarations import handlers as declarations
from concord.declarations.grouping import LodgingQueue
from concord.declarations.messages import (AmendDeclaration, CancelDeclaration, LodgeGroup, RecordArrival,
                                           SubmitDeclaration)
from concord.messaging.audiences import messages_for
from concord.messaging.bus import MessageBus
from concord.messaging.outbox import OutboxRelay
from concord.messaging.transports import InProcessTransport, NatsTransport
from concord.messaging.uow import UnitOfWork
from concord.risk import handlers as risk_handlers
from concord.risk import queries as risk_queries
from concord.risk.messages import (AddWatchlistEntry, CreateRule, OutcomeRecorded, RecordOutcome, RemoveWatchlistEntry,
                                   RetireRule, TryRule)
from concord.risk.messages import CheckModelDrift
from concord.risk.scoring.step import RiskStep
from concord.screening import handlers as screening
from concord.screening.messages import LoadScreeningList, RecordMatchDecision, ScreenName
from concord.screening.service import PartyScreening

COMMANDS = {
    LoadConfig: agencies.load_config,
    IssueToken: access.issue_token,
    RevokeToken: access.revoke_token,
    SubmitDeclaration: declarations.submit_declaration,
    LodgeGroup: declarations.lodge_group,
    AmendDeclaration: declarations.amend_declaration,
    CancelDeclaration: declarations.cancel_declaration,
    RecordArrival: declarations.record_arrival,
    DecideTask: clearance.decide_task,
    SupplyDocuments: clearance.supply_documents,
    CheckDeadlines: clearance.check_deadlines,
    DraftAgreement: agreements.draft_agreement,
    SignAgreement: agreements.sign_agreement,
    ChangeAgreementStatus: agreements.change_agreement_status,
    RequestAccess: agreements.request_access,
    DecideAccessRequest: agreements.decide_access_request,
    BreakGlass: agreements.break_glass,
    CreateRule: risk_handlers.create_rule,
    RetireRule: risk_handlers.retire_rule,
    AddWatchlistEntry: risk_handlers.add_watchlist_entry,
    RemoveWatchlistEntry: risk_handlers.remove_watchlist_entry,
    RecordOutcome: risk_handlers.record_outcome,
    TryRule: risk_queries.try_rule,
    CheckModelDrift: risk_handlers.check_model_drift,
    ScreenName: screening.screen_name,
    RecordMatchDecision: screening.record_match_decision,
    LoadScreeningList: screening.load_screening_list,
}
# Sections of the coordination config that other packages validate and store: name -> (validate, store).
CONFIG_SECTIONS = {"agreements": (agreements.validate_config_section, agreements.store_config_section)}
# Records other than declarations that access requests may name (`watchlist_entry/ID`): type -> owner_of(session, id).
RESOURCE_OWNERS = {"watchlist_entry": screening.owner_of}


@dataclass
class Concord:
    """The wired application: what the API, the CLI and the tests all run on."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    clock: Clock
    directory: Directory
    audit_log: AuditLog
    transport: object
    bus: MessageBus = None
    write_lock: threading.Lock | None = None
    periodic: dict = field(default_factory=dict)  # name -> (seconds, job): what the server runs in the background
    access: AccessContext | None = None  # what `authorize` reads besides the record: clock, agreements, lead agency
    risk: RiskStep | None = None  # the risk step the declaration pipeline calls
    screening: PartyScreening | None = None  # party screening against the stored lists and agency watchlists
    tokens: TokenReader | None = None  # bearer tokens read on every request
    lodging_queue: LodgingQueue | None = None  # the API's group commit of lodgings
    audit_nodes: NodeCache | None = None  # stored subtrees of the audit log: they never change, no invalidation
    auth_refusals: Summaries | None = None  # refused tokens counted per client (rate limit, one entry per window)
    read_denials: Summaries | None = None  # denied reads counted per reader, for the access reports
    on_stop: list = field(default_factory=list)  # what the server runs when it stops (flush what is still counted)
    config_sections: dict = field(default_factory=lambda: dict(CONFIG_SECTIONS))
    resource_owners: dict = field(default_factory=lambda: dict(RESOURCE_OWNERS))

    def uow(self, subject=None, request_id=None) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, self.audit_log, subject=subject, request_id=request_id,
                          write_lock=self.write_lock, outbox=self.bus.relay if self.bus is not None else None)

    def lead_agency(self, session) -> str:
        """The lead (customs) agency of the config in force."""
        return self.directory.current(session).lead

    def close(self) -> None:
        if hasattr(self.transport, "close"):
            self.transport.close()
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None, create_schema: bool = True,
              transport=None) -> Concord:
    """Wire Concord for the configured database and transport."""
    settings = settings or get_settings()
    url = settings.resolved_database_url()
    engine = make_engine(url)
    if create_schema:
        from concord.migrations import upgrade

        upgrade(engine)
    clock = clock or Clock()
    sessions = make_session_factory(engine)
    if transport is None:
        transport = (NatsTransport(settings.nats_url, settings.nats_stream, settings.nats_subject_prefix) if settings.bus_transport == "nats"
                     else InProcessTransport())
    app = Concord(settings, engine, sessions, clock, Directory(), AuditLog(), transport,
                  write_lock=threading.RLock() if url.startswith("sqlite") else None)
    app.access = AccessContext(clock, AgreementBook(sessions), app.lead_agency)
    app.screening = parties = PartyScreening.from_settings(settings, clock=clock, lead_of=app.lead_agency)
    # The model registry is the deployment's var/models; a bootstrap for a test or a tool passes its own var_dir.
    app.risk = risk = RiskStep(clock=clock, model_root=settings.models_dir(), screening=parties,
                               strong_match=settings.screening_lane_threshold)
    deps = {"directory": app.directory, "risk": risk, "clock": clock, "app": app, "book": app.access.book, "access": app.access,
            "screening": parties, "config_sections": app.config_sections,
            "resource_owners": app.resource_owners}
    audiences = functools.partial(messages_for, access=app.access)  # each event cut for each audience, as reads are
    app.bus = MessageBus(app.uow, deps, OutboxRelay(sessions, transport, clock, write_lock=app.write_lock,
                                                    audiences=audiences))
    for command, handler in COMMANDS.items():
        app.bus.register(command, handler)
    app.bus.subscribe(GoodsInspected, risk_handlers.outcome_from_inspection)
    app.bus.subscribe(OutcomeRecorded, risk_handlers.feed_model)
    app.periodic["risk-drift"] = (3600.0, lambda: app.bus.handle(CheckModelDrift()))  # risk lane: hourly
    app.periodic["screening-index"] = (parties.ttl, screening.refresh_job(sessions, parties))
    app.tokens = TokenReader(engine)
    app.lodging_queue = LodgingQueue(app.bus, settings.group_commit_ms / 1000)
    app.audit_nodes = NodeCache()
    audit_summaries.register(app)  # refused tokens and denied reads: counted, rate-limited, flushed periodically
    return app


def warm_up(app: Concord) -> None:
    """Before the first request: compile the config, the risk catalogues and the screening index, and build the
    fast declaration validator, so the first traders after a start do not wait for them (up to 100 ms)."""
    from concord.declarations.schemas import declaration_document
    from concord.errors import ConcordError

    try:
        declaration_document(b"{}")  # faulty on purpose: builds the validator, stores nothing
    except ConcordError:
        pass
    risk = app.risk
    with app.sessions() as session:
        try:
            app.directory.current(session)
        except ConcordError:  # no config loaded yet: nothing to compile
            return
        risk.catalog.current(session, app.clock.now())
        risk.models.current(session)
        if risk.screening is not None:
            risk.screening.refresh(session)


def settle_heap() -> None:
    """After start-up: move what is loaded so far (code, caches, reference data) out of the garbage collector's
    sight, and collect young objects less often. A lodging allocates thousands of short-lived objects, and
    full collections that walked the whole heap cost about a fifth of the ingest time (bench/ingest)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
