"""Cold start: what the handler imports and patches, and how the deployment package is built."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions"))

import build_package  # noqa: E402

LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
    "AWS_LAMBDA_FUNCTION_NAME": "leadsync-SyncFunction",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "PYTHONPATH": str(ROOT / "functions"),
}


def _in_lambda(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_SAM_LOCAL", "POWERTOOLS_TRACE_DISABLED")}
    out = subprocess.run([sys.executable, "-c", code], env={**env, **LAMBDA_ENV}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_in_lambda_tracing_is_on_for_what_leadsync_calls_out_through_and_nothing_else() -> None:
    code = (
        "import json, sys, handlers.pair_worker, handlers.dispatch, handlers.scheduled_sync\n"
        "from aws_xray_sdk.core import patcher\n"
        "from leadsync.observability import tracer\n"
        "import requests\n"
        "print(json.dumps({'disabled': bool(tracer.disabled), 'patched': sorted(patcher._PATCHED_MODULES),\n"
        "  'send_wrapped': hasattr(requests.Session.request, '__wrapped__'),\n"
        "  'extra': sorted(m for m in ('httpx', 'sqlite3', 'pymysql', 'aiobotocore') if m in sys.modules)}))"
    )
    seen = json.loads(_in_lambda(code))
    assert seen == {"disabled": False, "patched": ["botocore", "requests"], "send_wrapped": True, "extra": []}


def _template() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


def test_every_function_is_built_by_build_package_for_the_runtime_it_runs_on() -> None:
    template = _template()
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    makefile = (ROOT / "functions/Makefile").read_text()
    targets = set(re.findall(r"build-(\w+)", makefile))
    for name, resource in functions.items():
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", name
        assert name in targets, f"functions/Makefile has no build-{name} target"
    runtime = template["Globals"]["Function"]["Runtime"]
    arch = template["Globals"]["Function"]["Architectures"]
    defaults = build_package.main.__code__.co_consts
    assert runtime.removeprefix("python") in defaults, f"build_package's default --python is not {runtime}"
    assert arch == ["x86_64"]
    assert "manylinux2014_x86_64" in defaults


def test_prune_leaves_out_what_the_runtime_provides_and_every_cache(tmp_path: Path) -> None:
    for name in ("botocore", "boto3", "s3transfer", "jmespath", "dateutil", "pydantic", "requests", "leadsync"):
        (tmp_path / name / "__pycache__").mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"x")
    for name in ("botocore-1.44.18.dist-info", "python_dateutil-2.9.0.post0.dist-info", "requests-2.34.2.dist-info"):
        (tmp_path / name).mkdir()
    (tmp_path / "six.py").write_text("")
    (tmp_path / "typing_extensions.py").write_text("")

    removed = build_package.prune(tmp_path)

    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["leadsync", "pydantic", "requests", "requests-2.34.2.dist-info", "typing_extensions.py"]
    assert "six.py" in removed
    assert "botocore-1.44.18.dist-info" in removed
    assert not list(tmp_path.rglob("__pycache__"))


def test_a_sheets_pair_without_the_sheets_layer_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """SheetsSupport=false deploys no google-auth: a Sheets pair fails with the fix, other pairs are unaffected."""
    from leadsync.config import Settings, parse_config
    from leadsync.connectors.deadline import Deadline
    from leadsync.credentials import Credentials
    from leadsync.errors import ConfigError
    from leadsync.wiring import build_runtime

    for name in [m for m in sys.modules if m.startswith(("google", "leadsync.connectors.sheets"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "google", None)  # as if not installed
    pair = parse_config(
        {
            "id": "p",
            "lead": {"system": "sheets", "spreadsheet_id": "1" + "a" * 43, "sheet": "Leads"},
            "card": {"system": "trello", "board_id": "b" * 24},
            "fields": {"name": {"lead": "Name", "card": "name"}},
            "status_field": None,
        }
    ).pairs[0]
    creds = Credentials(trello_key="k" * 32, trello_token="ATTAx")
    with pytest.raises(ConfigError, match=r"pair 'p' lead side: Google Sheets needs google-auth.*SheetsSupport=true"):
        build_runtime(pair, Settings(), creds, Deadline.never())


def test_sheets_dependencies_go_to_the_layer_and_nowhere_else(tmp_path: Path) -> None:
    names = ["google", "google_auth-2.63.1.dist-info", "cryptography", "_cffi_backend.cpython-312-x86_64-linux-gnu.so"]
    names += ["pyasn1_modules", "pydantic", "requests", "typing_extensions.py"]
    for folder in ("function", "layer"):
        for name in names:
            (tmp_path / folder / name).mkdir(parents=True)
    build_package.prune(tmp_path / "function")
    build_package.keep_only(tmp_path / "layer", build_package.SHEETS_ONLY)
    function = sorted(p.name for p in (tmp_path / "function").iterdir())
    layer = sorted(p.name for p in (tmp_path / "layer").iterdir())
    assert function == ["pydantic", "requests", "typing_extensions.py"]
    assert sorted(layer + function) == sorted(names)
    assert build_package.requirement("google-auth").startswith("google-auth>=")


def test_the_sync_function_carries_the_sheets_layer_while_sheets_support_is_on() -> None:
    resources = _template()["Resources"]
    layer = resources["SheetsLayer"]
    assert layer["Condition"] == "HasSheetsSupport"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "build-SheetsLayer:" in (ROOT / "functions/Makefile").read_text()
    text = (ROOT / "template.yaml").read_text()
    assert "Layers: !If [HasSheetsSupport, [!Ref SheetsLayer], !Ref AWS::NoValue]" in text
