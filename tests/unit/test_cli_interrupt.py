"""Ctrl-C in a local command: one line saying what is kept and what to do, exit 130, no traceback."""

from __future__ import annotations

import argparse

import pytest

from leadsync import cli


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(_args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "sync", interrupted)

    assert cli.main(["sync"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("interrupted: what was applied is kept")
    assert "run the same command again" in err
