"""The bench's engine-settings passthrough (--engine-env, --pair-option): parsed as documented."""

from __future__ import annotations

import argparse

import pytest

from bench import engine_env, pair_options, settings_words


def test_engine_env_keeps_everything_after_the_first_equals_sign() -> None:
    assert engine_env(["A=4", " B =x=y", "C="]) == {"A": "4", "B": "x=y", "C": ""}


@pytest.mark.parametrize("item", ["A", "=4", " =4"])
def test_engine_env_without_a_name_is_refused(item: str) -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        engine_env([item])


def test_pair_options_are_json_or_else_text() -> None:
    assert pair_options(["full_sweep_minutes=30", 'limits={"a": 1}', "note=plain"]) == {
        "full_sweep_minutes": 30,
        "limits": {"a": 1},
        "note": "plain",
    }
    with pytest.raises(ValueError, match="KEY=JSON"):
        pair_options(["30"])


def test_the_report_names_the_settings_or_the_defaults() -> None:
    given = argparse.Namespace(engine_env={"W": "4"}, pair_options={"x": 2})
    assert settings_words(given) == "W=4, pair x=2"
    none = argparse.Namespace(engine_env={}, pair_options={})
    assert settings_words(none).startswith("the engine's defaults")
