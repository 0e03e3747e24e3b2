"""The README's demo sample is what ``make demo`` prints, so it cannot drift.

The demo runs as ``make demo`` runs it (``.venv/bin/python infra/demo.py``, with only ``PATH`` and
``HOME`` from this environment); ports, ids, temporary paths and the webhook's milliseconds differ
from run to run and are replaced by placeholders on both sides before the lines are compared.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r"<!-- readme-demo-output[^>]*-->\n```\n(?P<body>.*?)```", re.S)
VARYING = [
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"\b[0-9a-f]{24}\b"), "TRELLO-ID"),
    (re.compile(r"leadsync-demo-[\w-]+"), "leadsync-demo-TMP"),
    (re.compile(r"\b\d+ ms\b"), "N ms"),
]


def normalised(text: str) -> list[str]:
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def readme_sample() -> str:
    found = SAMPLE.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md must hold exactly one marked demo sample"
    return str(found[0])


def test_placeholders_hide_only_what_varies() -> None:
    line = "trello: registered webhook 6b1705318fdda1494c0e79fd for pair demo; 98 ms to http://127.0.0.1:3484/1"
    assert normalised(line) == ["trello: registered webhook TRELLO-ID for pair demo; N ms to http://127.0.0.1:PORT/1"]
    assert normalised("  ~ card Ada: list To Do -> Done") == ["  ~ card Ada: list To Do -> Done"]


def test_the_readme_demo_sample_is_what_make_demo_prints() -> None:
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv: the demo needs `make install` first")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run(
        [str(python), "infra/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert normalised(done.stdout) == normalised(readme_sample())
