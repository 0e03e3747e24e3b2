"""Guards over a plan, decided before anything is written (pure).

The mass-deletion guard: an outage, a pagination bug, an emptied or re-pointed tracker can make
many records look gone at once. Archiving their counterparts would be the most damaging thing a
sync can do, and it is not undone by the next cycle. So a plan that would archive or delete more
records than the pair's limit (``PairConfig.deletion_limit``) is split: the archiving units wait
for the operator, the rest runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadsync.core.operations import Archive, Plan, Unit


def deletions(unit: Unit) -> int:
    """How many records a unit archives (or deletes)."""
    return sum(1 for op in unit.ops if isinstance(op, Archive))


@dataclass
class Held:
    """The units a guard kept back, and why."""

    units: list[Unit] = field(default_factory=list)
    count: int = 0
    limit: int = 0


def hold_mass_deletions(the_plan: Plan, limit: int) -> tuple[Plan, Held]:
    """``the_plan`` without its archiving units when they archive more than ``limit`` records."""
    count = sum(deletions(unit) for unit in the_plan.units)
    if count <= limit:
        return the_plan, Held(limit=limit)
    kept = [unit for unit in the_plan.units if not deletions(unit)]
    held = [unit for unit in the_plan.units if deletions(unit)]
    return Plan(kept, list(the_plan.problems)), Held(held, count, limit)
