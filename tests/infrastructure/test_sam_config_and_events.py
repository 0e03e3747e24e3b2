"""infra/samconfig.toml and the sample events match the template and what AWS really sends."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import datetime
from typing import Any

from tests.infrastructure.stack import ROOT

EVENTS = ROOT / "infra" / "events"


def _samconfig() -> dict[str, Any]:
    with (ROOT / "infra" / "samconfig.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_samconfig_deploys_the_leadsync_stack_with_a_changeset_review() -> None:
    config = _samconfig()["default"]
    deploy = config["deploy"]["parameters"]

    assert config["global"]["parameters"]["stack_name"] == "leadsync"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert "parameter_overrides" not in deploy, "account-specific ARNs belong in a private config env"


def test_samconfig_local_invoke_files_exist() -> None:
    local = _samconfig()["default"]["local_invoke"]["parameters"]

    assert (ROOT / local["event"]).is_file()
    assert (ROOT / local["env_vars"]).is_file()


def test_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    event = json.loads((EVENTS / "scheduled.json").read_text(encoding="utf-8"))

    assert event["version"] == "0"
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"])
    assert re.fullmatch(r"\d{12}", event["account"])
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    (rule_arn,) = event["resources"]
    assert re.fullmatch(rf"arn:aws:events:{event['region']}:{event['account']}:rule/[\w.-]+", rule_arn)


def test_local_env_overrides_only_variables_the_template_declares(template: dict[str, Any]) -> None:
    overrides = json.loads((EVENTS / "env.local.json").read_text(encoding="utf-8"))
    declared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    declared |= set(template["Resources"]["SyncFunction"]["Properties"].get("Environment", {}).get("Variables", {}))

    assert set(overrides) == {"SyncFunction"}
    # sam local invoke silently drops variables the template does not declare.
    assert set(overrides["SyncFunction"]) <= declared
    for name in ("NOTION", "TRELLO", "AIRTABLE", "SHEETS"):
        assert overrides["SyncFunction"][f"LEADSYNC_{name}_BASE_URL"].startswith("http://host.docker.internal:")
