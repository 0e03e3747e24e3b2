"""Every shell block of README.md and docs/**/*.md runs as typed, or says in the doc why it is not run here.

A fenced ``bash``/``sh``/``shell``/``console`` block is one of:

- **run**: in bash (``-e -o pipefail``) in a scratch directory that links to the repo (so nothing is
  written in it), with only ``PATH`` and ``HOME`` from this environment, in the environment of the
  README's "Run it locally" block (its lines up to its first ``leadsync`` command: ``PYTHONPATH``, the
  sandbox with its demo database and board on free ports, the local state file); it must exit 0;
- **marked**: its first line is ``# not run by the docs test: <why>`` (it needs a deployed stack, real
  accounts, Docker, or runs for minutes), visible to the reader too;
- **the local-run block itself**, run by tests/infrastructure/test_readme_local_run.py.

A marked block is still read: each ``.venv/bin/python infra/<script>.py ...`` command in it must pass
its script's argument parser (parsed, not run), so a long run's documented flags cannot go stale.

An unlabelled block whose lines look like commands fails (label it ``bash``, or ``text`` for a
synopsis), so a new doc cannot slip a command past this test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infrastructure.test_readme_local_run import free_port_base, local_run_block, run_as_typed

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELLS = ("bash", "sh", "shell", "console")
MARKER = re.compile(r"^# not run by the docs test: (?P<why>\S.*)$")
LOCAL_RUN = "<!-- readme-local-run:begin"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
COMMAND_LIKE = re.compile(
    r"^(?:\$ )?(?:make |\.venv[\w-]*/bin/|python3? |PYTHONPATH=|export |aws |sam |pip |jq |curl )", re.M
)
TIMEOUT_SECONDS = 60
SCRIPT_COMMAND = re.compile(r"^(?:PYTHONPATH=\S+ )?\.venv/bin/python (?P<script>infra/\w+\.py)(?P<args>.*)$")
PARSE_ONLY = """
import argparse, json, runpy, sys
parse = argparse.ArgumentParser.parse_args
def parse_only(self, args=None, namespace=None):
    parse(self, args, namespace)
    raise SystemExit("parsed")
argparse.ArgumentParser.parse_args = parse_only
results = []
for script, args in json.loads(sys.argv[1]):
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
        results.append("ran without parsing its arguments")
    except SystemExit as stop:
        results.append(str(stop.code))
print(json.dumps(results))
"""


@dataclass(frozen=True)
class Block:
    """One fenced block of a doc."""

    doc: str  # relative to the repo
    line: int  # of its opening fence
    lang: str
    body: str
    after_local_run_marker: bool = False

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        """Why the doc says this block is not run here (None: it is run)."""
        first = next((ln.strip() for ln in self.body.splitlines() if ln.strip()), "")
        match = MARKER.match(first)
        return match.group("why") if match else None

    def script(self) -> str:
        """The commands as typed (a ``console`` block: the ``$ `` lines and their continuations)."""
        if self.lang != "console":
            return self.body
        lines, going = [], False
        for line in self.body.splitlines():
            if line.startswith("$ ") or going:
                lines.append(line[2:] if line.startswith("$ ") else line)
                going = line.endswith("\\")
        return "\n".join(lines) + "\n"


def blocks(text: str, doc: str) -> list[Block]:
    """Every fenced block of a markdown text, in order."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        marked = before.rstrip().rsplit("\n", 1)[-1].startswith(LOCAL_RUN)
        found.append(Block(doc, before.count("\n") + 1, match["lang"], match["body"], marked))
    return found


def all_blocks() -> list[Block]:
    return [b for path in DOCS for b in blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]


def shell_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in SHELLS]


def runnable() -> list[Block]:
    return [b for b in shell_blocks() if b.skip_reason is None and not b.after_local_run_marker]


def script_commands(block: Block) -> list[tuple[str, list[str]]]:
    """Each ``.venv/bin/python infra/<script>.py ARGS`` of a block: (script, ARGS), comments dropped."""
    found = []
    for line in block.script().replace("\\\n", " ").splitlines():
        match = SCRIPT_COMMAND.match(line.strip())
        if match:
            found.append((match["script"], shlex.split(match["args"], comments=True)))
    return found


def environment_prelude() -> str:
    """The README local-run block's lines before its first ``leadsync`` command: the sandbox's environment."""
    lines = local_run_block().splitlines()
    first = next(i for i, line in enumerate(lines) if "-m leadsync " in line)
    return "\n".join(lines[:first]) + "\n"


def test_the_extraction_sorts_blocks_into_run_marked_and_local_run() -> None:
    text = (
        "intro\n```bash\n.venv/bin/python -m leadsync plan\n```\n"
        "```bash\n# not run by the docs test: needs a deployed stack\naws sqs purge-queue --queue-url $Q\n```\n"
        f"{LOCAL_RUN} -->\n```bash\nexport X=1\n```\n<!-- readme-local-run:end -->\n"
        "```console\n$ make demo \\\n    --x\nleadsync demo: ...\n$ echo ok\n```\n"
        "```json\n{}\n```\n"
    )
    found = blocks(text, "X.md")

    assert [(b.line, b.lang) for b in found] == [(2, "bash"), (5, "bash"), (10, "bash"), (14, "console"), (20, "json")]
    assert [b.skip_reason for b in found[:3]] == [None, "needs a deployed stack", None]
    assert [b.after_local_run_marker for b in found] == [False, False, True, False, False]
    assert found[3].script() == "make demo \\\n    --x\necho ok\n"


def test_no_command_hides_in_an_unlabelled_block() -> None:
    unlabelled = [b.where for b in all_blocks() if b.lang == "" and COMMAND_LIKE.search(b.body)]
    assert unlabelled == [], "label these blocks bash (and run or mark them), or text for a synopsis"


def test_the_marker_is_only_where_a_shell_block_starts() -> None:
    misplaced = [
        b.where
        for b in all_blocks()
        if "# not run by the docs test" in b.body and (b.lang not in SHELLS or not b.skip_reason)
    ]
    assert misplaced == []


def test_some_blocks_run_and_the_prelude_starts_the_sandbox() -> None:
    assert len(runnable()) >= 4, [b.where for b in runnable()]
    prelude = environment_prelude()
    assert "-m sandbox --demo --port-base 8700" in prelude
    assert "LEADSYNC_STATE_PATH" in prelude


def test_the_commands_of_marked_blocks_use_flags_their_scripts_accept() -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: the docs assume `make install` first")
    commands = [(b.where, c) for b in shell_blocks() if b.skip_reason for c in script_commands(b)]
    assert len(commands) >= 5, commands  # the bench's and the soak's long runs
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", PARSE_ONLY, json.dumps([c for _, c in commands])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    rejected = [(where, c, r) for (where, c), r in zip(commands, results, strict=True) if r != "parsed"]
    assert rejected == [], done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="the blocks are bash")
@pytest.mark.parametrize("block", runnable(), ids=lambda b: b.where)
def test_the_block_runs_as_typed(block: Block, tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: the docs assume `make install` first")
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".leadsync", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".aws-sam"):
            (tmp_path / entry.name).symlink_to(entry)
    prelude = environment_prelude().replace("--port-base 8700", f"--port-base {free_port_base()}")
    script = f"{prelude}trap 'kill $SANDBOX_PID' EXIT\n{block.script()}"
    returncode, output = run_as_typed(script, tmp_path, block.where)
    assert returncode == 0, f"{block.where} failed as typed:\n{block.body}\n---\n{output}"
    assert "Traceback" not in output, output
