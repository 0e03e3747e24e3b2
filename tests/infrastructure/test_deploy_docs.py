"""docs/deploy.md stays true: its example configuration validates and the files it names exist."""

from __future__ import annotations

import re

from leadsync.config import parse_config
from tests.infrastructure.stack import ROOT

DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_example_configuration_in_the_deploy_guide_is_valid() -> None:
    match = re.search(r"<!-- example-config -->\s*```json\n(.*?)```", DOC, re.DOTALL)
    assert match, "the example configuration block is missing"

    config = parse_config(match.group(1), source="docs/deploy.md")

    assert [pair.id for pair in config.pairs] == ["acme-leads"]


def test_every_repository_path_the_guide_names_exists() -> None:
    paths = set(re.findall(r"(?<![\w/.])((?:infra|functions|tests|docs)/[\w./-]*\w)", DOC))

    assert "infra/samconfig.toml" in paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


def test_guide_runs_every_sam_command_with_the_infra_config_file() -> None:
    # a command in a code block, with its backslash-continued lines
    commands = re.findall(r"\.venv-sam/bin/sam [^\n]*(?:\\\n[^\n]*)*", DOC)

    assert len(commands) >= 6
    for command in commands:
        assert "--config-file infra/samconfig.toml" in command, command


def test_guide_invokes_and_follows_both_functions_with_their_events() -> None:
    # whole commands, backslash-continued lines included
    commands = re.findall(r"\.venv-sam/bin/sam (?:[^\n]*\\\n)*[^\n]*", DOC)
    for function, event in (("DispatchFunction", "infra/events/scheduled.json"), ("SyncFunction", "sqs-pair")):
        (invoke,) = [c for c in commands if f"local invoke {function} " in c]
        assert "--env-vars infra/events/env.local.json" in invoke, function
        assert event in invoke, function
        assert [c for c in commands if "logs " in c and f"-n {function}" in c], function
    assert "infra/events/sqs-pair.json" in DOC
    assert "no local SQS" in DOC


def test_guide_documents_every_fan_out_parameter() -> None:
    for name in ("WorkerMaxConcurrency", "WorkerBatchSize", "QueueVisibilityTimeoutSeconds", "WorkerMaxReceiveCount"):
        assert f"`{name}`" in DOC, name
    assert "6 \u00d7 `FunctionTimeoutSeconds`" in DOC  # the multiplication sign
    assert "start-message-move-task" in DOC
