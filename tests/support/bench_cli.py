"""Running a bench script the way `make bench` does, and reading the tables it prints.

Shared by the bench smoke tests (tests/unit/test_bench_*smoke.py). The tables are the ones
``bench.table`` draws: a header line, a ``-+-`` rule, then one row per line, cells split on ``|``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> str:
    """Stdout of ``python infra/<script> args`` from the repository root; fails with its stderr's end."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["functions", "infra", "."])}
    out = subprocess.run(
        [sys.executable, f"infra/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def table_rows(output: str, after: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after the heading ``after``."""
    blocks = output.split(after, 1)[1].split("\n\n")
    section = next(b for b in blocks if "-+-" in b)
    lines = section.strip("\n").splitlines()[2:]  # header and rule
    return [[c.strip() for c in line.split("|")] for line in lines if line.strip()]


def table_row(output: str, after: str, *first: str, skip: int = 0, then: tuple[str, ...] = ()) -> list[str]:
    """The row of the first table after ``after`` whose leading cells are ``first`` and, past ``skip``
    more cells, ``then`` (e.g. tracker and N, then the latency column)."""
    for cells in table_rows(output, after):
        start = len(first) + skip
        if cells[: len(first)] == list(first) and cells[start : start + len(then)] == list(then):
            return cells
    raise AssertionError(f"no row {first} {then} after {after!r} in:\n{output}")
