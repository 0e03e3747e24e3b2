"""One sync cycle of one pair: lease -> load -> fetch -> confirm -> plan -> apply -> commit.

The imperative shell around the pure planner; each phase lives in ``leadsync.cycle`` and this
module runs them in order. Everything needed to resume lives in the StateStore or in the two
systems; a cycle that dies at any line leaves state the next cycle can finish from (intents for
creations, cursors committed last, failed records kept in ``pending`` and fetched directly next time).

The tunables below are read when a cycle starts (tests and the bench set them on this module), and
``plan`` and ``utcnow`` are looked up here at call time, so patching them here takes effect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from leadsync import backlog, readout
from leadsync.connectors.deadline import Deadline
from leadsync.core.history import redact_plan
from leadsync.core.models import Fence, Side
from leadsync.core.operations import Plan
from leadsync.core.planner import plan
from leadsync.cycle import apply, approval, commit, confirm, fetch, payloads, rules, schema
from leadsync.cycle.working import Cycle, CycleReport, Limits, PairRuntime
from leadsync.errors import DeadlineExceeded, LeadsyncError, LeaseHeld, RetryableError
from leadsync.identity import check_containers
from leadsync.observability import logger, tracer
from leadsync.state.base import StateStore

__all__ = ["CycleReport", "Engine", "PairRuntime", "utcnow"]

MAX_PENDING = 1000  # ids kept for a direct re-fetch; past this the cursor is held back instead
MAX_SEEN = 3000  # fingerprints kept for overlap/echo dedupe
SEEN_WINDOW = timedelta(minutes=15)
UNIT_RESERVE_SECONDS = 2.0  # do not start a unit with less time than this left
MARKER_FLUSH_SECONDS = 3.0  # ... plus this while link markers wait to be written in a batch
DIRECT_READ_SHARE = 0.5  # direct (one-by-one) reads may use at most this share of the remaining time
LISTING_SHARE = 0.5  # a listing longer than that share of the remaining time goes on next cycle (Resuming)
WRITE_CONCURRENCY: int | None = None  # units applied at once; None: from the rate limits; 1: one at a time
MAX_WRITE_CONCURRENCY = 8  # the cap of a width derived from the rate limits


def utcnow() -> datetime:
    return datetime.now(UTC)


def _limits(write_concurrency: int | None = None) -> Limits:
    return Limits(
        unit_reserve_seconds=UNIT_RESERVE_SECONDS,
        marker_flush_seconds=MARKER_FLUSH_SECONDS,
        direct_read_share=DIRECT_READ_SHARE,
        max_pending=MAX_PENDING,
        max_seen=MAX_SEEN,
        seen_window=SEEN_WINDOW,
        write_concurrency=WRITE_CONCURRENCY if write_concurrency is None else write_concurrency,
        max_write_concurrency=MAX_WRITE_CONCURRENCY,
        listing_share=LISTING_SHARE,
    )


class Engine:
    """Runs cycles against one StateStore."""

    def __init__(
        self, store: StateStore, *, clock: Callable[[], datetime] | None = None, write_concurrency: int | None = None
    ) -> None:
        """``write_concurrency``: units applied at once (``LEADSYNC_WRITE_CONCURRENCY``); None: the
        module's ``WRITE_CONCURRENCY`` (by default derived from the rate limits)."""
        self.store = store
        self.clock = clock or (lambda: utcnow())  # looked up per call: the demo fast-forwards it
        self.write_concurrency = write_concurrency

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
        cycle = Cycle(
            pair=pair,
            meta=meta,
            started=started,
            deadline=deadline,
            report=report,
            fence=Fence(owner, meta.version),
            clock=self.clock,
            limits=_limits(self.write_concurrency),
            force_sweep=full_sweep,
            allow_deletions=allow_deletions,
        )
        report.backlog = backlog.queued(meta)  # until the commit saves a new queue
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
        except KeyboardInterrupt:  # Ctrl-C in a local run: this process writes nothing more, so a re-run
            report.status = "failed"  # need not wait for the lease to expire; a creation in flight has its intent
            report.errors.append("interrupted")
            self._release(pair.id, owner)
            raise
        finally:
            report.duration_ms = report.elapsed_ms()
            commit.record_history(cycle, self.store)
            commit.emit(report, cycle)
        return report

    def _release(self, pair_id: str, owner: str) -> None:
        try:
            self.store.release(pair_id, owner)
        except Exception:  # the lease expires by itself; the failure being reported matters more
            logger.exception("could not release the lease")

    def _run(self, cycle: Cycle, owner: str, dry_run: bool) -> None:
        pair, store = cycle.pair, self.store
        check_containers(pair.config, cycle.meta)  # a re-pointed pair stops here, before any read
        cycle.intents = store.intents(pair.id)
        full = cycle.force_sweep or fetch.is_sweep_due(cycle)
        cycle.report.full_sweep = full
        with tracer.provider.in_subsegment("fetch"):
            try:
                for side in (Side.LEAD, Side.CARD):
                    fetch.fetch_side(cycle, side, full)
            except (DeadlineExceeded, RetryableError) as exc:
                if not full or dry_run or not fetch.out_of_time(cycle, exc):
                    raise
                commit.postpone_sweep(cycle, store, owner, exc)
                return
            confirm.recover_intents(cycle)
            fetch.take_backlog(cycle, store)
            payloads.read_payloads(cycle, store)  # Airtable deletions named by webhook payloads
        if full:
            schema.check(cycle)  # a renamed property or list is reported once per sweep
        links = confirm.load_links(cycle, store, full)
        cycle.bases = {link.lead_id: link.base for link in links}
        confirm.hold_back_blocked(cycle)
        approval.check_pending(cycle, store, write=not dry_run)
        with tracer.provider.in_subsegment("plan"):
            chosen = rules.select(cycle, links)  # the pair's rules: which records sync
            the_plan = plan(pair.plan_config, chosen.links, chosen.leads, chosen.cards)
            the_plan.units[:0] = chosen.detach
        for problem in the_plan.problems:
            cycle.problem(problem)
        the_plan = approval.hold_for_approval(cycle, the_plan)
        the_plan, held = apply.guard_deletions(cycle, the_plan, links, full)
        if dry_run:
            cycle.report.status = "dry_run"
            shown, kept_back = redact_plan(the_plan, cycle.redacted), redact_plan(Plan(held.units), cycle.redacted)
            waiting = [f"waits for approval: {p.describe()}" for p in cycle.new_pending]
            cycle.report.activity = shown.describe() + [f"held: {line}" for line in kept_back.describe()] + waiting
            cycle.report.plan = readout.plan_items(shown, kept_back, waiting)
            store.release(pair.id, owner)
            return
        with tracer.provider.in_subsegment("apply"):
            puts, drops = apply.apply_plan(cycle, store, the_plan, self._reserve)
        with tracer.provider.in_subsegment("commit"):
            commit.commit(cycle, store, owner, full, puts, drops)

    @staticmethod
    def _reserve(cycle: Cycle) -> float:
        """Time a unit must leave before it starts (looked up when a cycle applies: tests replace it)."""
        return apply.reserve(cycle)
