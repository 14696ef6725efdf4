"""The only place that picks implementations: database, bus transport, clock."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import timedelta
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
from concord.clearance.messages import (AssignTask, CheckDeadlines, DecideTask, GoodsInspected, SupplyDocuments,
                                        TaskCreated, TaskDecided)
from concord.clock import Clock
from concord.config import Settings, get_settings
from concord.db import make_engine, make_session_factory
from concord.declarations import handlers as declarations
from concord.declarations.grouping import LodgingQueue
from concord.incidents import handlers as incidents
from concord.incidents import notices, operations
from concord.incidents.messages import (AddAttachment, AddOperationMember, AssignOperationTask, ChangeIncidentStatus,
                                        CheckNoticeFeedback, CompleteOperationTask, EscalateOverdueTasks,
                                        GiveNoticeFeedback, IssueNotice, OpenOperation, PostOperationMessage,
                                        IncidentRecorded, NoticeIssued, RecordIncident)
from concord.hunting import handlers as hunting
from concord.hunting.messages import StartHunt
from concord.declarations.messages import (AmendDeclaration, CancelDeclaration, DeclarationCancelled,
                                           DeclarationRefused, LodgeGroup, RecordArrival, SubmitDeclaration)
from concord.inspections import facilities as inspection_facilities
from concord.inspections import findings as inspection_findings
from concord.inspections import handlers as inspections
from concord.inspections.messages import (AnswerInvitation, RecordFinding, RecordLabResult, RecordNoShow,
                                          RequestInspection, RescheduleInspection, StartInspection)
from concord.leadership import Leadership
from concord.messaging.audiences import messages_for
from concord.messaging.bus import MessageBus
from concord.messaging.outbox import OutboxRelay
from concord.messaging.transports import InProcessTransport, NatsTransport
from concord.messaging.uow import UnitOfWork
from concord.notifications import handlers as notifications
from concord.notifications.messages import CreateWebhook, RemoveWebhook, ReplayDeadLetters
from concord.risk import handlers as risk_handlers
from concord.risk import queries as risk_queries
from concord.risk.messages import (AddWatchlistEntry, CreateRule, OutcomeRecorded, RecordOutcome, RemoveWatchlistEntry,
                                   RetireRule, TryRule)
from concord.risk.messages import CheckModelDrift
from concord.risk.scoring.shared import SharedLanes
from concord.risk.scoring.step import RiskStep
from concord.screening import handlers as screening
from concord.screening.messages import LoadScreeningList, RecordMatchDecision, ScreenName
from concord.screening.service import PartyScreening
# edge: the standards at the edge (issue 18)
from concord.standards import handlers as standards
from concord.standards import sps
from concord.standards.messages import SupplySpsCertificate
from concord.trs import handlers as trs_handlers
from concord.trs.messages import RecordExit

log = logging.getLogger(__name__)

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
    AssignTask: clearance.assign_task,
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
    # incidents, joint operations and risk information notices
    RecordIncident: incidents.record_incident,
    ChangeIncidentStatus: incidents.change_incident_status,
    AddAttachment: incidents.add_attachment,
    OpenOperation: operations.open_operation,
    AddOperationMember: operations.add_operation_member,
    AssignOperationTask: operations.assign_operation_task,
    CompleteOperationTask: operations.complete_operation_task,
    PostOperationMessage: operations.post_operation_message,
    EscalateOverdueTasks: operations.escalate_overdue_tasks,
    IssueNotice: notices.issue_notice,
    GiveNoticeFeedback: notices.give_notice_feedback,
    CheckNoticeFeedback: notices.check_notice_feedback,
    # edge: the standards at the edge (issue 18)
    SupplySpsCertificate: standards.supply_sps_certificate,
    # hunting: indicators matched against pending, recent and new declarations
    StartHunt: hunting.start_hunt,
    # notifications: agencies' webhooks
    CreateWebhook: notifications.create_webhook,
    RemoveWebhook: notifications.remove_webhook,
    ReplayDeadLetters: notifications.replay_dead_letters,
    # joint inspections
    RequestInspection: inspections.request_inspection,
    AnswerInvitation: inspections.answer_invitation,
    RescheduleInspection: inspections.reschedule_inspection,
    RecordNoShow: inspections.record_no_show,
    StartInspection: inspections.start_inspection,
    RecordFinding: inspection_findings.record_finding,
    RecordLabResult: inspection_findings.record_lab_result,
    # time release study: the goods' exit, its last milestone
    RecordExit: trs_handlers.record_exit,
}
# Sections of the coordination config that other packages validate and store: name -> (validate, store).
CONFIG_SECTIONS = {"agreements": (agreements.validate_config_section, agreements.store_config_section),
                   # edge: the agencies' tolerances for electronic SPS certificates
                   "sps_certificates": (sps.validate_config_section, sps.store_config_section),
                   "inspection_facilities": (inspection_facilities.validate_config_section,
                                             inspection_facilities.store_config_section)}
# Records other than declarations that access requests may name (`watchlist_entry/ID`): type -> owner_of(session, id).
RESOURCE_OWNERS = {"watchlist_entry": screening.owner_of, "incident": incidents.owner_of}


INCIDENT_WATCH = timedelta(days=30)  # how long new declarations meet an incident's indicators
# A notice's recommended action -> what a pending declaration that matches gets (concord.hunting.schemas.HuntAction).
NOTICE_ACTIONS = {"monitor": None, "screen": {"lane": "yellow", "task": "document_check"},
                  "inspect": {"lane": "red", "task": "inspection"}, "hold": {"lane": "red", "task": "hold"},
                  "seize": {"lane": "red", "task": "hold"}, "report": None}


def hunt_of_incident(e: IncidentRecorded) -> StartHunt:
    """An incident's hunt: its owner holds the pending matches and watches new ones for INCIDENT_WATCH."""
    return StartHunt(agency=e.owner_agency, source=f"incident/{e.incident_id}", indicators=e.indicators,
                     valid_until=e.occurred_at + INCIDENT_WATCH)


def hunt_of_notice(e: NoticeIssued) -> StartHunt | None:
    """A notice's hunt until it lapses, acting as it recommends; a notice that only asks to monitor or report
    starts none (its recipients act on it themselves)."""
    action = NOTICE_ACTIONS.get(e.recommended_action)
    if action is None:
        return None
    return StartHunt(agency=e.owner_agency, source=f"notice/{e.notice_id}", indicators=e.indicators,
                     valid_until=e.valid_until, action=action)


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
    lanes: object = None  # risk.scoring.shared.SharedLanes on PostgreSQL: this process's lane decisions, shared
    on_stop: list = field(default_factory=list)  # what the server runs when it stops (flush what is still counted)
    config_sections: dict = field(default_factory=lambda: dict(CONFIG_SECTIONS))
    resource_owners: dict = field(default_factory=lambda: dict(RESOURCE_OWNERS))
    notifications: object = None  # the server's notification store, streams and webhooks (concord.notifications)
    leadership: Leadership | None = None  # which of several workers runs the jobs that must run once at a time
    per_worker: set = field(default_factory=set)  # periodic jobs every worker runs (its own memory); others: leader

    def uow(self, subject=None, request_id=None) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, self.audit_log, subject=subject, request_id=request_id,
                          write_lock=self.write_lock, outbox=self.bus.relay if self.bus is not None else None)

    def lead_agency(self, session) -> str:
        """The lead (customs) agency of the config in force."""
        return self.directory.current(session).lead

    def close(self) -> None:
        if self.lanes is not None:  # before the engine goes: a CLI upload's last decisions reach the other workers
            self.lanes.close()
        if hasattr(self.transport, "close"):
            self.transport.close()
        if self.lodging_queue is not None:
            self.lodging_queue.close()
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
        transport = (NatsTransport(settings.nats_url, settings.nats_stream, settings.nats_subject_prefix,
                                   replicas=settings.nats_replicas, duplicate_window_s=settings.nats_duplicate_window_s)
                     if settings.bus_transport == "nats" else InProcessTransport())
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
    # A finding turns at once into action on the cargo: an incident's or a notice's indicators start a hunt.
    app.bus.subscribe(IncidentRecorded, hunting.hunt_on(hunt_of_incident))
    app.bus.subscribe(NoticeIssued, hunting.hunt_on(hunt_of_notice))
    app.bus.subscribe(OutcomeRecorded, risk_handlers.feed_model)
    # joint inspections: proposed when a second agency needs the goods examined; called off with the declaration
    app.bus.subscribe(TaskCreated, inspections.propose_when_joint, when=inspections.needs_goods)
    app.bus.subscribe(TaskDecided, inspections.propose_when_joint, when=inspections.needs_goods)
    app.bus.subscribe(DeclarationRefused, inspections.cancel_with_declaration)
    app.bus.subscribe(DeclarationCancelled, inspections.cancel_with_declaration)
    from concord.declarations.messages import RiskAssessed
    from concord.observability.metrics import count_lane, unreached

    app.bus.subscribe(RiskAssessed, unreached, when=count_lane)  # /metrics: each lane counted, no unit of work
    app.periodic["risk-drift"] = (3600.0, lambda: app.bus.handle(CheckModelDrift()))  # risk lane: hourly
    app.periodic["risk-declarations"] = (1.0, risk_handlers.declaration_feed_job(
        sessions, risk.models, clock, settings.risk_history_exact_days))
    app.periodic["screening-index"] = (parties.ttl / 2, screening.refresh_job(sessions, parties))
    # overdue operation tasks escalated, notices' missing feedback raised (as CheckDeadlines is for clearance)
    app.periodic["operation-escalations"] = (60, lambda: app.bus.handle(EscalateOverdueTasks()))
    app.periodic["notice-feedback"] = (60, lambda: app.bus.handle(CheckNoticeFeedback()))
    app.leadership = Leadership.of(engine)
    app.per_worker |= {"screening-index", "audit-summaries", "risk-declarations"}  # each process its own
    if engine.dialect.name == "postgresql":  # where several workers may serve: one lane budget for all of them
        app.lanes = lanes = SharedLanes(engine, risk.budget)  # its own thread; close() sends the last decisions
        app.periodic["lane-exchange-prune"] = (60, lanes.prune)
    if settings.metrics_dir is not None:  # several workers: each publishes its counters for the others' scrapes
        from concord.observability.metrics import METRICS, process_gauges
        from concord.observability.workers import EVERY, publish_job

        publish = publish_job(settings.metrics_dir, METRICS, lambda: process_gauges(app))
        app.periodic["metrics-publish"] = (EVERY, publish)
        app.per_worker.add("metrics-publish")
        app.on_stop.append(publish)  # the counts up to the stop stay in the sums
    app.tokens = TokenReader(engine, ttl=settings.token_cache_s)
    app.lodging_queue = LodgingQueue(app.bus, settings.group_commit_ms / 1000, threads=0 if url.startswith("sqlite") else 2)
    app.audit_nodes = NodeCache()
    audit_summaries.register(app)  # refused tokens and denied reads: counted, rate-limited, flushed periodically
    if settings.notifications:  # started by the server only (create_app): the relay's cut, stored and delivered
        from concord.notifications.service import Notifications

        app.notifications = Notifications(app)
        app.periodic["notification-retention"] = (3600, app.notifications.prune)
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
    try:  # the model reads the declarations lodged since its training (a first chunk; the rest in the background)
        app.periodic["risk-declarations"][1]()
    except Exception:  # noqa: BLE001 - never stop a start for it: the periodic job reads them again
        log.exception("the risk model could not read the declarations lodged")


def settle_heap() -> None:
    """After start-up: move what is loaded so far (code, caches, reference data) out of the garbage collector's
    sight, and collect young objects less often. A lodging allocates thousands of short-lived objects, and
    full collections that walked the whole heap cost about a fifth of the ingest time (bench/ingest)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
