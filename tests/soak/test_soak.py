"""A small budget of the randomized soak in the normal suite (``make soak`` runs the large one).

Every lead tracker of tests/e2e/conftest.py's LEAD_TRACKERS gets the same seeded scenarios: people
edit both sides while cycles fail, crash and overlap, then two clean cycles must converge with no
duplicate and no lost edit (tests/soak/model.py). The hostile edits are on (tests/soak/hostile.py):
foreign, malformed and copied card markers, garbled lead link fields, the pair pointed at another
tracker for a few cycles; no foreign record may be read or written and no cycle may mass-archive.
A failure prints the seed and the steps.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.soak.env import LEAD_TRACKERS, SoakEnvironment
from tests.soak.model import run_scenario

SCENARIOS_PER_TRACKER = 8
FIRST_SEED = 1000
APPROVE_SCENARIOS = 6


@pytest.mark.parametrize("tracker", sorted(LEAD_TRACKERS))
def test_random_edits_faults_crashes_and_overlaps_converge_with_no_duplicate_and_no_lost_edit(
    soak_env: SoakEnvironment, tracker: str
) -> None:
    failures = []
    crashes = overlaps = away = 0
    hostile: Counter[str] = Counter()
    for seed in range(FIRST_SEED, FIRST_SEED + SCENARIOS_PER_TRACKER):
        outcome = run_scenario(soak_env, tracker, seed)
        crashes += outcome.crashes
        overlaps += outcome.overlaps
        away += outcome.away_cycles
        hostile.update(outcome.hostile)
        if outcome.violations:
            steps = "\n".join(outcome.log)
            failures.append(f"seed {seed}: {outcome.violations}\n{steps}")

    assert not failures, "\n\n".join(failures) + f"\nreplay: python infra/soak.py --trackers {tracker} --seed <seed>"
    assert crashes > 0, "the budget exercised crashes"
    assert away > 0, f"the budget pointed the pair away: {hostile}"
    assert hostile["card:foreign"] > 0, f"the budget made cards with foreign markers: {hostile}"


@pytest.mark.parametrize("tracker", sorted(LEAD_TRACKERS))
def test_in_approve_mode_no_card_is_archived_without_approval_and_no_deletion_is_lost(
    soak_env: SoakEnvironment, tracker: str
) -> None:
    """Deletions wait for approval: no cycle archives a card (crashes, faults and overlaps included),
    every trashed lead's linked card is waiting at convergence, and `approve --all` archives them."""
    failures = []
    waited = 0
    for seed in range(FIRST_SEED + 100, FIRST_SEED + 100 + APPROVE_SCENARIOS):
        outcome = run_scenario(soak_env, tracker, seed, approve=True)
        waited += outcome.pending
        if outcome.violations:
            failures.append(f"seed {seed}: {outcome.violations}\n" + "\n".join(outcome.log))
    assert not failures, "\n\n".join(failures)
    assert waited > 0, "the budget trashed leads whose cards then waited for approval"


def test_with_webhook_deliveries_dropped_duplicated_and_reordered_the_invariants_still_hold(
    soak_env: SoakEnvironment,
) -> None:
    failures, hinted, calls = [], 0, Counter[str]()
    for seed in range(FIRST_SEED, FIRST_SEED + 6):
        outcome = run_scenario(soak_env, "notion", seed, webhooks=True)
        hinted += outcome.hinted
        calls.update(outcome.webhook)
        if outcome.violations:
            failures.append(f"seed {seed}: {outcome.violations}\n" + "\n".join(outcome.log))

    assert not failures, (
        "\n\n".join(failures) + "\nreplay: python infra/soak.py --trackers notion --webhooks --seed <seed>"
    )
    assert hinted > 0, f"hinted cycles ran: {calls}"
    assert calls["dropped"] > 0, calls
    assert calls["duplicated"] > 0, calls
    assert calls["http 409"] > 0, calls  # duplicates refused as replays, retried by the sandbox ...
    assert calls["webhooks disabled"] == 0, calls  # ... without ever getting the webhook disabled
