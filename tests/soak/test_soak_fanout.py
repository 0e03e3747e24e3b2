"""The soak on the fan-out path, small: each cycle of a scenario goes through the dispatcher and
worker handlers (moto SQS), with two bystander pairs working in other threads at the same time
(tests/soak/fanout.py). Kills mid-cycle, faults, a message delivered twice while it runs (the
overlap), the pair pointed away: the scenario's invariants hold and every bystander lead ends with
exactly one linked card. ``python infra/soak.py --fanout 2`` runs the large one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.soak.env import SoakEnvironment
from tests.soak.model import run_scenario

SCENARIOS = 6
FIRST_SEED = 2000
BYSTANDERS = 2


@pytest.fixture(scope="module")
def fanout_env() -> Iterator[SoakEnvironment]:
    with SoakEnvironment.start(fanout=BYSTANDERS) as env:
        yield env


def test_scenarios_through_the_dispatcher_and_workers_converge_with_bystanders_intact(
    fanout_env: SoakEnvironment,
) -> None:
    failures = []
    totals: Counter[str] = Counter()
    for seed in range(FIRST_SEED, FIRST_SEED + SCENARIOS):
        outcome = run_scenario(fanout_env, "notion", seed)
        totals.update(crashes=outcome.crashes, overlaps=outcome.overlaps, cycles=outcome.cycles)
        if outcome.violations:
            failures.append(f"seed {seed}: {outcome.violations}\n" + "\n".join(outcome.log))

    assert not failures, "\n\n".join(failures) + "\nreplay: python infra/soak.py --fanout 2 --seed <seed>"
    assert totals["crashes"] > 0, totals
    assert totals["overlaps"] > 0, totals
