"""Settings: the one place that reads the environment (prefix CONCORD_)."""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from concord.errors import Misconfigured

DATABASE_SCHEMES = ("sqlite", "postgresql+psycopg")


def default_var_dir() -> Path:
    """Where data lives unless CONCORD_VAR_DIR says otherwise: `var/` of the source checkout Concord runs from,
    else the user's data folder; never the working directory, so a command run elsewhere finds the same database."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "concord" / "__init__.py").is_file():
        return checkout / "var"
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "concord"


SCREENING_THRESHOLD = 0.82  # a party match at or above this is reported (a risk reason); chosen on name_pairs F1
SCREENING_LANE_THRESHOLD = 0.95  # ... and at or above this it is strong enough to force a lane


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="ignore")

    var_dir: Path = Field(default_factory=default_var_dir)  # a relative CONCORD_VAR_DIR is taken from the cwd
    database_url: str = ""  # empty: SQLite at {var_dir}/concord.db
    audit_key_file: Path | None = None  # empty: {var_dir}/audit-ed25519.key
    # "embedded": the web process holds the key and signs checkpoints itself (the default, `make demo`).
    # "external": it never reads the key; `concord audit sign` signs, as another user who alone can read the key.
    audit_signer: str = Field("embedded", pattern="^(embedded|external)$")
    audit_vkey: str = ""  # the hub's verifier key, for a web process that cannot read the key file
    audit_origin: str = "concord.local/audit"
    checkpoint_interval_s: float = 1.0
    # Cosigner verifier keys (C2SP tlog-cosignature, type 0x04) of the witnesses whose cosignatures the hub keeps.
    audit_witness_keys: str = ""  # comma-separated
    # Refused tokens and denied reads are logged as counted summaries, one window per client (or user): the first
    # event at once, the rest of the window as one entry with its count.
    audit_summary_window_s: float = Field(60.0, gt=0)
    auth_refusal_limit: int = Field(20, ge=1)  # refused tokens per client and window; beyond: 429 with Retry-After
    # Lodgings over the API are committed at most once per this many ms, those arriving meanwhile together
    # (group commit): a transaction costs about 1 ms whatever its size, so at a few hundred a second
    # one-lodging transactions would cost more than the lodgings. An idle server commits a lodging at once.
    # 7 ms: at 560/s on the 2-core machine, p99 was 34-52 ms (5 runs) against 51-63 ms at 5 ms and 41-107 at 10.
    group_commit_ms: float = 7.0
    token_cache_s: float = Field(5.0, ge=0)  # token -> identity kept this long at most (dropped on any change); 0: off
    bus_transport: str = "inprocess"  # or "nats"
    nats_url: str = "nats://127.0.0.1:4222"  # a cluster: every server, comma-separated (docs/scaling.md)
    nats_stream: str = "CONCORD"
    nats_replicas: int = Field(1, ge=1, le=5)  # the stream's replicas: 3 on a three-node cluster survives one node
    # JetStream drops a message whose Nats-Msg-Id it stored within this window: it must cover the relay's
    # redelivery after a crash or an outage (the next flush, or the restart's first sweep). Each id held costs the
    # server memory (about 2,000 messages/s at an EU-size average: 1.8 M ids in 15 min); consumers dedupe by the
    # same id for what comes later.
    nats_duplicate_window_s: float = Field(900.0, gt=0)
    nats_subject_prefix: str = "concord"  # subjects: <prefix>.<event name>.<audience> (docs/access.md)
    # PostgreSQL: `concord serve` runs the outbox relay (the cut per audience, the notification store, publishing)
    # in a process of its own beside the workers, which then only commit (concord.messaging.relay_process). False:
    # each worker publishes what it commits. SQLite: always the worker, on its event loop.
    relay_process: bool = True
    # Set by `concord serve` for its workers and the relay process it started (never by hand: nothing would publish).
    relay_elsewhere: bool = False
    relay_parent: int | None = None  # set by `concord serve` for its relay process: the server's pid
    # Notifications (docs/notifications.md): the server stores what the relay cuts per audience, for replay,
    # and delivers it on /api/v1/stream and to agencies' webhooks.
    notifications: bool = True
    notification_retention_h: float = Field(168.0, gt=0)  # replayable (Last-Event-ID) and dead letters: 7 days
    stream_connections_per_user: int = Field(4, ge=1)  # open streams per user; one more answers 429
    stream_heartbeat_s: float = Field(15.0, gt=0)  # a comment line when idle, so proxies keep the stream open
    stream_queue: int = Field(1000, ge=10)  # notifications waiting for a slow client; past it its stream ends
    # Console sign-in through an agency's OpenID Connect provider (docs/console.md); empty issuer: passwords only.
    # The provider signs in the users of console_oidc_agency only, named by the ID token's console_oidc_claim.
    console_oidc_issuer: str = ""
    console_oidc_client_id: str = ""
    console_oidc_client_secret: str = ""
    console_oidc_agency: str = ""
    console_oidc_claim: str = "preferred_username"
    webhook_max_attempts: int = Field(10, ge=1)  # then the delivery is dead-lettered
    webhook_backoff_s: float = Field(5.0, gt=0)  # first retry after about this; doubles per attempt, with jitter
    webhook_backoff_cap_s: float = Field(3600.0, gt=0)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_concurrency: int = Field(32, ge=1)  # deliveries in flight at once
    webhook_allow_http: bool = False  # receivers must be https:// unless this is set (tests, a closed network)
    # Internal networks a webhook may reach (comma-separated CIDRs, e.g. 127.0.0.0/8): by default only public
    # addresses are posted to (no loopback, private, link-local, metadata or multicast: SSRF).
    webhook_allow_networks: str = ""
    # The live risk model reads every declaration lodged (risk.learning.hub.DeclarationFeed): within this many days
    # each one is kept, beyond it each party's and goods' declarations fold into one (exact "as of" a time within
    # the window; about 1 KB per goods item kept per worker; docs/risk-model.md).
    risk_history_exact_days: float = Field(7.0, gt=0)
    screening_threshold: float = Field(SCREENING_THRESHOLD, ge=0, le=1)
    screening_lane_threshold: float = Field(SCREENING_LANE_THRESHOLD, ge=0, le=1)
    host: str = "127.0.0.1"
    port: int = 8000
    access_log: bool = False  # `concord serve` logs one line per request
    # Worker processes serving one PostgreSQL database (`concord serve --workers N` sets it for its workers): with
    # more than one, the leader's outbox sweep leaves the other workers' fresh events to them (concord.leadership).
    workers: int = Field(1, ge=1)
    # Where each worker publishes its metrics for the others' /metrics to sum (`concord serve --workers N` makes one
    # per run and removes it after); unset: one process, its own counters only.
    metrics_dir: Path | None = None

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        from concord.notifications.addresses import networks

        networks(value)  # a ValueError names the faulty entry when the settings load
        return value
    # "json": `concord serve` writes one JSON object per log line, with the request id (for a log pipeline)
    log_format: str = Field("text", pattern="^(text|json)$")
    # a warning with every thread's stack when the event loop does not run for this long (0: no watch)
    stall_log_ms: int = Field(500, ge=0)
    # debugging a soak's memory growth: every this many seconds, log where allocations grew (tracemalloc; slow)
    memory_trace_s: float = Field(0, ge=0)

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    def resolved_database_url(self) -> str:
        """The database URL in force: SQLite paths made absolute, `postgresql://` given its driver; else Misconfigured."""
        url = self.database_url or f"sqlite:///{self.var_dir / 'concord.db'}"
        scheme, sep, rest = url.partition("://")
        if scheme in ("postgresql", "postgres"):
            scheme = "postgresql+psycopg"
        if not sep or scheme not in DATABASE_SCHEMES:
            raise Misconfigured(f"unsupported database URL {url!r} (CONCORD_DATABASE_URL): use sqlite:///PATH or "
                                f"postgresql+psycopg://USER@HOST:PORT/DATABASE")
        if scheme == "sqlite" and rest.startswith("/") and rest != "/:memory:":
            rest = "/" + str(Path(rest[1:]).expanduser().absolute())
        return f"{scheme}://{rest}"

    def sqlite_path(self) -> Path | None:
        """The SQLite database file in force, or None for a server database (or SQLite in memory)."""
        url = self.resolved_database_url()
        if url.startswith("sqlite:///") and ":memory:" not in url:
            return Path(url.removeprefix("sqlite:///"))
        return None

    def database_label(self) -> str:
        """The database in force as a user should read it: the file's path, or the URL without its password."""
        path = self.sqlite_path()
        if path is not None:
            return str(path)
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_database_url()).render_as_string(hide_password=True)

    def witness_keys(self) -> list[str]:
        return [k.strip() for k in self.audit_witness_keys.split(",") if k.strip()]

    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.var_dir / "audit-ed25519.key"

    def resolved_audit_vkey_file(self) -> Path:
        """The verifier key, written beside the key by the signer; public."""
        return self.resolved_audit_key_file().with_suffix(".vkey")

    def resolved_audit_state_file(self) -> Path:
        """The last checkpoint the signer signed for this database, kept outside it (one file per database URL)."""
        import hashlib

        key = self.resolved_audit_key_file()
        tag = hashlib.sha256(self.resolved_database_url().encode()).hexdigest()[:12]
        return key.with_name(f"{key.stem}.{tag}.last")
    def models_dir(self) -> Path:
        """The learned model registry: the server scores with its active version, `concord risk` manages it."""
        return self.var_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def child_environment(**overrides: str) -> dict:
    """The environment for a child process (a server under benchmark, a worker), with overrides."""
    return {**os.environ, **overrides}


def set_process_environment(**values: str) -> None:
    """Set variables that native libraries read at load time (OpenMP threads), or that the server's worker
    processes read as their settings (CONCORD_WORKERS): before they load or start."""
    os.environ.update(values)
