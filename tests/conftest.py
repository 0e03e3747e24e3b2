"""Suite-wide hygiene: process-wide state one test installs never leaks into the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadsync.connectors import ratelimit


@pytest.fixture(autouse=True)
def _no_shared_budget_left_behind() -> Iterator[None]:
    """A handler run on DynamoDB state installs the shared rate budgets process-wide (``wiring``);
    drop them after each test, or a later test's buckets would draw from a table mocked by a test
    that has ended (and reach for the real AWS endpoint)."""
    yield
    if ratelimit.grant_sources() is not None:
        ratelimit.use_grant_sources(None)
        ratelimit.reset_shared_limiters()
