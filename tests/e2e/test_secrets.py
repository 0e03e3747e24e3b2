"""No credential ever appears in a log line or a request URL of an end-to-end run."""

from __future__ import annotations

import io
import logging

import pytest

from tests.support.e2e import Harness, environment

SECRET_NAMES = ("NOTION_TOKEN", "TRELLO_API_KEY", "TRELLO_TOKEN", "AIRTABLE_TOKEN")


def _secrets(harness: Harness) -> list[str]:
    env = environment(harness.config_path, harness.sb.env(), "unused")
    return [env[name] for name in SECRET_NAMES]


def test_no_token_or_key_in_any_log_output_or_request_url(
    harness: Harness, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the transport's per-request debug lines included
    stream = io.StringIO()
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
        harness.cycle()
        harness.board.move(harness.board.card_for(lead)["id"], "Done")
        harness.leads.edit(lead, status="Contacted")  # a conflict: both values are logged
        harness.sb.emulators["trello"].faults.next("429")  # a retry is logged too
        harness.cycle()
        harness.cycle()
    finally:
        root.removeHandler(handler)

    logged = stream.getvalue() + capsys.readouterr().out + "\n".join(r.getMessage() for r in caplog.records)
    assert "conflict resolved" in logged, "the run did log (the check below is not vacuous)"
    urls = [url for emulator in harness.sb.emulators.values() for url in emulator.request_urls]
    assert urls, "requests were made"
    for secret in _secrets(harness):
        assert secret not in logged
        assert all(secret not in url for url in urls)
