"""Figures that need no sandbox: the handler's import time and the size of the deployment package."""

from __future__ import annotations

import os
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


# What the Lambda runtime sets and the imports react to: X-Ray's recorder takes its Lambda path
# (local sampling: no X-Ray client built at import) and leadsync turns tracing on.
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
    "AWS_LAMBDA_FUNCTION_NAME": "leadsync-SyncFunction",
    "AWS_REGION": "eu-west-1",
}


def _env(lambda_env: bool = False) -> dict[str, str]:
    path = os.pathsep.join(str(p) for p in (ROOT / "functions", ROOT / "infra", ROOT))
    env = {**os.environ, "PYTHONPATH": path, "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_SERVICE_NAME": "leadsync"}
    for name in (*LAMBDA_ENV, "AWS_EXECUTION_ENV", "AWS_SAM_LOCAL"):
        env.pop(name, None)
    return {**env, **LAMBDA_ENV} if lambda_env else env


def import_seconds(runs: int = 3, lambda_env: bool = True) -> tuple[float, list[tuple[str, float]]]:
    """Median seconds to ``import handlers.scheduled_sync`` in a fresh interpreter, and the
    five third-party packages that take longest to import, cumulative (``python -X importtime``).

    ``lambda_env``: with the variables the Lambda runtime sets (tracing on, X-Ray's Lambda path),
    the cold start's import as deployed; without: a local run (tracing off)."""
    times = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-c", IMPORT_SNIPPET], env=_env(lambda_env), capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import handlers.scheduled_sync"],
        env=_env(lambda_env),
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


def package_size(layer: str | None = None) -> PackageSize:
    """The built function (or ``layer="sheets"``: the Sheets layer): ``sam build`` output when present,
    else what ``sam build`` would make: ``functions/build_package.py`` (the makefile builder's script:
    wheels for the Lambda runtime, without the boto3/botocore it provides, plus the sources)."""
    built = SAM_BUILD.parent / "SheetsLayer" if layer else SAM_BUILD
    if built.is_dir():
        return measure_dir(built, f"sam build output {built.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "package"
        subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                str(ROOT / "functions/build_package.py"),
                *(["--layer", layer] if layer else []),
                str(target),
            ],
            check=True,
            capture_output=True,
        )
        return measure_dir(target, "functions/build_package.py (what sam build runs)")
