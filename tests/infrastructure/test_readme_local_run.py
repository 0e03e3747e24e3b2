"""The README's "Run it locally" block, run as typed (in bash, against the sandbox), so it cannot drift.

The block is found between its ``readme-local-run`` HTML comments. It runs in a scratch directory
that links to the repo's ``.venv``, ``functions`` and ``infra`` (so it writes nothing in the repo),
with only ``PATH`` and ``HOME`` from this environment (nothing the block does not set itself), and on
a free port base instead of 8700 (so it runs next to a ``make sandbox``). Its process group is
killed afterwards whatever happens, so no emulator outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"<!-- readme-local-run:begin[^>]*-->\s*```bash\n(?P<body>.*?)```\s*<!-- readme-local-run:end -->", re.S
)
TIMEOUT_SECONDS = 90


def local_run_block() -> str:
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md must hold exactly one marked local-run block"
    return str(found[0])


def free_port_base(count: int = 4) -> int:
    """A base port with ``count`` free ports after it (nothing holds them when this returns)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no four consecutive free ports")


def run_as_typed(script: str, cwd: Path, what: str) -> tuple[int, str]:
    """Run ``script`` in ``bash -e -o pipefail`` in ``cwd`` with only PATH/HOME/LANG/TMPDIR from here, in
    its own process group (the sandbox it starts in the background included), killed afterwards whatever
    happens; the exit code and the output (stdout and stderr). Fails the test past TIMEOUT_SECONDS."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    process = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{what} did not finish in {TIMEOUT_SECONDS} s:\n{output}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output


def test_the_block_is_marked_and_uses_the_documented_ports() -> None:
    block = local_run_block()
    assert "--port-base 8700" in block
    assert ".venv/bin/python -m leadsync validate" in block
    assert "kill $SANDBOX_PID" in block


@pytest.mark.skipif(sys.platform == "win32", reason="the block is bash")
def test_the_readme_local_run_block_runs_as_typed(tmp_path: Path) -> None:
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("no .venv: the block needs `make install` first")
    for name in (".venv", "functions", "infra"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = local_run_block().replace("--port-base 8700", f"--port-base {free_port_base()}")
    returncode, output = run_as_typed(script, tmp_path, "the block")
    assert returncode == 0, output
    assert re.search(r"^ok: pair sandbox: notion <-> trello", output, re.M), output
    assert re.search(r"^pair sandbox: 1 operation\(s\)\n  create_card: 1$", output, re.M), output  # the plan
    assert re.search(r"^pair sandbox: synced; applied create_card 1; conflicts 0$", output, re.M), output
    assert re.search(r"^pair sandbox\n  links:        1 \(0 detached\)$", output, re.M), output  # the status
    assert re.search(r"^\S+ \S+\s+create\s+.*created card \w+ for lead", output, re.M), output  # the history
    assert "Traceback" not in output, output
    assert (tmp_path / ".leadsync" / "sandbox" / "state.db").exists()
