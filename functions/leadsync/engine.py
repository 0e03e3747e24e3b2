"""One sync cycle of one pair: lease -> load -> fetch -> plan -> apply -> commit.

The imperative shell around the pure planner. Everything needed to resume lives in the
StateStore or in the two systems; a cycle that dies at any line leaves state the next
cycle can finish from (intents for creations, cursors committed last, failed records
kept in ``pending`` and fetched directly next time).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from leadsync import backlog
from leadsync.config import PairConfig
from leadsync.connectors.base import BatchLinking, Connector
from leadsync.connectors.deadline import Deadline
from leadsync.core.fingerprint import fingerprint
from leadsync.core.guards import Held, hold_mass_deletions
from leadsync.core.mapping import Normalizer
from leadsync.core.models import Fence, FetchResult, Intent, Link, PairMeta, Record, Side
from leadsync.core.operations import Archive, Create, Plan, SetMarker, Unit, Update
from leadsync.core.planner import PlanConfig, plan
from leadsync.errors import (
    ApiError,
    DeadlineExceeded,
    LeadsyncError,
    LeaseHeld,
    RecordError,
    RetryableError,
    StaleState,
)
from leadsync.identity import check_containers
from leadsync.observability import COUNT, MILLISECONDS, SECONDS, logger, metrics, tracer
from leadsync.state.base import StateStore

MAX_PENDING = 1000  # ids kept for a direct re-fetch; past this the cursor is held back instead
MAX_SEEN = 3000  # fingerprints kept for overlap/echo dedupe
SEEN_WINDOW = timedelta(minutes=15)
UNIT_RESERVE_SECONDS = 2.0  # do not start a unit with less time than this left
MARKER_FLUSH_SECONDS = 3.0  # ... plus this while link markers wait to be written in a batch
DIRECT_READ_SHARE = 0.5  # direct (one-by-one) reads may use at most this share of the remaining time


def utcnow() -> datetime:
    return datetime.now(UTC)


def _connector_normalizer(connector: Connector, native: str) -> Normalizer | None:
    method = getattr(connector, "normalizer", None)
    return method(native) if callable(method) else None


def _compose(steps: list[Normalizer]) -> Normalizer:
    def composed(value: str | None) -> str | None:
        for step in steps:
            value = step(value)
        return value

    return composed


@dataclass
class PairRuntime:
    """A pair's config with its two connectors, ready to sync."""

    config: PairConfig
    lead: Connector
    card: Connector
    plan_config: PlanConfig = field(init=False)

    def __post_init__(self) -> None:
        self.plan_config = self.config.plan_config(self._normalizers())

    def _normalizers(self) -> dict[str, Normalizer]:
        """Per canonical field, how each system reshapes a value it stores (see Connector.normalizer)."""
        out: dict[str, Normalizer] = {}
        for name, f in self.config.fields.items():
            steps = [
                step
                for connector, native in ((self.lead, f.lead), (self.card, f.card))
                if (step := _connector_normalizer(connector, native)) is not None
            ]
            if steps:
                out[name] = _compose(steps)
        return out

    @property
    def id(self) -> str:
        return self.config.id

    def connector(self, side: Side) -> Connector:
        return self.lead if side is Side.LEAD else self.card


@dataclass
class CycleReport:
    """What one cycle of one pair did (also the ``last_run`` summary stored in META)."""

    pair: str
    status: str = "synced"  # synced | partial | skipped | failed | dry_run
    full_sweep: bool = False
    read: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    deferred: int = 0
    held_deletions: int = 0  # archives kept back by the mass-deletion guard
    duration_ms: int = 0
    started_monotonic: float = field(default_factory=time.monotonic, repr=False)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started_monotonic) * 1000)

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "full_sweep": self.full_sweep,
            "read": self.read,
            "applied": self.applied,
            "conflicts": self.conflicts,
            "errors": len(self.errors),
            "problems": len(self.problems),
            "deferred": self.deferred,
            "held_deletions": self.held_deletions,
            "duration_ms": self.duration_ms,
        }


@dataclass
class _Cycle:
    """Working data of one cycle."""

    pair: PairRuntime
    meta: PairMeta
    started: datetime
    deadline: Deadline
    report: CycleReport
    fence: Fence
    force_sweep: bool = False
    allow_deletions: bool = False
    records: dict[Side, dict[str, Record]] = field(default_factory=lambda: {Side.LEAD: {}, Side.CARD: {}})
    fetched: dict[Side, FetchResult] = field(default_factory=dict)
    failed: dict[Side, set[str]] = field(default_factory=lambda: {Side.LEAD: set(), Side.CARD: set()})
    seen: dict[Side, dict[str, tuple[str, datetime | None]]] = field(
        default_factory=lambda: {Side.LEAD: {}, Side.CARD: {}}
    )
    intents: list[Intent] = field(default_factory=list)
    resolved_intents: list[Intent] = field(default_factory=list)
    unconfirmed: bool = False  # some absence could not be confirmed: the sweep is not complete
    blocked: dict[Side, set[str]] = field(default_factory=lambda: {Side.LEAD: set(), Side.CARD: set()})
    backlog_consumed: list[int] = field(default_factory=list)  # chunks read from the head this cycle
    backlog_rest: list[dict[str, object]] = field(default_factory=list)  # read but not taken: saved again
    from_backlog: set[tuple[Side, str]] = field(default_factory=set)
    deferred_creates: dict[tuple[Side, str], Record] = field(default_factory=dict)
    markers: dict[Side, list[tuple[str, str | None]]] = field(default_factory=lambda: {Side.LEAD: [], Side.CARD: []})


@dataclass
class _Reads:
    """What a batch of direct reads could not take: out of time, refused, or not there."""

    unread: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


class Engine:
    """Runs cycles against one StateStore."""

    def __init__(self, store: StateStore, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: utcnow())  # looked up per call: the demo fast-forwards it

    def sync(
        self,
        pair: PairRuntime,
        deadline: Deadline,
        owner: str,
        *,
        dry_run: bool = False,
        full_sweep: bool = False,
        allow_deletions: bool = False,
    ) -> CycleReport:
        """Run one cycle for ``pair``. Never raises: whatever goes wrong is the report's.

        ``full_sweep`` forces a sweep; ``allow_deletions`` lifts the mass-deletion guard for this
        cycle (the operator's confirmation, see ``docs/reliability.md``).
        """
        started = self.clock()
        report = CycleReport(pair.id)
        ttl = int(min(deadline.remaining(), 900)) + 60
        try:
            meta = self.store.acquire(pair.id, owner, started, ttl)
        except LeaseHeld as exc:
            logger.info("another run holds this pair's lease; skipping this cycle", extra={"reason": str(exc)})
            report.status = "skipped"
            return report
        fence = Fence(owner, meta.version)
        cycle = _Cycle(pair, meta, started, deadline, report, fence, full_sweep, allow_deletions)
        try:
            self._run(cycle, owner, dry_run)
        except LeadsyncError as exc:
            report.status = "failed"
            report.errors.append(str(exc))
            logger.error("cycle failed; state left for the next cycle to finish", extra={"error": str(exc)})
            self._release(pair.id, owner)
        except Exception as exc:  # a bug or an unexpected answer: this pair fails, the others still run
            report.status = "failed"
            report.errors.append(f"pair {pair.id}: unexpected {type(exc).__name__}: {exc}")
            logger.exception("cycle failed unexpectedly; state left for the next cycle to finish")
            self._release(pair.id, owner)
        finally:
            report.duration_ms = report.elapsed_ms()
            self._emit(report, cycle)
        return report

    def _release(self, pair_id: str, owner: str) -> None:
        try:
            self.store.release(pair_id, owner)
        except Exception:  # the lease expires by itself; the failure being reported matters more
            logger.exception("could not release the lease")

    # -- phases ---------------------------------------------------------------------------------

    def _run(self, cycle: _Cycle, owner: str, dry_run: bool) -> None:
        pair = cycle.pair
        check_containers(pair.config, cycle.meta)  # a re-pointed pair stops here, before any read
        cycle.intents = self.store.intents(pair.id)
        full = cycle.force_sweep or self._is_sweep_due(cycle)
        cycle.report.full_sweep = full
        with tracer.provider.in_subsegment("fetch"):
            try:
                for side in (Side.LEAD, Side.CARD):
                    self._fetch(cycle, side, full)
            except (DeadlineExceeded, RetryableError) as exc:
                out_of_time = isinstance(exc, DeadlineExceeded) or cycle.deadline.remaining() < UNIT_RESERVE_SECONDS
                if not full or dry_run or not out_of_time:
                    raise
                self._postpone_sweep(cycle, owner, exc)
                return
            self._recover_intents(cycle)
            self._take_backlog(cycle)
        links = self._load_links(cycle, full)
        for side, ids in cycle.blocked.items():  # an unresolved intent: plan nothing for its source yet
            for record_id in ids:
                cycle.records[side].pop(record_id, None)
                cycle.failed[side].add(record_id)
        with tracer.provider.in_subsegment("plan"):
            the_plan = plan(pair.plan_config, links, cycle.records[Side.LEAD], cycle.records[Side.CARD])
        cycle.report.problems.extend(the_plan.problems)
        for problem in the_plan.problems:
            logger.warning(problem)
        the_plan, held = self._guard_deletions(cycle, the_plan, links, full)
        if dry_run:
            cycle.report.status = "dry_run"
            cycle.report.activity = the_plan.describe() + [f"held: {line}" for line in Plan(held.units).describe()]
            self.store.release(pair.id, owner)
            return
        with tracer.provider.in_subsegment("apply"):
            puts, drops = self._apply(cycle, the_plan)
        with tracer.provider.in_subsegment("commit"):
            if drops:
                self.store.delete_links(pair.id, drops, fence=cycle.fence)
            if puts:
                self.store.put_links(pair.id, puts, fence=cycle.fence)
            for intent in cycle.resolved_intents:
                self.store.delete_intent(pair.id, intent.token, fence=cycle.fence)
            self._commit(cycle, owner, full)

    def _guard_deletions(self, cycle: _Cycle, the_plan: Plan, links: list[Link], full: bool) -> tuple[Plan, Held]:
        """Keep back every archive of a plan that would archive more than the pair's limit.

        The rest of the plan runs. The held records are found again by the next sweep, and held
        again, until the operator confirms (``allow_deletions``) or raises the limit.
        """
        pair = cycle.pair
        known = len(links) if full else max(cycle.meta.link_count, len(links))
        if full:
            cycle.meta.link_count = len(links)
        limit = pair.config.deletion_limit(known)
        kept, held = hold_mass_deletions(the_plan, limit)
        if not held.units:
            return the_plan, held
        if cycle.allow_deletions:
            logger.warning(
                "mass deletion confirmed by the operator",
                extra={"pair": pair.id, "deletions": held.count, "limit": limit},
            )
            return the_plan, Held(limit=limit)
        message = (
            f"pair {pair.id}: this cycle would archive or delete {held.count} records, more than the limit of "
            f"{limit} (max_deletions_per_cycle); none was archived or deleted, everything else was synced. "
            f"If these deletions are meant, run `python -m leadsync sync --allow-deletions {pair.id}` or raise "
            "max_deletions_per_cycle; if not, check the trackers and the pair's configuration (an emptied or "
            "re-pointed database, table, sheet or board?)"
        )
        logger.error(message, extra={"examples": [op.describe() for u in held.units[:5] for op in u.ops]})
        cycle.report.errors.append(message)
        cycle.report.held_deletions = held.count
        for unit in held.units:  # read again by the next sweep, not skipped as already seen
            for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
                if record_id:
                    cycle.seen[side].pop(record_id, None)
        return kept, held

    def _postpone_sweep(self, cycle: _Cycle, owner: str, exc: LeadsyncError) -> None:
        """A full sweep that does not fit in one invocation is not retried every minute (which
        would stop all syncing): it is retried after ``full_sweep_minutes``, and the cycles
        in between are incremental. Nothing else in the state changes."""
        message = (
            f"pair {cycle.pair.id}: the full sweep did not fit in this invocation ({exc}); incremental cycles "
            f"go on and the sweep is tried again in {cycle.pair.config.full_sweep_minutes} minutes. Deletions "
            "that only a sweep notices wait until one fits: see docs/deploy.md (large trackers)"
        )
        logger.error(message)
        cycle.report.errors.append(message)
        cycle.report.status = "partial"
        cycle.meta.last_full_sweep = cycle.started.isoformat()  # the last attempt: see _is_sweep_due
        cycle.meta.last_run = {**cycle.report.summary(), "at": cycle.started.isoformat()}
        try:
            cycle.meta = self.store.commit(cycle.pair.id, owner, cycle.meta, release=True)
        except StaleState as err:
            cycle.report.status = "failed"
            cycle.report.errors.append(str(err))
            logger.error("state changed under this run (lease lost?); nothing committed", extra={"error": str(err)})

    def _is_sweep_due(self, cycle: _Cycle) -> bool:
        last = cycle.meta.last_full_sweep
        if last is None:
            return True
        period = timedelta(minutes=cycle.pair.config.full_sweep_minutes)
        return cycle.started - datetime.fromisoformat(last) >= period

    def _fetch(self, cycle: _Cycle, side: Side, full: bool) -> None:
        connector = cycle.pair.connector(side)
        cursor = None if full else cycle.meta.cursors.get(side.value)
        result = connector.fetch_changed(cursor)
        cycle.fetched[side] = result
        for record in result.records:
            self._take(cycle, side, record)
        pending = [i for i in cycle.meta.pending.get(side.value, []) if i not in cycle.records[side]]
        reads = self._read_directly(cycle, side, pending)
        for record_id in [*reads.unread, *reads.refused]:
            cycle.failed[side].add(record_id)  # not read this time: stays pending
        cycle.report.read[side.value] = len(result.records)

    def _read_directly(self, cycle: _Cycle, side: Side, ids: list[str], *, absent_is_deleted: bool = True) -> _Reads:
        """Read records one by one while time allows (they are rate limited).

        A record that is not there (for this pair: gone, or in another database or board) is taken
        as deleted when ``absent_is_deleted``, else listed in ``absent``. A refusal naming one
        record (a 4xx, a malformed id) is that record's problem: reported, and the reads go on.
        Direct reads never take more than ``DIRECT_READ_SHARE`` of the remaining time, so a long
        list of them can never keep a cycle from applying and committing anything.
        """
        connector = cycle.pair.connector(side)
        reads = _Reads()
        stop_below = cycle.deadline.remaining() * (1 - DIRECT_READ_SHARE)
        for index, record_id in enumerate(ids):
            if cycle.deadline.remaining() <= stop_below:
                reads.unread = ids[index:]
                return reads
            try:
                record = connector.get(record_id)
            except (DeadlineExceeded, RetryableError) as exc:
                logger.warning("direct reads stopped; the rest wait for the next cycle", extra={"error": str(exc)})
                reads.unread = ids[index:]
                return reads
            except (ApiError, RecordError) as exc:
                self._problem(cycle, f"{side.value} {record_id} could not be read ({connector.system}): {exc}")
                reads.refused.append(record_id)
                continue
            if record is None and not absent_is_deleted:
                reads.absent.append(record_id)
                continue
            self._take(cycle, side, record if record is not None else Record(record_id, {}, deleted=True), force=True)
        return reads

    def _get(self, connector: Connector, record_id: str) -> Record:
        """A direct read; a record that is gone comes back as ``deleted``."""
        record = connector.get(record_id)
        return record if record is not None else Record(record_id, {}, deleted=True)

    @staticmethod
    def _problem(cycle: _Cycle, message: str) -> None:
        cycle.report.problems.append(message)
        logger.warning(message)

    def _checked_ids(self, cycle: _Cycle, side: Side, native: Record) -> Record | None:
        """The record with its link marker checked against the other system's id format (a marker
        anyone can type is never put into a URL or a query); ``None`` if its own id is malformed."""
        own = cycle.pair.connector(side)
        if own.normalize_id(native.id) != native.id:
            self._problem(cycle, f"{side.value} {native.id!r}: not a valid {own.system} id; skipped")
            return None
        if native.link is None:
            return native
        other = cycle.pair.connector(side.other)
        link = other.normalize_id(native.link)
        if link is None:
            self._problem(
                cycle,
                f"{side.value} {native.id}: its link marker {native.link!r} is not a valid {other.system} id; "
                "ignored (the record is treated as unlinked)",
            )
        return native if link == native.link else replace(native, link=link)

    def _take(self, cycle: _Cycle, side: Side, native: Record, *, force: bool = False) -> None:
        """Canonicalise a record read this cycle; skip it if it is exactly what we last saw."""
        checked = self._checked_ids(cycle, side, native)
        if checked is None:
            return
        canonical, problems = cycle.pair.plan_config.mapping.to_canonical(side, checked)
        for problem in problems:
            cycle.report.problems.append(problem)
            logger.warning(problem)
        digest = fingerprint(canonical)
        cycle.seen[side][canonical.id] = (digest, canonical.updated_at)
        if not force and not problems and cycle.meta.seen.get(side.value, {}).get(canonical.id) == digest:
            return
        cycle.records[side][canonical.id] = canonical

    def _recover_intents(self, cycle: _Cycle) -> None:
        """Creations that may have been interrupted: find what they created (by marker) before planning.

        An intent resolved here is deleted at commit. One that cannot be resolved this cycle (no time,
        API down) keeps its source record out of planning, so it can never be created twice.
        """
        by_side: dict[Side, list[Intent]] = {}
        for intent in cycle.intents:
            by_side.setdefault(intent.side, []).append(intent)
        for side, intents in by_side.items():
            source_side = side.other
            try:
                found = self._find_created(cycle, side, intents)
                for intent in intents:
                    record = found.get(intent.source_id)
                    logger.info(
                        "recovering an interrupted creation",
                        extra={
                            "intent": intent.token,
                            "source": intent.source_id,
                            "found": record.id if record else None,
                        },
                    )
                    if record is not None and record.id not in cycle.records[side]:
                        self._take(cycle, side, record, force=True)
                    if intent.source_id not in cycle.records[source_side]:
                        source = self._get(cycle.pair.connector(source_side), intent.source_id)
                        self._take(cycle, source_side, source, force=True)
                    cycle.resolved_intents.append(intent)
            except (DeadlineExceeded, RetryableError) as exc:
                logger.warning("interrupted creations not resolved this cycle", extra={"error": str(exc)})
            done = {i.token for i in cycle.resolved_intents}
            for intent in intents:
                if intent.token not in done:
                    cycle.blocked[source_side].add(intent.source_id)

    def _find_created(self, cycle: _Cycle, side: Side, intents: list[Intent]) -> dict[str, Record]:
        """Records on ``side`` carrying the markers of these intents' sources (one listing for many)."""
        connector = cycle.pair.connector(side)
        if len(intents) == 1:
            record = connector.find_by_link(intents[0].source_id)
            return {intents[0].source_id: record} if record is not None else {}
        wanted = {i.source_id for i in intents}
        return {r.link: r for r in connector.fetch_all().records if r.link in wanted}

    def _load_links(self, cycle: _Cycle, full: bool) -> list[Link]:
        pair_id = cycle.pair.id
        leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
        if full:
            links = self.store.all_links(pair_id)
        else:
            found = self.store.links_by_lead(pair_id, list(leads)) if leads else {}
            by_card = self.store.links_by_card(pair_id, list(cards)) if cards else {}
            merged = {link.lead_id: link for link in found.values()}
            merged.update({link.lead_id: link for link in by_card.values()})
            links = list(merged.values())
        linked = {(Side.LEAD, link.lead_id) for link in links} | {(Side.CARD, link.card_id) for link in links}
        for side, record_id in cycle.from_backlog & linked:  # processed since it was saved: drop the snapshot
            cycle.records[side].pop(record_id, None)
        looked_up = {Side.LEAD: set(leads), Side.CARD: set(cards)}
        self._confirm(cycle, links, full)
        if not full:  # records read directly (named by a marker) may be linked too: their links count
            extra = {side: [i for i in cycle.records[side] if i not in looked_up[side]] for side in looked_up}
            known = {link.lead_id for link in links}
            more = [
                *(self.store.links_by_lead(pair_id, extra[Side.LEAD]).values() if extra[Side.LEAD] else ()),
                *(self.store.links_by_card(pair_id, extra[Side.CARD]).values() if extra[Side.CARD] else ()),
            ]
            for link in more:
                if link.lead_id not in known:
                    known.add(link.lead_id)
                    links.append(link)
        return links

    def _confirm(self, cycle: _Cycle, links: list[Link], full: bool) -> None:
        """Read directly what the planner needs but the listings did not give.

        A linked record missing from a complete listing is confirmed gone (or not) by a direct
        read before anything is deleted; a marker naming a record we did not read is resolved.
        """
        leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
        linked_leads = {link.lead_id for link in links}
        linked_cards = {link.card_id for link in links}
        wanted: dict[Side, set[str]] = {Side.LEAD: set(), Side.CARD: set()}
        if full:
            for link in links:
                for side, record_id in ((Side.LEAD, link.lead_id), (Side.CARD, link.card_id)):
                    complete = cycle.fetched[side].complete
                    if complete and record_id not in cycle.records[side] and record_id not in cycle.seen[side]:
                        wanted[side].add(record_id)
        referrers: dict[tuple[Side, str], set[str]] = {}
        for lead in list(leads.values()):
            if lead.id not in linked_leads and lead.link and lead.link not in cards:
                referrers.setdefault((Side.CARD, lead.link), set()).add(lead.id)
        for card in list(cards.values()):
            if card.id not in linked_cards and card.link and card.link not in leads:
                referrers.setdefault((Side.LEAD, card.link), set()).add(card.id)
        for side in (Side.LEAD, Side.CARD):
            confirmed = self._read_directly(cycle, side, sorted(wanted[side]))
            if confirmed.unread:  # not confirmed this cycle: nothing is concluded about them
                cycle.unconfirmed = True
            named = sorted({i for (s, i) in referrers if s is side} - wanted[side])
            reads = self._read_directly(cycle, side, named, absent_is_deleted=False)
            cycle.unconfirmed |= bool(reads.unread)
            for record_id in [*confirmed.unread, *confirmed.refused, *reads.unread, *reads.refused]:
                for referrer in referrers.get((side, record_id), ()):  # retried next cycle
                    cycle.records[side.other].pop(referrer, None)
                    cycle.failed[side.other].add(referrer)
            for record_id in reads.absent:
                for referrer in referrers[(side, record_id)]:
                    self._ignore_marker(cycle, side.other, referrer, record_id)

    def _ignore_marker(self, cycle: _Cycle, side: Side, record_id: str, named: str) -> None:
        """A marker naming a record this pair cannot see (deleted for good, or a page, record or
        card of another database, table or board: a copy, or typed by hand) is not followed."""
        system = cycle.pair.connector(side.other).system
        logger.warning(
            "refused foreign or unknown link",
            extra={"side": side.value, "record": record_id, "names": named, "system": system},
        )
        self._problem(
            cycle,
            f"{side.value} {record_id}: its link marker names {side.other.value} {named}, which is not in this "
            f"pair's {system} (deleted, or another database's or board's); the marker is ignored",
        )
        record = cycle.records[side].get(record_id)
        if record is not None:
            cycle.records[side][record_id] = replace(record, link=None)

    def _apply(self, cycle: _Cycle, the_plan: Plan) -> tuple[list[Link], list[Link]]:
        puts: list[Link] = []
        drops: list[Link] = []
        for unit in the_plan.units:
            if unit.writes and cycle.deadline.remaining() < self._reserve(cycle):
                self._defer(cycle, unit)
                continue
            # Logged before the writes: once the winner's value reaches the losing side, the next
            # cycle sees both sides agree, so a unit cut short (error, crash) would never log it.
            self._record_conflicts(cycle, unit)
            try:
                link = self._apply_unit(cycle, unit)
            except DeadlineExceeded:
                self._defer(cycle, unit)
                continue
            except StaleState:  # the lease is lost: another run owns the pair now, write nothing more
                raise
            except LeadsyncError as exc:
                message = f"pair {cycle.pair.id}, lead {unit.lead_id}, card {unit.card_id}: {exc}"
                cycle.report.errors.append(message)
                logger.error("could not apply changes; will retry next cycle", extra={"error": message})
                self._mark_failed(cycle, unit)
                continue
            created = any(isinstance(op, Create) for op in unit.ops)
            if link is not None and not created:  # a creation stores its link at once
                puts.append(link)
            if unit.drop is not None and not created:
                drops.append(unit.drop)
            self._record_activity(cycle, unit)
        for side in (Side.LEAD, Side.CARD):
            self._write_markers(cycle, side)
        return puts, drops

    @staticmethod
    def _reserve(cycle: _Cycle) -> float:
        """Time a unit must leave: the commit's, plus the queued markers' write when there are some."""
        queued = any(cycle.markers[side] for side in (Side.LEAD, Side.CARD))
        return UNIT_RESERVE_SECONDS + (MARKER_FLUSH_SECONDS if queued else 0.0)

    def _apply_unit(self, cycle: _Cycle, unit: Unit) -> Link | None:
        pair = cycle.pair
        mapping = pair.plan_config.mapping
        link = unit.link
        detached = link is not None and link.detached
        for op in unit.ops:
            connector = pair.connector(op.side)
            if isinstance(op, Create):
                link = self._create(cycle, op, link, unit.drop)
            elif isinstance(op, Update):
                native, problems = mapping.to_native(op.side, op.changes, op.record_id)
                cycle.report.problems.extend(problems)
                if native:
                    written = connector.update(op.record_id, native)
                    self._remember(cycle, op.side, written)
            elif isinstance(op, Archive):
                connector.archive(op.record_id)
                cycle.seen[op.side].pop(op.record_id, None)
            elif isinstance(op, SetMarker) and (
                detached or not self._queue_marker(cycle, op.side, op.record_id, op.link)
            ):  # a tombstone's marker is written at once: the planner relies on it next cycle
                connector.set_link(op.record_id, op.link)
                self._remember_marker(cycle, op.side, op.record_id, op.link)
            self._count(cycle, op)
        return link

    def _create(self, cycle: _Cycle, op: Create, link: Link | None, unit_drop: Link | None) -> Link:
        """Create with an intent first, so a crash at any line cannot duplicate the record."""
        pair = cycle.pair
        assert link is not None
        token = uuid.uuid4().hex
        if unit_drop is not None:
            self.store.delete_links(pair.id, [unit_drop], fence=cycle.fence)
        # fenced: a run that lost its lease (paused past it) stops here, before creating anything
        self.store.put_intent(pair.id, Intent(token, op.side, op.source_id, self.clock()), fence=cycle.fence)
        native, problems = pair.plan_config.mapping.to_native(op.side, op.fields, op.source_id)
        cycle.report.problems.extend(problems)
        try:
            created = pair.connector(op.side).create(native, op.source_id)
        except ApiError:  # a definite refusal: nothing was created, nothing to recover
            self.store.delete_intent(pair.id, token, fence=cycle.fence)
            raise
        # (on a deadline or transient error the create may or may not have happened: the intent stays)
        self._remember(cycle, op.side, created)
        new_link = replace(link, card_id=created.id) if op.side is Side.CARD else replace(link, lead_id=created.id)
        self.store.put_links(pair.id, [new_link], fence=cycle.fence)
        self.store.delete_intent(pair.id, token, fence=cycle.fence)
        if self._queue_marker(cycle, op.side.other, op.source_id, created.id):
            return new_link
        try:
            pair.connector(op.side.other).set_link(op.source_id, created.id)
            self._remember_marker(cycle, op.side.other, op.source_id, created.id)
        except (DeadlineExceeded, RetryableError) as exc:  # the link is stored; the marker is rewritten later
            self._marker_not_written(cycle, op.side.other, op.source_id, exc)
        return new_link

    def _queue_marker(self, cycle: _Cycle, side: Side, record_id: str, link: str | None) -> bool:
        """Queue a marker for a connector that writes them in batches (``BatchLinking``); a full
        batch is written at once, the rest at the end of ``_apply``. False: write it now."""
        connector = cycle.pair.connector(side)
        size = getattr(connector, "link_batch_size", 0)
        if not size:
            return False
        queue = cycle.markers[side]
        queue.append((record_id, link))
        if len(queue) >= size:
            self._write_markers(cycle, side)
        return True

    def _write_markers(self, cycle: _Cycle, side: Side) -> None:
        """Write the queued markers of one side. A marker not written is harmless: the link is
        stored, and the record, read again next cycle, gets its marker then."""
        queued, cycle.markers[side] = cycle.markers[side], []
        if not queued:
            return
        connector: BatchLinking = cycle.pair.connector(side)  # type: ignore[assignment]
        try:
            failed = connector.set_links(queued)
        except LeadsyncError as exc:  # the whole batch (a deadline, a refusal, a header gone)
            failed = dict.fromkeys((record_id for record_id, _ in queued), exc)
        for record_id, link in queued:
            error = failed.get(record_id)
            if error is None:
                self._remember_marker(cycle, side, record_id, link)
            else:
                self._marker_not_written(cycle, side, record_id, error)

    def _marker_not_written(self, cycle: _Cycle, side: Side, record_id: str, error: LeadsyncError) -> None:
        """Read the record again next cycle; its stored link then asks for the marker again."""
        logger.warning("link marker not written yet", extra={"record": record_id, "error": str(error)})
        cycle.records[side].pop(record_id, None)
        cycle.seen[side].pop(record_id, None)
        cycle.failed[side].add(record_id)

    def _remember(self, cycle: _Cycle, side: Side, native: Record) -> None:
        canonical, _ = cycle.pair.plan_config.mapping.to_canonical(side, native)
        cycle.seen[side][canonical.id] = (fingerprint(canonical), self.clock())
        cycle.records[side][canonical.id] = canonical

    def _remember_marker(self, cycle: _Cycle, side: Side, record_id: str, link: str | None) -> None:
        record = cycle.records[side].get(record_id)
        if record is not None:
            updated = replace(record, link=link)
            cycle.records[side][record_id] = updated
            cycle.seen[side][record_id] = (fingerprint(updated), self.clock())
        else:
            cycle.seen[side].pop(record_id, None)

    def _defer(self, cycle: _Cycle, unit: Unit) -> None:
        """No time left for this unit: a creation goes to the backlog, anything else is re-read next cycle."""
        cycle.report.deferred += 1
        first = unit.ops[0] if unit.ops else None
        if isinstance(first, Create):
            source_side = first.side.other
            record = cycle.records[source_side].get(first.source_id)
            if record is not None:
                cycle.deferred_creates[(source_side, first.source_id)] = record
                cycle.seen[source_side].pop(first.source_id, None)
                return
        self._mark_failed(cycle, unit)

    def _mark_failed(self, cycle: _Cycle, unit: Unit) -> None:
        for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
            if record_id:
                cycle.failed[side].add(record_id)
                cycle.seen[side].pop(record_id, None)
        if unit.lead_id is None and unit.ops and isinstance(unit.ops[0], Create):
            cycle.failed[unit.ops[0].side.other].add(unit.ops[0].source_id)

    def _count(self, cycle: _Cycle, op: Create | Update | Archive | SetMarker) -> None:
        key = f"{type(op).__name__.lower()}_{op.side.value}"
        cycle.report.applied[key] = cycle.report.applied.get(key, 0) + 1

    def _record_activity(self, cycle: _Cycle, unit: Unit) -> None:
        for op in unit.ops:
            line = op.describe()
            cycle.report.activity.append(line)
            logger.info("applied", extra={"activity": line, "lead": unit.lead_id, "card": unit.card_id})
        for note in unit.notes:
            cycle.report.activity.append(note)
            logger.info(note, extra={"lead": unit.lead_id, "card": unit.card_id})

    def _record_conflicts(self, cycle: _Cycle, unit: Unit) -> None:
        """Log each conflict of a unit about to be applied (again if the unit is retried next cycle)."""
        for conflict in unit.conflicts:
            cycle.report.conflicts += 1
            line = (
                f"conflict on {conflict.field} ({conflict.reason}): lead={conflict.lead_value!r} "
                f"card={conflict.card_value!r} -> {conflict.winner.value} wins"
            )
            cycle.report.activity.append(line)
            logger.warning(
                "conflict resolved",
                extra={
                    "field": conflict.field,
                    "lead_value": conflict.lead_value,
                    "card_value": conflict.card_value,
                    "winner": conflict.winner.value,
                    "lead": unit.lead_id,
                    "card": unit.card_id,
                },
            )

    def _take_backlog(self, cycle: _Cycle) -> None:
        """Take a batch of saved records from the head of the backlog (a fresher read wins).

        Entries whose record got linked since they were saved are dropped on the way; chunks are
        read until a full batch of still-unlinked records is found (bounded), so a backlog full of
        stale entries drains in one cycle and every invocation of a first sync has a full batch.
        """
        live: list[dict[str, object]] = []
        for seq in cycle.meta.backlog[: backlog.MAX_CHUNKS_PER_CYCLE]:
            chunk = self.store.backlog(cycle.pair.id, seq)
            cycle.backlog_consumed.append(seq)
            live.extend(self._unlinked(cycle.pair.id, chunk))
            if len(live) >= backlog.BATCH or cycle.deadline.remaining() < UNIT_RESERVE_SECONDS * 4:
                break
        batch, cycle.backlog_rest = live[: backlog.BATCH], live[backlog.BATCH :]
        for entry in batch:
            side, record = backlog.decode(entry)
            if record.id not in cycle.records[side]:
                cycle.records[side][record.id] = record
                cycle.from_backlog.add((side, record.id))
        if cycle.backlog_consumed:
            cycle.report.read["backlog"] = len(batch)

    def _unlinked(self, pair_id: str, entries: list[dict[str, object]]) -> list[dict[str, object]]:
        """The entries whose record has no link yet (one batched lookup per side)."""
        ids: dict[Side, list[str]] = {Side.LEAD: [], Side.CARD: []}
        for entry in entries:
            ids[Side(str(entry["side"]))].append(str(entry["id"]))
        linked = {
            Side.LEAD: set(self.store.links_by_lead(pair_id, ids[Side.LEAD])) if ids[Side.LEAD] else set(),
            Side.CARD: set(self.store.links_by_card(pair_id, ids[Side.CARD])) if ids[Side.CARD] else set(),
        }
        seen: set[tuple[Side, str]] = set()
        out = []
        for entry in entries:
            key = (Side(str(entry["side"])), str(entry["id"]))
            if key[1] not in linked[key[0]] and key not in seen:
                seen.add(key)
                out.append(entry)
        return out

    def _save_backlog(self, cycle: _Cycle) -> list[int]:
        """Write the new backlog queue into fresh chunks; META's commit switches to it.

        Returns the chunks to delete once META is committed. A crash before the commit leaves
        the old queue intact (records already linked are then skipped, never created twice).
        """
        meta = cycle.meta
        if not cycle.deferred_creates and not cycle.backlog_consumed:
            return []
        deferred = [backlog.encode(side, record) for (side, _), record in sorted(cycle.deferred_creates.items())]
        # What was left of the head and this cycle's deferrals go first, in shared chunks, then the
        # older chunks. Deferrals appended as chunks of their own would leave a long first sync with
        # dozens of chunks of a few entries each, more than a cycle reads (MAX_CHUNKS_PER_CYCLE).
        head, too_large = backlog.chunks([*cycle.backlog_rest, *deferred])
        for entry in too_large:  # cannot be saved whole: re-read it directly instead
            cycle.failed[Side(str(entry["side"]))].add(str(entry["id"]))
        retired = list(cycle.backlog_consumed)
        tail = meta.backlog[len(retired) :]
        first = max([*meta.backlog, -1]) + 1
        written = list(range(first, first + len(head)))
        for seq, chunk in zip(written, head, strict=True):
            self.store.put_backlog(cycle.pair.id, seq, chunk, fence=cycle.fence)
        meta.backlog = [*written, *tail]
        return retired

    def _commit(self, cycle: _Cycle, owner: str, full: bool) -> None:
        meta = cycle.meta
        held_back = False
        for side in (Side.LEAD, Side.CARD):
            pending = sorted(cycle.failed[side])
            result = cycle.fetched[side]
            if len(pending) > MAX_PENDING:
                held_back = True  # too many to track one by one: read the same window again
                meta.pending[side.value] = []
            else:
                meta.pending[side.value] = pending
                if result.cursor is not None:
                    meta.cursors[side.value] = result.cursor
            meta.seen[side.value] = self._seen_to_keep(cycle, side)
        retired = self._save_backlog(cycle)
        complete = all(cycle.fetched[s].complete for s in (Side.LEAD, Side.CARD))
        if full and complete and not held_back and not cycle.unconfirmed:
            meta.last_full_sweep = cycle.started.isoformat()
        if cycle.report.errors or cycle.report.deferred:
            cycle.report.status = "partial"
        cycle.report.duration_ms = cycle.report.elapsed_ms()
        meta.last_run = {**cycle.report.summary(), "at": cycle.started.isoformat()}
        try:
            cycle.meta = self.store.commit(cycle.pair.id, owner, meta, release=True)
        except StaleState as exc:
            cycle.report.status = "failed"
            cycle.report.errors.append(str(exc))
            logger.error(
                "state changed under this run (lease lost?); nothing more committed",
                extra={"error": str(exc)},
            )
            return
        if retired:
            self.store.delete_backlog(cycle.pair.id, retired)
        self._acknowledge(cycle)

    def _acknowledge(self, cycle: _Cycle) -> None:
        """Tell connectors that keep change markers in the system itself (Sheets) what is handled:
        the records now in sync, and the new ones saved to the backlog (committed with it, they
        are the backlog's to create; read as changed again they would only be saved again, every
        cycle, until their turn came: 10,000 rows re-read and re-saved per invocation of a first sync)."""
        for side in (Side.LEAD, Side.CARD):
            method = getattr(cycle.pair.connector(side), "acknowledge", None)
            if not callable(method):
                continue
            saved = [record_id for (s, record_id) in cycle.deferred_creates if s is side]
            done = [i for i in dict.fromkeys([*cycle.seen[side], *saved]) if i not in cycle.failed[side]]
            if done:
                try:
                    method(sorted(done))
                except LeadsyncError as exc:  # harmless: those rows are read as changed next cycle
                    logger.warning("could not acknowledge synced rows", extra={"error": str(exc)})

    def _seen_to_keep(self, cycle: _Cycle, side: Side) -> dict[str, str]:
        horizon = cycle.started - SEEN_WINDOW
        entries = [
            (stamp or cycle.started, record_id, digest)
            for record_id, (digest, stamp) in cycle.seen[side].items()
            if record_id not in cycle.failed[side] and (stamp is None or stamp >= horizon)
        ]
        entries.sort(reverse=True)
        return {record_id: digest for _, record_id, digest in entries[:MAX_SEEN]}

    def _emit(self, report: CycleReport, cycle: _Cycle | None) -> None:
        logger.info("cycle finished", extra={"summary": report.summary()})
        metrics.add_metric(name="RecordsRead", unit=COUNT, value=sum(report.read.values()))
        metrics.add_metric(name="OperationsApplied", unit=COUNT, value=sum(report.applied.values()))
        metrics.add_metric(name="Conflicts", unit=COUNT, value=report.conflicts)
        metrics.add_metric(name="SyncErrors", unit=COUNT, value=len(report.errors))
        metrics.add_metric(name="CycleDurationMs", unit=MILLISECONDS, value=report.duration_ms)
        if cycle is not None:
            changed = [*cycle.records[Side.LEAD].values(), *cycle.records[Side.CARD].values()]
            lag = _lag_seconds(changed, self.clock())
            if lag is not None:
                metrics.add_metric(name="SyncLagSeconds", unit=SECONDS, value=lag)


def _lag_seconds(records: Iterable[Record], now: datetime) -> float | None:
    """Age of the oldest edit handled this cycle (how far behind the sync runs)."""
    stamps = [r.updated_at for r in records if r.updated_at is not None]
    return max(0.0, (now - min(stamps)).total_seconds()) if stamps else None
