"""Model-based randomized scenarios: people edit both sides while cycles fail, crash and overlap.

One scenario is a seeded sequence of steps against a fresh lead tracker, board and state table:
people create, edit, trash and delete leads and cards; cycles run clean, under random faults
(every kind the sandbox injects), crashed at a random call (``tests.support.crash``), or with a
second invocation started in the middle of the first; the clock jumps. The model remembers the
newest edit each person made to each field. Then faults stop, the clock passes the lease TTL and
the sweep period, and at most two clean cycles run. The invariants (docs/reliability.md) must hold:

- **converged**: every live linked pair holds the same value on both sides for every field
  (status through the status <-> list map, one-way fields as the lead says), and the stored base
  equals it;
- **no duplicates**: no lead has two live cards, no card two leads, markers agree with the links,
  every live lead that should have a card has exactly one, a trashed lead has no live card;
- **no lost edit**: each side's newest edit of a field survived, or was overtaken by a later edit
  on the other side, or lost a conflict that the engine logged with that value;
- **clean**: the clean cycles report no errors, a third one writes nothing, no intent is left.

``run_scenario(env, tracker, seed)`` returns a :class:`Outcome`; a failing seed replays the same
steps (values, faults, crash points) with ``infra/soak.py --trackers T --seed S --scenarios 1``.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadsync.core.models import Link
from tests.soak.env import SERVER_TIMEOUT_SLEEP, SETTLE_SECONDS, SoakEnvironment
from tests.soak.hostile import MALFORMED, Foreign, set_link_field
from tests.support.crash import SimulatedCrash, instrument
from tests.support.e2e import LISTS, SCHEDULED_EVENT, STATUS_TO_LIST, STATUSES, Harness, pair_config
from tests.support.lambda_context import FakeLambdaContext

PAIR = "e2e"
LIST_TO_STATUS = {v: k for k, v in STATUS_TO_LIST.items()}
TWO_WAY = ("name", "email", "status")
FIELDS = ("name", "email", "status", "source")
FAULT_KINDS = ("429", "500", "502", "503", "timeout", "drop", "malformed", "truncated", "lost_response")
# Kinds after which the server may have applied the request although the client saw no answer.
AMBIGUOUS = frozenset({"timeout", "malformed", "truncated", "lost_response"})
NOT_POST = ("GET", "PUT", "PATCH", "DELETE")
SHEETS_API = ("/v4/*",)  # the Sheets emulator without its Google token endpoint
LEASE_EXPIRED = 200.0  # seconds: past the lease TTL (remaining time + 60 s) of a crashed run
SWEEP_MINUTES = 5
DEFAULT_STEPS = 24


@dataclass(frozen=True)
class Edit:
    """A person's newest edit of one field of one record: the canonical value and when (step)."""

    value: str | None
    step: int


@dataclass
class Outcome:
    """What one scenario did and which invariants it broke."""

    tracker: str
    seed: int
    steps: int = 0
    cycles: int = 0
    crashes: int = 0
    crashes_in_flight: int = 0  # crashes that came while other writes were in flight (concurrent apply)
    overlaps: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    hostile: Counter[str] = field(default_factory=Counter)  # hostile edits made, by kind
    foreign: int = 0  # foreign records read (a request naming their container) or written
    mass_archives: int = 0  # cycles that archived more than the limit, or anything while pointed away
    away_cycles: int = 0  # cycles run while the configuration pointed the pair elsewhere
    held: int = 0  # archives the mass-deletion guard kept back (report field held_deletions)
    most_archived: int = 0  # the most records one cycle archived or deleted
    approve: bool = False  # on_lead_deleted: approve in this scenario
    pending: int = 0  # deletions found waiting for approval at convergence (approve-mode scenarios)
    hinted: int = 0  # cycles run by the worker on webhook hints (tests/soak/webhooks.py)
    webhook: Counter[str] = field(default_factory=Counter)  # webhook calls: sent, dropped, duplicated, answers


class Scenario:
    """The model of one pair plus the random driver."""

    def __init__(
        self,
        env: SoakEnvironment,
        tracker: str,
        seed: int,
        steps: int = DEFAULT_STEPS,
        *,
        spare_creates: bool = False,
        fault_token_endpoint: bool = True,
        hostile: bool = True,
        approve: bool | None = None,
        webhooks: bool = False,
    ) -> None:
        self.env = env
        self.spare_creates = spare_creates
        self.fault_token_endpoint = fault_token_endpoint
        self.rng = random.Random(seed)
        self.steps = steps
        self.out = Outcome(tracker, seed)
        self.config = {
            "conflict_policy": self.rng.choice(["newest", "lead", "card"]),
            "tie_breaker": self.rng.choice(["lead", "card"]),
            "create_leads_from_cards": self.rng.random() < 0.3,
            "full_sweep_minutes": SWEEP_MINUTES,
        }
        # deletions wait for approval in every third scenario (decided apart from the seeded draws,
        # so the other scenarios replay as before): no card is archived by a cycle, none is lost
        self.approve = seed % 3 == 0 if approve is None else approve
        if self.approve:
            self.config["on_lead_deleted"] = "approve"
        self.out.approve = self.approve
        self.h: Harness = env.harness(tracker, **self.config)
        self.store = env.state_store()
        self.edits: dict[tuple[str, str, str], Edit] = {}
        self.detached_leads: set[str] = set()  # their card was archived/deleted by a person
        self.trashed: set[str] = set()
        self.step = 0
        self.counter = 0
        self.last_calls = 12
        self.timeouts_pending = False
        # hostile edits: records outside the pair, cards whose marker nobody should follow
        self.foreign = Foreign.create(env.sandbox, type(self.h.leads)) if hostile else None
        self.hostile_cards: dict[str, str] = {}  # hand-made card -> the marker the person typed
        self.copies: Counter[str] = Counter()  # lead -> hand-made cards carrying a copy of its marker
        self.away_left = 0  # cycles still to run with the configuration pointed at the away tracker
        self.committed = False  # some run committed: the state knows the pair's containers
        self.former_cards: dict[str, str | None] = {}  # filled by check(): card -> the lead its marker names
        self.hooks: Any = None
        if webhooks:
            from tests.soak.webhooks import WebhookPath

            self.hooks = WebhookPath(self.h, seed)

    # -- driver -------------------------------------------------------------------------------

    def run(self) -> Outcome:
        started = time.monotonic()
        self.note(f"config {self.config}")
        actions: list[tuple[float, Callable[[], None]]] = [
            (3, self.add_lead),
            (4, self.edit_lead),
            (0.4, self.trash_lead),
            (2, self.move_card),
            (1.5, self.rename_card),
            (1, self.edit_card_email),
            (0.4, self.archive_card),
            (0.3, self.delete_card),
            (0.8, self.hand_made_card),
            (2.5, self.clean_cycle),
            (3, self.faulty_cycle),
            (2, self.crashed_cycle),
            (1, self.overlapping_cycle),
            (0.8, self.advance_clock),
        ]
        if self.foreign is not None:
            actions += [(0.8, self.hostile_card), (0.4, self.garble_lead_link), (0.3, self.point_away)]
        if self.hooks is not None:
            actions += [(3, self.hinted_cycle)]
        weights = [w for w, _ in actions]
        for step in range(1, self.steps + 1):
            self.step = step
            action = self.rng.choices([a for _, a in actions], weights)[0]
            action()
        self.out.steps = self.steps
        self.converge_and_check()
        self.out.seconds = time.monotonic() - started
        return self.out

    def note(self, line: str) -> None:
        self.out.log.append(f"[{self.step}] {line}")

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # -- people -------------------------------------------------------------------------------

    def live_leads(self) -> list[dict[str, Any]]:
        return [lead for lead in self.h.leads.all() if not lead["deleted"]]

    def live_cards(self) -> list[dict[str, Any]]:
        return [c for c in self.h.board.cards()]

    def base_of_lead(self, lead_id: str) -> dict[str, Any]:
        link = self.store.links_by_lead(PAIR, [lead_id]).get(lead_id)
        return dict(link.base) if link else {}

    def base_of_card(self, card_id: str) -> dict[str, Any]:
        link = self.store.links_by_card(PAIR, [card_id]).get(card_id)
        return dict(link.base) if link else {}

    def pick_status(self, *avoid: str | None) -> str | None:
        """A status that differs from the current value and the base (no silent revert)."""
        options = [s for s in STATUSES if s not in avoid]
        return self.rng.choice(options) if options else None

    def remember(self, side: str, record_id: str, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            self.edits[(side, record_id, name)] = Edit(value, self.step)

    def add_lead(self) -> None:
        status = self.rng.choices(STATUSES, [4, 2, 2, 1])[0]
        values = {
            "name": self.fresh("Lead "),
            "email": f"{self.fresh('p')}@example.com",
            "status": status,
            "source": self.fresh("src-"),
        }
        lead_id = self.h.leads.add(**values)
        self.remember("lead", lead_id, values)
        self.note(f"add lead {lead_id} {values}")

    def edit_lead(self) -> None:
        leads = self.live_leads()
        if not leads:
            return self.add_lead()
        lead = self.rng.choice(leads)
        changes: dict[str, str | None] = {}
        for name in self.rng.sample(FIELDS, self.rng.randint(1, 2)):
            if name == "status":
                status = self.pick_status(lead["status"], self.base_of_lead(lead["id"]).get("status"))
                if status is not None:
                    changes["status"] = status
            elif name == "email":
                changes["email"] = f"{self.fresh('e')}@example.com"
            else:
                changes[name] = self.fresh(f"{name}-")
        if changes:
            self.h.leads.edit(lead["id"], **changes)
            self.remember("lead", lead["id"], changes)
            self.note(f"edit lead {lead['id']} {changes}")

    def trash_lead(self) -> None:
        leads = self.live_leads()
        if leads:
            lead = self.rng.choice(leads)
            self.h.leads.delete(lead["id"])
            self.trashed.add(lead["id"])
            self.note(f"trash lead {lead['id']}")

    def _card(self) -> dict[str, Any] | None:
        cards = self.live_cards()
        return self.rng.choice(cards) if cards else None

    def move_card(self) -> None:
        card = self._card()
        if card is None:
            return
        status = self.pick_status(LIST_TO_STATUS.get(card["list"]), self.base_of_card(card["id"]).get("status"))
        if status is not None:
            self.h.board.move(card["id"], STATUS_TO_LIST[status])
            self.remember("card", card["id"], {"status": status})
            self.note(f"move card {card['id']} to {STATUS_TO_LIST[status]}")

    def rename_card(self) -> None:
        card = self._card()
        if card is not None:
            name = self.fresh("Card ")
            self.h.board.rename(card["id"], name)
            self.remember("card", card["id"], {"name": name})
            self.note(f"rename card {card['id']} to {name}")

    def edit_card_email(self) -> None:
        card = self._card()
        if card is not None and card["email"]:
            email = f"{self.fresh('c')}@example.com"
            self.h.board.set_line(card["id"], "Email", email)
            self.remember("card", card["id"], {"email": email})
            self.note(f"card {card['id']} email {email}")

    def archive_card(self) -> None:
        self._close_card(self.h.board.archive, "archive")

    def delete_card(self) -> None:
        self._close_card(self.h.board.delete, "delete")

    def _close_card(self, action: Callable[[str], None], verb: str) -> None:
        card = self._card()
        if card is None:
            return
        action(card["id"])
        if card["lead"] and self.hostile_cards.get(card["id"]) != card["lead"]:
            self.detached_leads.add(card["lead"])  # (a hand-made card's own marker detaches nobody)
        link = self.store.links_by_card(PAIR, [card["id"]]).get(card["id"])
        if link is not None:
            self.detached_leads.add(link.lead_id)
        # a lead made from this card whose link is not committed yet (a cycle cut short) names it too
        self.detached_leads.update(lead["id"] for lead in self.h.leads.all() if lead["card"] == card["id"])
        self.note(f"{verb} card {card['id']} (lead {card['lead']})")

    def hand_made_card(self) -> None:
        name, status = self.fresh("Hand "), self.rng.choice(STATUSES[:3])
        card_id = self.h.board.add_card(name, STATUS_TO_LIST[status], desc=self.rng.choice(["", "notes"]))
        self.remember("card", card_id, {"name": name, "status": status})
        self.note(f"hand-made card {card_id} {name!r} in {STATUS_TO_LIST[status]}")

    def hostile_card(self) -> None:
        """A hand-made card whose marker names a foreign lead, is malformed, or copies another card's."""
        assert self.foreign is not None
        copyable = [c for c in self.live_cards() if c["lead"] and c["id"] not in self.hostile_cards]
        kinds = ["foreign", "malformed"] + (["duplicate"] if copyable else [])
        kind = self.rng.choice(kinds)
        if kind == "foreign":
            marker = self.rng.choice(self.foreign.markers())
        elif kind == "malformed":
            marker = self.rng.choice(MALFORMED)
        else:
            marker = self.rng.choice(copyable)["lead"]
        name, status = self.fresh("Hostile "), self.rng.choice(STATUSES[:3])
        email = f"{self.fresh('h')}@example.com" if self.rng.random() < 0.5 else None
        lines = ["**leadsync**", *([f"Email: {email}"] if email else []), f"leadsync-id: {marker}"]
        card_id = self.h.board.add_card(name, STATUS_TO_LIST[status], desc="\n".join(lines))
        typed = next(c["lead"] for c in self.h.board.cards() if c["id"] == card_id)
        self.hostile_cards[card_id] = typed
        if kind == "duplicate":
            self.copies[marker] += 1
        self.remember("card", card_id, {"name": name, "status": status, **({"email": email} if email else {})})
        self.out.hostile[f"card:{kind}"] += 1
        self.note(f"hostile card {card_id} ({kind}) marker {marker[:60]!r} in {STATUS_TO_LIST[status]}")

    def garble_lead_link(self) -> None:
        """A person overwrites a lead's link field with something that is no card of this board."""
        leads = self.live_leads()
        if not leads:
            return
        assert self.foreign is not None
        lead = self.rng.choice(leads)
        foreign = self.rng.random() < 0.35  # a card of another board (fixed in 92f9a06: it is not found)
        garbage = self.rng.choice(self.foreign.card_ids if foreign else MALFORMED)
        set_link_field(self.h, lead["id"], garbage)
        self.out.hostile["lead:foreign card" if foreign else "lead:garbled"] += 1
        self.note(f"garble lead {lead['id']} link field {garbage[:60]!r}")

    def point_away(self) -> None:
        """The configuration is switched to another (empty) tracker for a few cycles, then back."""
        assert self.foreign is not None
        if self.away_left or not self.committed:  # before any commit the pair would just adopt it
            return
        self.away_left = self.rng.randint(1, 3)
        config = pair_config(self.foreign.away, self.h.board, **self.config)
        self.h.config_path.write_text(json.dumps(config))
        self.out.hostile["pointed away"] += 1
        self.note(f"config points the pair at another tracker for {self.away_left} cycle(s)")
        if self.rng.random() < 0.5:  # the dangerous case: a full sweep of the empty tracker is due
            self.h.sb.clock.advance(SWEEP_MINUTES * 60)
            self.note(f"clock +{SWEEP_MINUTES * 60}s (full sweep due)")

    def _point_back(self) -> None:
        self.away_left = 0
        self.h.configure(**self.config)
        self.note("config points the pair back at its tracker")

    def advance_clock(self) -> None:
        seconds = self.rng.choice([20, 45, 90, 250, 400])
        self.h.sb.clock.advance(seconds)
        self.note(f"clock +{seconds}s")

    # -- cycles -------------------------------------------------------------------------------

    def _faults_on(self) -> None:
        rate = self.rng.choice([0.05, 0.1, 0.2, 0.35])
        kinds = self.rng.sample(FAULT_KINDS, self.rng.randint(1, len(FAULT_KINDS)))
        # a POST answered ambiguously used to be retried blind and create twice (fixed; --spare-creates)
        methods = NOT_POST if self.spare_creates and AMBIGUOUS.intersection(kinds) else None
        for name, emulator in self.h.sb.emulators.items():
            seed = self.rng.randrange(2**31)
            # the token endpoint is faulted too unless asked not to (a malformed answer used to crash)
            paths = SHEETS_API if name == "sheets" and not self.fault_token_endpoint else None
            emulator.faults.set(
                rate=rate,
                kinds=kinds,
                seed=seed,
                retry_after=1,
                timeout_sleep=SERVER_TIMEOUT_SLEEP,
                methods=methods,
                paths=paths,
            )
        self.note(f"faults rate={rate} kinds={sorted(kinds)}" + (" (no POST)" if methods else ""))

    def _faults_off(self) -> None:
        for emulator in self.h.sb.emulators.values():
            self.out.faults.update(emulator.faults.counts)
            if emulator.faults.counts.get("timeout"):
                self.timeouts_pending = True
            emulator.faults.clear()
        if self.timeouts_pending:  # a timed-out request may still land: let it, before anyone edits
            time.sleep(SETTLE_SECONDS)
            self.timeouts_pending = False

    def _invoke(self, *, crash_at: int | None = None, after: bool = False, hook_at: int | None = None) -> None:
        nested: list[dict[str, Any]] = []

        def overlap(index: int, label: str) -> None:
            result = self.h.handler(SCHEDULED_EVENT, FakeLambdaContext())["pairs"][PAIR]
            nested.append({"index": index, "label": label, "status": result["status"]})
            self._took(result)

        outcome = "?"
        before = self._removable()
        with instrument(crash_at, after=after, hook_at=hook_at, hook=overlap if hook_at else None) as probe:
            try:
                report = self.h.handler(SCHEDULED_EVENT, FakeLambdaContext())["pairs"][PAIR]
                outcome = report["status"]
                self._took(report)
            except SimulatedCrash as crash:
                outcome = str(crash)
                self.out.crashes += 1
                if probe.in_flight_at_crash:
                    self.out.crashes_in_flight += 1
                    outcome += f" with {probe.in_flight_at_crash} other call(s) in flight"
        self.out.cycles += 1
        self._check_archives(before, outcome, nested)
        if probe.crashed is None:
            self.last_calls = len(probe.calls)
        self.note(f"cycle -> {outcome}")
        for run in nested:
            self.out.overlaps += 1
            self.note(f"  overlapping invocation at call {run['index']} ({run['label']}) -> {run['status']}")
            before = probe.calls[: run["index"] - 1]
            # the first run holds the lease from its acquire to its commit (Sheets acknowledges after it)
            held = "state.acquire" in before and "state.commit" not in before and "state.release" not in before
            held = held and not outcome.startswith("skipped")
            if held and run["status"] != "skipped":
                self.out.violations.append(
                    f"overlap: a second invocation ran ({run['status']}) while the first held the lease"
                )
        self.h.sb.clock.advance(61)

    def _took(self, report: dict[str, Any]) -> None:
        self.out.held += report.get("held_deletions", 0)
        if report["status"] in ("synced", "partial") and not self.away_left:
            self.committed = True

    def _removable(self) -> set[tuple[str, str]]:
        """Open cards and live leads: what a cycle could archive or delete."""
        cards = {("card", c["id"]) for c in self.h.board.cards()}
        return cards | {("lead", lead["id"]) for lead in self.live_leads()}

    def _check_archives(self, before: set[tuple[str, str]], outcome: str, nested: list[dict[str, Any]]) -> None:
        """No cycle archives more than the limit; nothing at all while the pair points elsewhere."""
        removed = before - self._removable()  # people edit between cycles, never during one
        self.out.most_archived = max(self.out.most_archived, len(removed))
        limit = max(10, len(self.store.all_links(PAIR)) // 10)  # the default max_deletions_per_cycle
        runs = 1 + len(nested)
        if self.approve and any(kind == "card" for kind, _ in removed):
            cards = sorted(i for kind, i in removed if kind == "card")
            self.out.violations.append(f"approve mode: cards {cards} archived by a cycle without approval")
        if len(removed) > limit * runs:
            self.out.mass_archives += 1
            self.out.violations.append(f"mass archive: one cycle archived or deleted {len(removed)} (limit {limit})")
        if not self.away_left:
            return
        self.out.away_cycles += 1
        if removed:
            self.out.mass_archives += 1
            self.out.violations.append(f"mass archive: {sorted(removed)} archived while the pair pointed away")
        statuses = [outcome, *(run["status"] for run in nested)]
        ran = [s for s in statuses if s in ("synced", "partial", "dry_run")]
        if ran:
            self.out.violations.append(f"pointed away: a run ended {ran} instead of stopping (SideMoved)")
        self.away_left -= 1
        if not self.away_left:
            self._point_back()

    def clean_cycle(self) -> None:
        self._invoke()

    def faulty_cycle(self) -> None:
        self._faults_on()
        try:
            self._invoke()
        finally:
            self._faults_off()

    def crashed_cycle(self) -> None:
        at = self.rng.randint(1, self.last_calls + 2)
        after = self.rng.random() < 0.5
        faulty = self.rng.random() < 0.4
        self.note(f"crash {'after' if after else 'before'} call {at}")
        if faulty:
            self._faults_on()
        try:
            self._invoke(crash_at=at, after=after)
        finally:
            if faulty:
                self._faults_off()
        if self.rng.random() < 0.6:
            self.h.sb.clock.advance(LEASE_EXPIRED)
            self.note(f"clock +{LEASE_EXPIRED:.0f}s (lease expires)")

    def hinted_cycle(self) -> None:
        """The worker runs the hints the webhook calls queued (none, if every call was dropped)."""
        before = self._removable()
        outcome, messages = self.hooks.hinted_cycle(FakeLambdaContext())
        if messages:
            self.out.cycles += 1
            self.out.hinted += 1
            self._check_archives(before, outcome, [])
        self.note(f"hinted cycle -> {outcome}")
        self.h.sb.clock.advance(5)  # seconds after the edits, not a minute

    def overlapping_cycle(self) -> None:
        at = self.rng.randint(1, self.last_calls)
        self._invoke(hook_at=at)

    # -- convergence and invariants -----------------------------------------------------------

    def converge_and_check(self) -> None:
        self._faults_off()
        if self.away_left:
            self._point_back()
        self.h.sb.clock.advance(LEASE_EXPIRED + SWEEP_MINUTES * 60)
        self.step += 1
        reports = []
        for _ in range(2):
            self.note("clean cycle")
            before = self._removable()
            reports.append(self.h.cycle())
            self._took(reports[-1])
            self._check_archives(before, reports[-1]["status"], [])
        if self.approve:
            reports.append(self._approve_all())
        self.check(reports)

    def _approve_all(self) -> dict[str, Any]:
        """Approve mode: every trashed lead's open, linked card waits for approval (nothing lost
        meanwhile); the operator approves them all, and a clean cycle follows."""
        from leadsync.cli import main as leadsync_cli

        waiting = {p.record_id for p in self.store.pending(PAIR)}
        self.out.pending += len(waiting)
        open_cards = {c["id"] for c in self.h.board.cards()}
        for link in self.store.all_links(PAIR):
            if link.lead_id in self.trashed and link.card_id in open_cards and link.card_id not in waiting:
                self.out.violations.append(
                    f"approve mode: lead {link.lead_id} is trashed, its card {link.card_id} is open and linked, "
                    "but no deletion waits for approval"
                )
        self.note(f"approve --all ({len(waiting)} waiting)")
        if leadsync_cli(["approve", "--all"]) != 0:
            self.out.violations.append("approve mode: `approve --all` failed")
        if self.store.pending(PAIR):
            self.out.violations.append(f"approve mode: still waiting after approve --all: {self.store.pending(PAIR)}")
        self.note("clean cycle")
        before = self._removable()
        report = self.h.cycle()
        self._took(report)
        self._check_archives(before, report["status"], [])
        return report

    def check(self, reports: list[dict[str, Any]]) -> None:
        v = self.out.violations
        for i, report in enumerate(reports, 1):
            if report["status"] != "synced" or report["errors"]:
                v.append(f"clean cycle {i} ended {report['status']} with {report['errors']} error(s)")
        leads = {lead["id"]: lead for lead in self.h.leads.all()}
        cards = {c["id"]: c for c in self.h.board.cards(include_closed=True)}
        self.former_cards = {c["id"]: c["lead"] for c in cards.values()}
        links = self.store.all_links(PAIR)
        self._check_duplicates(leads, cards, links)
        for link in links:
            lead, card = leads.get(link.lead_id), cards.get(link.card_id)
            if link.detached or lead is None or lead["deleted"] or card is None or card["closed"]:
                continue
            self._check_pair(link, lead, card)
        if self.store.intents(PAIR):
            v.append(f"intents left after convergence: {self.store.intents(PAIR)}")
        quiet = self.h.cycle()
        if quiet["applied"]:
            v.append(f"not idempotent: a third clean cycle applied {quiet['applied']}")
        if self.foreign is not None:
            found, self.out.foreign = self.foreign.violations()
            v.extend(found)

    def _excused(self, card: dict[str, Any]) -> bool:
        """A hand-made card still carrying the foreign or malformed marker a person typed: it names
        no lead of this pair and legitimately stays unlinked (copies of a real marker are counted)."""
        typed = self.hostile_cards.get(card["id"])
        return typed is not None and typed == card["lead"] and typed not in self.copies

    def _check_duplicates(self, leads: dict[str, Any], cards: dict[str, Any], links: list[Link]) -> None:
        v = self.out.violations
        live_cards = [c for c in cards.values() if not c["closed"]]
        by_lead: dict[str, list[str]] = {}
        for card in live_cards:
            if card["lead"] and not self._excused(card):
                by_lead.setdefault(card["lead"], []).append(card["id"])
        # a hand-made copy of a lead's marker may be left alone (or adopted, leaving the original
        # alone): each copy allows one more card carrying that marker, never one more linked card
        for lead_id, card_ids in by_lead.items():
            if len(card_ids) > 1 + self.copies[lead_id]:
                v.append(f"duplicate: lead {lead_id} has {len(card_ids)} live cards {sorted(card_ids)}")
            if lead_id in self.trashed and lead_id not in leads and len(card_ids) > self.copies[lead_id]:
                v.append(f"lead {lead_id} was trashed but its card {card_ids} is still open")
        lead_of_card: dict[str, list[str]] = {}
        for lead in leads.values():
            if lead["card"] and not lead["deleted"]:
                lead_of_card.setdefault(lead["card"], []).append(lead["id"])
        for card_id, lead_ids in lead_of_card.items():
            if len(lead_ids) > 1 and card_id in cards and not cards[card_id]["closed"]:
                v.append(f"duplicate: card {card_id} is named by {len(lead_ids)} leads {sorted(lead_ids)}")
        seen_cards = Counter(link.card_id for link in links)
        for card_id, n in seen_cards.items():
            if n > 1:
                v.append(f"duplicate: card {card_id} is in {n} links")
        linked = {link.lead_id: link for link in links}
        for lead in leads.values():
            wants = lead["status"] != "Lost" and lead["id"] not in self.detached_leads
            if lead["deleted"] or not wants:
                continue
            mine = by_lead.get(lead["id"], [])
            link = linked.get(lead["id"])
            allowed = 1 + self.copies[lead["id"]]
            if not 1 <= len(mine) <= allowed or link is None or link.detached or link.card_id not in mine:
                v.append(f"lead {lead['id']} should have one linked live card: cards {mine}, link {link}")
            elif lead["card"] != link.card_id:
                v.append(f"lead {lead['id']} names card {lead['card']}, but its card is {link.card_id}")

    def _check_pair(self, link: Link, lead: dict[str, Any], card: dict[str, Any]) -> None:
        v = self.out.violations
        card_values = {
            "name": card["name"],
            "email": card["email"],
            "status": LIST_TO_STATUS.get(card["list"], card["list"]),
            "source": card["source"],
        }
        if card["lead"] != link.lead_id:
            v.append(f"card {card['id']} carries marker {card['lead']!r}, linked to lead {link.lead_id}")
        for name in FIELDS:
            values = (_norm(lead[name]), _norm(card_values[name]), _norm(link.base.get(name)))
            if len(set(values)) != 1:
                v.append(
                    f"not converged: lead {link.lead_id} / card {link.card_id} {name}: lead, card, base = {values}"
                )
                continue
            self._check_edits(link, name, values[0])

    def _check_edits(self, link: Link, name: str, final: str | None) -> None:
        ids = {"lead": link.lead_id, "card": link.card_id}
        edits = {side: self.edits.get((side, ids[side], name)) for side in ids}
        if name not in TWO_WAY:
            edits["card"] = None  # a one-way field takes nothing from the card
        # What can overtake a lead's edit: the newest edit of its card *or of a card it had before*
        # (archived, its marker still naming the lead), which a cycle may have synced before the lead
        # was given its present card.
        earlier_cards = [cid for cid, lead in self.former_cards.items() if lead == link.lead_id]
        card_edits = [self.edits.get(("card", cid, name)) for cid in [link.card_id, *earlier_cards]]
        newest_card = max((e for e in card_edits if e is not None), key=lambda e: e.step, default=None)
        overtaking = {"lead": edits["lead"], "card": newest_card if name in TWO_WAY else None}
        for side, edit in edits.items():
            other = overtaking["card" if side == "lead" else "lead"]
            if edit is None or _norm(edit.value) == final or (other is not None and other.step > edit.step):
                continue
            logged = [
                c
                for c in self.env.conflicts.records
                if c["field"] == name
                and c["lead"] == link.lead_id
                and c["winner"] != side
                and _norm(c[f"{side}_value"]) == _norm(edit.value)
            ]
            if not logged:
                self.out.violations.append(
                    f"lost edit: {side} {ids[side]} {name}={edit.value!r} (step {edit.step}) became {final!r} "
                    "with no conflict logged"
                )


def _norm(value: str | None) -> str | None:
    return value or None


def run_scenario(
    env: SoakEnvironment,
    tracker: str,
    seed: int,
    steps: int = DEFAULT_STEPS,
    *,
    spare_creates: bool = False,
    fault_token_endpoint: bool = True,
    hostile: bool = True,
    approve: bool | None = None,
    webhooks: bool = False,
) -> Outcome:
    """Run one seeded scenario and check the invariants (never raises for a violation).

    ``spare_creates``: no ambiguous fault (lost answer, timeout, truncated, malformed) on POST
    requests (a create used to be retried blind and duplicated; fixed in the transport).
    ``fault_token_endpoint``: also fault the Google token endpoint (on by default; an unreadable token
    answer used to escape as a TypeError, fixed in connectors/sheets_auth.py).
    ``hostile``: add the hostile edits (tests/soak/hostile.py) and their invariants (on by default).
    ``approve``: ``on_lead_deleted: approve`` and its invariants (default: every third seed).
    ``webhooks``: the board's Trello webhook calls the receiver, with deliveries dropped, duplicated and
    reordered, and hinted cycles run the worker on the queued hints (tests/soak/webhooks.py).
    """
    scenario = Scenario(
        env,
        tracker,
        seed,
        steps,
        spare_creates=spare_creates,
        fault_token_endpoint=fault_token_endpoint,
        hostile=hostile,
        approve=approve,
        webhooks=webhooks,
    )
    try:
        outcome = scenario.run()
        check = getattr(scenario.h.handler, "check", None)  # the fan-out's bystander pairs (tests/soak/fanout.py)
        if check is not None:
            outcome.violations += [f"bystander: {problem}" for problem in check()]
        return outcome
    except Exception as exc:  # an unexpected error is a finding too, with the steps that led to it
        scenario.out.violations.append(f"exception at step {scenario.step}: {type(exc).__name__}: {exc}")
        return scenario.out
    finally:
        if scenario.hooks is not None:
            scenario.out.webhook.update(scenario.hooks.counts())
            scenario.hooks.stop()
        env.cleanup()


__all__ = ["LISTS", "Outcome", "Scenario", "run_scenario"]
