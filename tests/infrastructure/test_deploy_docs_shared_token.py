"""docs/deploy.md's demo of several pairs on one Trello token: its configuration validates, every
pair shares the stack's Trello token on a board of its own, two share an Airtable base, and the
command that shows it locally names flags the benchmark has."""

from __future__ import annotations

import argparse
import re

import bench_fanout
from leadsync.config import parse_config
from tests.infrastructure.stack import ROOT

DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_the_shared_token_example_is_three_pairs_on_three_boards_two_in_one_base() -> None:
    match = re.search(r"<!-- shared-token-config -->\s*```json\n(.*?)```", DOC, re.DOTALL)
    assert match, "the shared-token example is missing"

    config = parse_config(match.group(1), source="docs/deploy.md")

    assert [p.id for p in config.pairs] == ["north", "south", "west"]
    assert {p.card.system for p in config.pairs} == {"trello"}
    assert len({p.card.board_id for p in config.pairs}) == 3
    bases = [p.lead.base_id for p in config.pairs if p.lead.system == "airtable"]
    assert len(bases) == 2
    assert len(set(bases)) == 1


def test_the_demo_command_uses_flags_the_fanout_bench_accepts() -> None:
    match = re.search(r"\.venv/bin/python infra/bench\.py (--fanout-only[^\n]*(?:\\\n[^\n]*)*)", DOC)
    assert match, "the local demo command is missing"
    flags = [f for f in match.group(1).replace("\\\n", " ").split() if f.startswith("--")]

    assert {"--fanout-only", "--pairs", "--concurrency"} <= set(flags)
    parser = argparse.ArgumentParser()
    bench_fanout.add_arguments(parser)
    known = {o for action in parser._actions for o in action.option_strings} | {"--fanout-only"}
    assert set(flags) <= known, set(flags) - known
