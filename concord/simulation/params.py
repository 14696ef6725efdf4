"""The port's parameters. Each figure's source (or its lack of one) is in docs/simulation.md, by the same name."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

AGENCIES = ("CUS", "NPPO", "VET", "FDA", "STD", "POL", "ENV", "MAR")
# Sequential clearance walks the agencies in this order: partners first, customs releases last (as in most TRS).
SEQUENTIAL_ORDER = ("MAR", "POL", "ENV", "VET", "NPPO", "FDA", "STD", "CUS")


@dataclass(frozen=True)
class Params:
    """One port, one month by default; `scaled` staff and bays grow with the daily volume."""

    days: int = 28
    per_day: int = 1000
    seed: int = 7
    # Vessel calls: each brings a share of the day's consignments; containers are available after discharge.
    vessel_calls_per_day: float = 6.0
    discharge_hours: tuple[float, float] = (2.0, 14.0)
    # The trader population and its irregular consignments.
    traders: int | None = None  # None: one per 20 declarations of the run, between 40 and 300
    risky_trader_share: float = 0.05  # of traders
    risky_volume_share: float = 0.06  # of consignments, lodged by the risky traders
    irregular_share: float = 0.03  # of all consignments: the known truth both scenarios share
    risky_irregular_rate: float = 0.30  # of a risky trader's consignments
    known_risky_share: float = 0.60  # of risky traders that intelligence has on the watchlist
    false_flags_per_known: float = 0.5  # compliant traders wrongly on the watchlist, per risky one known
    missing_certificate_share: float = 0.05  # plant goods declared without their certificate (NPPO inspects)
    # Lodgement: after arrival in the sequential port, mostly before it in the coordinated one.
    lodgement_after_arrival_hours: float = 20.0  # median, log-normal (sigma 0.8)
    prearrival_share: float = 0.85
    prearrival_hours: tuple[float, float] = (6.0, 72.0)
    late_lodgement_hours: float = 6.0  # median, when a coordinated trader lodges after arrival
    handover_hours: float = 3.0  # median wait for the file to reach the next agency (sequential only)
    # Officers on duty per 1,000 declarations a day: (day shift 07-19, night shift).
    # Sized for about 60 % utilisation by day on the demo's goods (NPPO sees a quarter of the trade, STD a seventh).
    staff: dict = field(default_factory=lambda: {"CUS": (10, 4), "NPPO": (14, 0), "VET": (7, 0), "FDA": (4, 0),
                                                 "STD": (8, 0), "POL": (2, 1), "ENV": (9, 0), "MAR": (2, 1)})
    # Minutes of an officer's work on a task's documents (median, log-normal sigma 0.5).
    review_minutes: dict = field(default_factory=lambda: {"CUS": 20, "NPPO": 25, "VET": 30, "FDA": 30, "STD": 25,
                                                          "POL": 30, "ENV": 40, "MAR": 20})
    # Share of an agency's inspection tasks that need the box at a bay (the rest: identity check at the stack).
    physical_share: dict = field(default_factory=lambda: {"CUS": 1.0, "NPPO": 1.0, "VET": 0.15})
    # Share of an agency's documentary checks that end in a physical examination.
    require_inspection: dict = field(default_factory=lambda: {"NPPO": 0.08, "FDA": 0.10, "STD": 0.06, "POL": 0.05,
                                                              "ENV": 0.10, "MAR": 0.03})
    # Inspection bays (per 1,000 declarations a day) and their opening hours; moving a box to the bay and back.
    bays: float = 24  # about 130 examinations a day of ~1.8 h in 16 opening hours, at ~60 % utilisation
    bay_hours: tuple[int, int] = (6, 22)
    slot_minutes: int = 120  # the product's slot at the facility: most examinations (median 1.5 h) fit in one
    terminal_move_hours: float = 6.0  # median, log-normal (sigma 0.5)
    inspection_hours: float = 1.5  # one agency's examination, median
    joint_extra_hours: float = 0.5  # a joint examination lasts its longest agency's plus this
    # Laboratory samples: share of an agency's examinations that take one, and the result's delay.
    sample_share: dict = field(default_factory=lambda: {"VET": 0.15, "NPPO": 0.10, "FDA": 0.30, "CUS": 0.03})
    lab_hours: float = 72.0  # median, log-normal (sigma 0.4)
    random_in_coordinated: float = 0.01  # customs' random control beside the risk selection (the model's eyes)

    def scaled(self, count: float) -> int:
        """Staff or bays for this port's volume: the figure per 1,000 declarations a day, at least one."""
        return max(1, round(count * self.per_day / 1000))

    def trader_count(self) -> int:
        return self.traders or min(300, max(40, self.days * self.per_day // 20))

    def varied(self, **changes) -> Params:
        return replace(self, **changes)
