"""Approval: deletions of a pair in ``approve`` mode wait for the operator (see ``leadsync.core.approvals``).

Only pairs with ``on_lead_deleted`` or ``on_card_deleted: approve`` pay for it: one Query of the waiting
deletions in a cycle that read records (a cycle with nothing to read makes no request for it).
"""

from __future__ import annotations

from leadsync.core import approvals, history
from leadsync.core.models import Side
from leadsync.core.operations import Plan, Unit
from leadsync.cycle.working import Cycle
from leadsync.observability import logger
from leadsync.state.base import StateStore


def check_pending(cycle: Cycle, store: StateStore, *, write: bool) -> None:
    """Load the waiting deletions; drop those whose gone record was read again, alive (unless ``write`` is off)."""
    pair_id = cycle.pair.id
    if not cycle.pair.config.approval_sides() or not any(cycle.records[s] for s in (Side.LEAD, Side.CARD)):
        return
    waiting = store.pending(pair_id)
    back = approvals.reappeared(waiting, cycle.records)
    done = [p for p in approvals.settled(waiting, cycle.records) if p not in back]
    if (back or done) and write:
        store.delete_pending(pair_id, [p.id for p in [*back, *done]])
        at = cycle.clock()
        lines = [(p, f"{p.gone_side.value} {p.gone_id} is back ({p.describe()} not done)") for p in back]
        lines += [(p, f"{p.side.value} {p.record_id} was archived or deleted meanwhile") for p in done]
        for p, why in lines:
            line = f"pending deletion {p.id} dropped: {why}"
            cycle.report.activity.append(line)
            logger.info(line)
            cycle.history.append(
                history.Activity(at, pair_id, "note", line, *_ids(p), side=p.side.value, label=p.label)
            )
    cycle.waiting = [p for p in waiting if p not in back and p not in done]


def hold_for_approval(cycle: Cycle, the_plan: Plan) -> Plan:
    """The plan without the archives that wait for approval, nor anything else of their records."""
    config = cycle.pair.config
    kept, touching = approvals.withhold(the_plan, cycle.waiting)
    kept, held = approvals.split(kept, config.approval_sides())
    at, known = cycle.clock(), {p.id for p in cycle.waiting}
    fresh = [p for u in held for p in approvals.from_unit(u, at, _label(cycle, u)) if p.id not in known]
    cycle.new_pending = list({p.id: p for p in fresh}.values())
    cycle.report.awaiting_approval = len(cycle.new_pending)
    for p in cycle.new_pending:
        line = f"{p.describe()}: waits for approval (python -m leadsync approve {p.id})"
        cycle.report.activity.append(line)
        logger.warning("deletion waits for approval", extra={"pending": p.id, "what": p.describe()})
        cycle.history.append(history.Activity(at, config.id, "held", line, *_ids(p), side=p.side.value, label=p.label))
    for unit in [*touching, *held]:  # read again by the next sweep, not skipped as already seen
        for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
            if record_id:
                cycle.seen[side].pop(record_id, None)
    return kept


def _ids(p: approvals.PendingDeletion) -> tuple[str | None, str | None]:
    """(lead id, card id) of a pending deletion."""
    return (p.gone_id, p.record_id) if p.side is Side.CARD else (p.record_id, p.gone_id)


def _label(cycle: Cycle, unit: Unit) -> str | None:
    if history.LABEL_FIELD in cycle.redacted:
        return None
    link = unit.drop or unit.link
    for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
        record = cycle.records[side].get(record_id or "")
        if record is not None and record.fields.get(history.LABEL_FIELD):
            return record.fields[history.LABEL_FIELD]
    return link.base.get(history.LABEL_FIELD) if link is not None else None
