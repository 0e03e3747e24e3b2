"""One soak environment (sandbox + in-process moto) for every test of tests/soak."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.soak.env import SoakEnvironment


@pytest.fixture(scope="package")  # torn down with tests/soak: its patches must not reach later tests
def soak_env() -> Iterator[SoakEnvironment]:
    with SoakEnvironment.start() as env:
        yield env
