"""The port as a discrete-event simulation (SimPy): officers by shift, bays, terminal moves, laboratories.

The simulation owns time and the physical world (boxes, bays, officers' hours); every step the product takes
(lodgement, risk and routing, tasks, decisions, arrival, release) is a command to the scenario's real hub, at the
simulated instant. The two scenarios differ only in how the port works, never in the trade they see."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import simpy

from concord.simulation.params import SEQUENTIAL_ORDER, Params

CUSTOMS = "CUS"
LODGE_EVERY_H = 0.25  # a trader's system sends its lodgings every quarter hour (the product takes them as a group)


class Draws:
    """Common random numbers: the same consignment gets the same officer times and findings in both scenarios."""

    def __init__(self, seed: int, index: int):
        self.key = f"{seed}:{index}"

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.key}:{name}")

    def lognormal(self, name: str, median: float, sigma: float) -> float:
        # clipped at three sigmas: a one-in-a-thousand week-long delay would say more about the draw than the port
        return median * math.exp(sigma * max(-3.0, min(3.0, self.rng(name).gauss(0.0, 1.0))))

    def chance(self, name: str, p: float) -> bool:
        return self.rng(name).random() < p

    def uniform(self, name: str, lo: float, hi: float) -> float:
        return self.rng(name).uniform(lo, hi)


@dataclass
class Record:
    """What the simulation saw of one consignment (the hub holds the rest)."""

    declaration_id: str | None = None
    lodged_h: float | None = None
    bay_visits: int = 0
    inspected_by: list = field(default_factory=list)  # agencies that examined the goods
    customs_examined: bool = False
    found: bool = False  # an irregular consignment customs examined
    joint_in_product: bool = False  # the bay visit went through the product's joint inspection
    joint_refused: str | None = None  # why the product would not hold it (then the simulation alone did)
    slot_waits: list = field(default_factory=list)  # hours the box, ready at the bay, waited for the product's slot


def port_facility(p: Params) -> dict:
    """The port's inspection facility in the coordination config, sized like the simulation's bays and officers:
    the product schedules the coordinated port's joint inspections there (slot, bay, officers of each agency)."""
    opens, closes = p.bay_hours
    return {"code": "RTM-PORT", "name": "Port inspection facility (simulation)", "offices": ["NLRTM"],
            "bays": p.scaled(p.bays), "slot_minutes": p.slot_minutes,
            "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": f"{opens:02d}:00",
                      "close": f"{closes:02d}:00"},
            "staffing": {agency: p.scaled(day) for agency, (day, _) in p.staff.items()}}


class Port:
    """One scenario ('sequential' or 'coordinated') of the port over `p.days`, driving `hub`."""

    def __init__(self, hub, p: Params, scenario: str, consignments):
        self.hub, self.p, self.scenario, self.consignments = hub, p, scenario, consignments
        self.env = simpy.Environment()
        self.records = {c.index: Record() for c in consignments}
        self.pending = []  # lodgings of the current instant, sent as one group
        self.officers = {}
        for agency, (day, night) in p.staff.items():
            on_day = p.scaled(day)
            on_night = min(on_day, round(night * p.per_day / 1000)) if night else 0
            self.officers[agency] = simpy.PriorityResource(self.env, capacity=on_day)
            self.env.process(self._closed(self.officers[agency], on_day - on_night, 7, 19))
        self.bays = simpy.PriorityResource(self.env, capacity=p.scaled(p.bays))
        from concord.simulation.hub import JointInspections

        # The coordinated port books its one bay visit through the product, once joint inspections are merged.
        self.joint = JointInspections(hub) if scenario == "coordinated" and JointInspections.available() else None
        self.env.process(self._closed(self.bays, self.bays.capacity, *p.bay_hours))

    def _closed(self, resource, count: int, opens: int, closes: int):
        """Outside its hours, `count` of a resource's units are taken (once the work in hand is finished)."""
        if count <= 0:
            return
        while True:
            now = self.env.now
            day = math.floor(now / 24)
            close_at = day * 24 + closes if now < day * 24 + closes else (day + 1) * 24 + closes
            yield self.env.timeout(close_at - now)
            holds = [resource.request(priority=-1) for _ in range(count)]
            yield self.env.timeout((24 - closes) + opens)
            for h in holds:
                if h.triggered:
                    resource.release(h)
                else:
                    h.cancel()

    def run(self, until_h: float) -> None:
        flow = self._coordinated if self.scenario == "coordinated" else self._sequential
        for c in self.consignments:
            self.env.process(flow(c, Draws(self.p.seed, c.index)))
        self.env.run(until=until_h)

    # The sequential port: lodgement after arrival, one agency after another, each examining on its own.
    def _sequential(self, c, d: Draws):
        p, rec = self.p, self.records[c.index]
        lodge_h = c.arrival_h + d.lognormal("lodge-after", p.lodgement_after_arrival_hours, 0.8)
        rec.declaration_id, tasks = yield from self._lodge(c, lodge_h)
        rec.lodged_h = self.env.now
        arrived = self.env.process(self._arrival(c, rec))  # mostly at once: the box waits in the terminal
        tasks.sort(key=lambda t: SEQUENTIAL_ORDER.index(t[1]) if t[1] in SEQUENTIAL_ORDER else 0)
        for task in tasks:
            yield self.env.timeout(d.lognormal(f"handover-{task[1]}", p.handover_hours, 0.6))
            examine = yield from self._review(c, d, task)
            if examine:
                yield arrived
                yield from self._examine(c, d, rec, [task])

    # The coordinated port: lodgement before arrival, agencies in parallel, one joint examination.
    def _coordinated(self, c, d: Draws):
        p, rec = self.p, self.records[c.index]
        if d.chance("prearrival", p.prearrival_share):
            lodge_h = max(0.0, c.arrival_h - d.uniform("prearrival-hours", *p.prearrival_hours))
        else:
            lodge_h = c.arrival_h + d.lognormal("lodge-late", p.late_lodgement_hours, 0.8)
        rec.declaration_id, tasks = yield from self._lodge(c, lodge_h)
        rec.lodged_h = self.env.now
        arrived = self.env.process(self._arrival(c, rec))
        reviews = [self.env.process(self._review(c, d, task)) for task in tasks]
        results = yield self.env.all_of(reviews)
        to_examine = [task for task, r in zip(tasks, reviews) if results[r]]
        if to_examine:
            yield arrived
            yield from self._examine(c, d, rec, to_examine)

    def _lodge(self, c, lodge_h: float):
        """The trader's system sends what it has every quarter hour: the lodgings of one instant go to the product
        as one group (LodgeGroup: one transaction, each declaration still assessed, routed and audited alone)."""
        at = math.ceil(lodge_h / LODGE_EVERY_H - 1e-9) * LODGE_EVERY_H
        yield self.env.timeout(max(0.0, at - self.env.now))
        done = self.env.event()
        if not self.pending:
            self.env.process(self._send_lodgings())
        self.pending.append((c, done))
        return (yield done)

    def _send_lodgings(self):
        yield self.env.timeout(0)  # scheduled after every consignment lodging at this instant has joined the group
        group, self.pending = self.pending, []
        for (_, done), lodged in zip(group, self.hub.lodge_group(self.env.now, [c for c, _ in group])):
            done.succeed(lodged)

    def _arrival(self, c, rec: Record):
        yield self.env.timeout(max(0.0, c.available_h - self.env.now))
        self.hub.arrive(self.env.now, rec.declaration_id)

    def _review(self, c, d: Draws, task):
        """An officer of the task's agency reads the file; returns whether the goods must be examined."""
        task_id, agency, task_type = task
        with self.officers[agency].request() as turn:
            yield turn
            yield self.env.timeout(d.lognormal(f"review-{agency}", self.p.review_minutes[agency], 0.5) / 60)
        if task_type == "inspection":
            if d.chance(f"physical-{agency}", self.p.physical_share.get(agency, 1.0)):
                return True
            self.hub.decide(self.env.now, task_id, agency, "approve", inspection={
                "result": "compliant", "findings": "identity check at the stack; seals intact"})
            return False
        if d.chance(f"require-{agency}", self.p.require_inspection.get(agency, 0.0)):
            self.hub.decide(self.env.now, task_id, agency, "require_inspection")
            return True
        self.hub.decide(self.env.now, task_id, agency, "approve")
        return False

    def _examine(self, c, d: Draws, rec: Record, tasks):
        """One bay visit: the box moves to the bay, every agency in `tasks` examines it there, samples go to a lab."""
        p = self.p
        rec.bay_visits += 1
        visit = rec.bay_visits
        move = d.lognormal(f"move-{visit}", p.terminal_move_hours, 0.5)
        hours = [d.lognormal(f"examine-{t[1]}", p.inspection_hours, 0.4) for t in tasks]
        duration = max(hours) + (p.joint_extra_hours if len(tasks) > 1 else 0.0)
        booking = self._book(rec, self.env.now + move) if self.joint is not None else None
        if booking is not None:
            # The product's bay and slot: the box is there when the slot begins, not when the simulation finds a bay.
            inspection_id, invited, slot_h = booking
            rec.slot_waits.append(max(0.0, slot_h - (self.env.now + move)))
            yield self.env.timeout(max(move, slot_h - self.env.now))
            if self._product(rec, lambda: self.joint.start(self.env.now, inspection_id)):
                yield self.env.timeout(duration)
                yield from self._joint_findings(c, d, rec, tasks, (inspection_id, invited))
                return
        else:
            yield self.env.timeout(move)
        with self.bays.request() as bay:  # the sequential port (or a refusal): the simulation's own bays
            yield bay
            yield self.env.timeout(duration)
        labs = []
        for task_id, agency, _ in tasks:
            rec.inspected_by.append(agency)
            if agency == CUSTOMS:
                rec.customs_examined, rec.found = True, c.irregular
            if d.chance(f"sample-{agency}", p.sample_share.get(agency, 0.0)):
                labs.append(self.env.process(self._lab_result(c, d, task_id, agency)))
            else:
                self._findings(c, task_id, agency)
        if labs:
            yield self.env.all_of(labs)

    def _book(self, rec: Record, ready_h: float):
        return self._product(rec, lambda: self.joint.open(self.env.now, rec.declaration_id, ready_h))

    @staticmethod
    def _product(rec: Record, call, failed=None):
        """A step of the joint inspection in the product; a refusal is kept and the simulation carries on alone."""
        from concord.errors import ConcordError

        try:
            out = call()
        except ConcordError as e:
            rec.joint_refused = e.message
            return failed
        return True if out is None else out

    def _joint_findings(self, c, d: Draws, rec: Record, tasks, booking):
        """Each invited agency records its finding on the one inspection; an agency with a task decides it after."""
        inspection_id, invited = booking
        rec.joint_in_product = True
        by_agency = {agency: task_id for task_id, agency, _ in tasks}
        labs = []
        for agency in invited:
            irregular = agency == CUSTOMS and c.irregular
            if agency == CUSTOMS:
                rec.customs_examined, rec.found = True, c.irregular
            if agency in by_agency:
                rec.inspected_by.append(agency)
            sample = agency in by_agency and d.chance(f"sample-{agency}", self.p.sample_share.get(agency, 0.0))
            samples = self._product(rec, lambda: self.joint.finding(self.env.now, inspection_id, agency, irregular,
                                                                     sample), [])
            if agency not in by_agency:
                continue
            if sample:
                labs.append(self.env.process(self._lab_result(c, d, by_agency[agency], agency, samples)))
            else:
                self._findings(c, by_agency[agency], agency)
        for task_id, agency, _ in tasks:  # an agency the product did not invite still examined the box here
            if agency not in invited:
                rec.inspected_by.append(agency)
                self._findings(c, task_id, agency)
        if labs:
            yield self.env.all_of(labs)

    def _lab_result(self, c, d: Draws, task_id: str, agency: str, samples=()):
        yield self.env.timeout(d.lognormal(f"lab-{agency}", self.p.lab_hours, 0.4))
        for sample_id in samples:
            self._product(self.records[c.index], lambda: self.joint.lab_result(self.env.now, sample_id, agency))
        self._findings(c, task_id, agency)

    def _findings(self, c, task_id: str, agency: str) -> None:
        irregular = agency == CUSTOMS and c.irregular
        self.hub.decide(self.env.now, task_id, agency, "approve_with_conditions" if irregular else "approve",
                        inspection={"result": "irregular" if irregular else "compliant",
                                    "findings": "goods examined at the bay" + ("; undervalued" if irregular else "")})
