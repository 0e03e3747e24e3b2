"""Schema: at each full sweep, the pair's settings against the live schemas (``leadsync.live_check``).

A property renamed in Notion, a list renamed on the board, a status option removed: the cycle goes on
(a field that is missing is left out), and this reports it as a problem naming the setting, once per
sweep, at the cost of one schema read per side. An unreadable schema is only logged: the sweep's own
reads will say what is wrong.
"""

from __future__ import annotations

from leadsync.core.models import Side
from leadsync.cycle.working import Cycle
from leadsync.errors import LeadsyncError
from leadsync.live_check import schema_problems
from leadsync.observability import logger


def check(cycle: Cycle) -> None:
    """Report every setting the live schemas do not have as a problem of this cycle."""
    pair = cycle.pair
    for side in (Side.LEAD, Side.CARD):
        connector = pair.connector(side)
        try:
            schema = connector.describe()
        except LeadsyncError as exc:
            logger.warning(
                "could not read the schema to check the settings", extra={"side": side.value, "error": str(exc)}
            )
            continue
        for problem in schema_problems(pair.config, f"pair {pair.id}", side, schema):
            cycle.problem(f"settings do not match {connector.system}: {problem}")
