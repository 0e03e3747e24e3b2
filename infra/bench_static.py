"""Figures that need no sandbox: the handler's import time and the size of the deployment package."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAM_BUILD = ROOT / ".aws-sam/build/SyncFunction"
# What the Lambda Python runtime already provides; a package does not need to carry it.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
IMPORT_SNIPPET = "import time; t = time.perf_counter(); import handlers.scheduled_sync; print(time.perf_counter() - t)"


def _env() -> dict[str, str]:
    path = os.pathsep.join(str(p) for p in (ROOT / "functions", ROOT / "infra", ROOT))
    return {**os.environ, "PYTHONPATH": path, "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_SERVICE_NAME": "leadsync"}


def import_seconds(runs: int = 3) -> tuple[float, list[tuple[str, float]]]:
    """Median seconds to ``import handlers.scheduled_sync`` in a fresh interpreter, and the
    five third-party packages that take longest to import, cumulative (``python -X importtime``)."""
    times = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-c", IMPORT_SNIPPET], env=_env(), capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import handlers.scheduled_sync"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return statistics.median(times), slowest_packages(trace.stderr)


def slowest_packages(importtime: str, top: int = 5) -> list[tuple[str, float]]:
    """Seconds per third-party top-level package: the cumulative time of its outermost imports.

    ``-X importtime`` prints a module after its children (post-order), nested by indentation:
    read backwards it is pre-order, so each import's parent is the nearest shallower line before it.
    """
    entries = []
    for line in importtime.splitlines():
        parts = line.split("|")  # "import time: self [us] | cumulative | imported package"
        if len(parts) != 3 or not line.startswith("import time:") or not parts[1].strip().isdigit():
            continue
        raw = parts[2][1:]
        entries.append((len(raw) - len(raw.lstrip()), raw.strip(), int(parts[1]) / 1e6))
    totals: dict[str, float] = {}
    stack: list[tuple[int, str]] = []
    for depth, name, seconds in reversed(entries):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        root = name.split(".")[0]
        if not stack or stack[-1][1] != root:
            totals[root] = totals.get(root, 0.0) + seconds
        stack.append((depth, root))
    ours = {"leadsync", "handlers", "encodings", "site"}
    third_party = {k: v for k, v in totals.items() if k not in sys.stdlib_module_names and k not in ours}
    return sorted(third_party.items(), key=lambda item: -item[1])[:top]


@dataclass
class PackageSize:
    source: str
    total_bytes: int
    without_runtime_bytes: int
    zipped_bytes: int

    def describe(self) -> str:
        mb = 1024 * 1024
        return (
            f"{self.without_runtime_bytes / mb:.1f} MB unzipped without {'/'.join(RUNTIME_PROVIDED)} "
            f"({self.total_bytes / mb:.1f} MB with them; {self.zipped_bytes / mb:.1f} MB zipped without them) "
            f"- from {self.source}"
        )


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _provided(name: str) -> bool:
    return any(name == p or name.startswith((f"{p}-", f"{p}.")) for p in RUNTIME_PROVIDED)


def measure_dir(directory: Path, source: str) -> PackageSize:
    total = _size(directory)
    kept = [p for p in directory.iterdir() if not _provided(p.name)]
    without = sum(_size(p) if p.is_dir() else p.stat().st_size for p in kept)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for top in kept:
                files = [top] if top.is_file() else sorted(f for f in top.rglob("*") if f.is_file())
                for f in files:
                    if "__pycache__" not in f.parts:
                        zf.write(f, f.relative_to(directory))
        zipped = archive.stat().st_size
    return PackageSize(source, total, without, zipped)


def package_size() -> PackageSize:
    """The built function: ``sam build`` output when present, else a ``pip install --target`` of
    functions/requirements.txt plus the functions/ sources (Python and platform of this machine)."""
    if SAM_BUILD.is_dir():
        return measure_dir(SAM_BUILD, f"sam build output {SAM_BUILD.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "package"
        subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                "-r",
                str(ROOT / "functions/requirements.txt"),
            ],
            check=True,
        )
        for name in ("handlers", "leadsync"):
            shutil.copytree(ROOT / "functions" / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        return measure_dir(target, "pip install --target of functions/requirements.txt + functions/ sources")
