"""Build a Lambda package of leadsync into a directory (``sam build``'s makefile builder calls it).

    python build_package.py ARTIFACTS_DIR [--python 3.12] [--platform manylinux2014_x86_64]
    python build_package.py --layer sheets ARTIFACTS_DIR      (the Google Sheets layer)

1. ``pip install --target`` of requirements.txt, as wheels for the Lambda's Python and platform
   (whatever Python runs the build);
2. minus what the Lambda Python runtime already provides: the AWS SDK (boto3, botocore, s3transfer)
   and its dependencies (jmespath, python-dateutil, six). The X-Ray SDK (the Powertools tracer
   extra) pulls botocore in: 30 MB that would shadow the runtime's own copy;
3. shared libraries stripped of their symbol tables (``strip --strip-unneeded``; cryptography's
   Rust extension ships with them: 3 MB);
4. no ``__pycache__`` (Lambda's file system is read-only: they would be stale weight), then the
   ``handlers`` and ``leadsync`` sources;
5. without what only Google Sheets pairs use (google-auth and its cryptography: 16 MB of the 28):
   that goes to the Sheets layer (``--layer sheets``, ``ARTIFACTS_DIR/python``), which the stack
   attaches while its ``SheetsSupport`` parameter is ``true``.

Pure standard library: it runs before anything is installed. docs/dependencies.md has the figures.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "six")
SHEETS_ONLY = (
    "google",
    "google_auth",
    "cryptography",
    "cffi",
    "_cffi_backend",
    "pycparser",
    "pyasn1",
    "pyasn1_modules",
    "cachetools",
    "rsa",
)
"""google-auth and what it pulls in: imported only by the Sheets connector (leadsync.connectors.sheets_auth)."""
SOURCES = ("handlers", "leadsync")


def stem(name: str) -> str:
    """The distribution or module a top-level entry belongs to: ``google_auth-2.63.1.dist-info`` ->
    ``google_auth``, ``six.py`` -> ``six``, ``_cffi_backend.cpython-312-x86_64-linux-gnu.so`` -> ``_cffi_backend``."""
    return name.split(".")[0].split("-")[0]


def provided(name: str) -> bool:
    """Whether a top-level entry of the package (module, package or .dist-info) is the runtime's."""
    return stem(name) in RUNTIME_PROVIDED


def prune(target: Path, leave_out: tuple[str, ...] = RUNTIME_PROVIDED + SHEETS_ONLY) -> list[str]:
    """Remove the top-level entries of `leave_out` and every ``__pycache__``; the names removed."""
    removed = []
    for entry in sorted(target.iterdir()):
        if stem(entry.name) in leave_out:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    return removed


def strip_libraries(target: Path) -> int:
    """Strip symbol tables from the shared libraries; bytes saved (0 without ``strip``)."""
    tool = shutil.which("strip")
    if tool is None:
        return 0
    saved = 0
    for library in sorted(target.rglob("*.so")):
        before = library.stat().st_size
        result = subprocess.run([tool, "--strip-unneeded", str(library)], capture_output=True, check=False)  # noqa: S603
        if result.returncode == 0:
            saved += before - library.stat().st_size
    return saved


def copy_sources(target: Path, source: Path = HERE) -> None:
    for name in SOURCES:
        destination = target / name
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(source / name, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def keep_only(target: Path, keep: tuple[str, ...]) -> list[str]:
    """Remove every top-level entry not in `keep` (a layer holds only its own packages); the names removed."""
    removed = []
    for entry in sorted(target.iterdir()):
        if stem(entry.name) not in keep:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


def requirement(name: str, requirements: Path = HERE / "requirements.txt") -> str:
    """The line of `requirements` that pins `name` (its version range is the layer's)."""
    for line in requirements.read_text().splitlines():
        spec = line.split("#")[0].strip()
        if spec.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() == name:
            return spec
    raise SystemExit(f"{requirements} has no {name} requirement")


def install(target: Path, python: str, platform: str, requirements: Path | str) -> None:
    subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--upgrade",
            "--target",
            str(target),
            "--implementation",
            "cp",
            "--python-version",
            python,
            "--platform",
            platform,
            "--only-binary=:all:",
            *(["-r", str(requirements)] if isinstance(requirements, Path) else [requirements]),
        ],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path, help="the package directory (sam: $ARTIFACTS_DIR)")
    parser.add_argument("--python", default="3.12", help="the Lambda runtime's Python version (template.yaml)")
    parser.add_argument("--platform", default="manylinux2014_x86_64", help="wheel platform of the architecture")
    parser.add_argument("--layer", choices=("sheets",), help="build the Google Sheets layer instead")
    args = parser.parse_args(argv)
    if args.layer == "sheets":
        target = args.target / "python"  # where Lambda puts a Python layer on sys.path
        target.mkdir(parents=True, exist_ok=True)
        install(target, args.python, args.platform, requirement("google-auth"))
        keep_only(target, SHEETS_ONLY)
        prune(target, leave_out=())
        saved = strip_libraries(target)
        print(
            f"Sheets layer in {target}: {', '.join(sorted(p.name for p in target.iterdir()))}; stripped {saved:,} bytes"
        )
        return 0
    args.target.mkdir(parents=True, exist_ok=True)
    install(args.target, args.python, args.platform, HERE / "requirements.txt")
    removed = prune(args.target)
    saved = strip_libraries(args.target)
    copy_sources(args.target)
    print(f"package in {args.target}: left out {', '.join(removed) or 'nothing'}; stripping saved {saved:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
