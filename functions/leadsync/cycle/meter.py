"""Progress of a cycle's creations, published as they happen (see ``leadsync.progress``).

Nothing is computed unless someone listens (the local CLI's progress bar); in Lambda the cycle
summary and the ``BacklogRemaining`` metric carry the same figures once the cycle is done.
"""

from __future__ import annotations

from leadsync import progress
from leadsync.core.operations import Create, Plan, Unit
from leadsync.cycle.working import Cycle


def creates(unit: Unit) -> bool:
    return any(isinstance(op, Create) for op in unit.ops)


class Meter:
    """Counts one cycle's creations against what waits: the plan's creations and the backlog behind it."""

    def __init__(self, cycle: Cycle, the_plan: Plan) -> None:
        self.cycle = cycle
        self.planned = sum(1 for unit in the_plan.units if creates(unit))
        self.behind = len(cycle.backlog_rest) + max(0, cycle.report.backlog - cycle.backlog_entries_read)
        self.created = 0

    def created_one(self) -> None:
        self.created += 1
        self.publish()

    def publish(self) -> None:
        waiting = max(0, self.planned - self.created) + self.behind
        elapsed = self.cycle.report.elapsed_ms() / 1000
        progress.publish(progress.Progress(self.cycle.pair.id, self.created, waiting, elapsed))


def start(cycle: Cycle, the_plan: Plan) -> Meter | None:
    """A meter (and a first publication) when anyone listens; None otherwise."""
    if not progress.listening():
        return None
    meter = Meter(cycle, the_plan)
    meter.publish()
    return meter
