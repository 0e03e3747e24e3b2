"""Webhooks end to end: the sandbox's Trello calls the registered callback (HEAD check, signed POSTs),
a local HTTP API hands the receiver real payload 2.0 events, the hint goes onto the FIFO pair queue
(moto) and the worker's cycle carries the change to the lead tracker, with no scheduled tick between."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from http_api import LocalHttpApi
from lambda_events import sqs_event
from leadsync.cli import main as cli
from tests.support.e2e import Harness
from tests.support.moto_lock import serialized_aws_calls

NOTION = pytest.mark.parametrize("harness", ["notion"], indirect=True)
AIRTABLE = pytest.mark.parametrize("harness", ["airtable"], indirect=True)


@pytest.fixture
def wired(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A pair queue, the receiver behind a local HTTP API, and the Trello app secret it checks with."""
    from handlers import webhook

    sqs = boto3.client("sqs", region_name="eu-west-1")
    url = sqs.create_queue(QueueName=f"pairs-{uuid.uuid4().hex[:12]}.fifo", Attributes={"FifoQueue": "true"})
    monkeypatch.setenv("LEADSYNC_QUEUE_URL", url["QueueUrl"])
    monkeypatch.setenv("TRELLO_APP_SECRET", harness.sb.trello.app_secret)
    monkeypatch.setenv("LEADSYNC_ALLOW_INSECURE_BASE_URLS", "false")
    webhook._receiver.cache_clear()
    with serialized_aws_calls(), LocalHttpApi(webhook.handler) as api:
        monkeypatch.setenv("LEADSYNC_WEBHOOK_BASE_URL", api.url)
        yield {"queue": url["QueueUrl"], "api": api, "sqs": sqs}
        harness.sb.trello.deliverer.wait_idle()
        harness.sb.notion.deliverer.wait_idle()
        harness.sb.notion.subscriptions.clear()
        harness.sb.airtable.deliverer.wait_idle()
    webhook._receiver.cache_clear()


def _hints(wired: dict[str, Any]) -> list[dict[str, Any]]:
    out = wired["sqs"].receive_message(
        QueueUrl=wired["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    return out.get("Messages", [])


def _drain(harness: Harness, wired: dict[str, Any]) -> int:
    """Run the worker on every queued hint (echoes of the test's own setup); how many there were."""
    count = 0
    while messages := _hints(wired):
        assert _work(harness, wired, messages) == []
        for m in messages:
            wired["sqs"].delete_message(QueueUrl=wired["queue"], ReceiptHandle=m["ReceiptHandle"])
        count += len(messages)
    return count


def _work(harness: Harness, wired: dict[str, Any], messages: list[dict[str, Any]]) -> list[str]:
    """Hand the messages to the worker handler as Lambda's SQS event source does."""
    from handlers.pair_worker import handler

    event = sqs_event(messages, wired["queue"])
    return [f["itemIdentifier"] for f in handler(event, harness.context_factory())["batchItemFailures"]]


def _synced_lead(harness: Harness) -> tuple[str, str]:
    lead = harness.leads.add(name="Hooked Lead", email="hook@example.com", status="New", source="Web")
    assert harness.cycle()["status"] == "synced"
    return lead, harness.board.card_for(lead)["id"]


@NOTION
def test_register_is_idempotent_and_trello_checked_the_callback_with_head(
    harness: Harness, wired: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["webhooks", "register"]) == 0
    assert cli(["webhooks", "register"]) == 0
    out = capsys.readouterr().out
    assert out.count("registered webhook") == 1
    assert "already registered" in out
    hooks = list(harness.sb.trello.webhooks.values())
    assert [(h["idModel"], h["callbackURL"]) for h in hooks] == [
        (harness.board.board_id, f"{wired['api'].url}/webhooks/trello/e2e")
    ]
    assert ("HEAD", "/webhooks/trello/e2e", 200) in wired["api"].calls
    assert "ATTA" not in out  # the token is in no line printed

    assert cli(["webhooks", "list"]) == 0
    assert f"board {harness.board.board_id}" in capsys.readouterr().out
    assert cli(["webhooks", "remove"]) == 0
    assert harness.sb.trello.webhooks == {}


@NOTION
def test_a_card_moved_in_trello_reaches_the_lead_through_receiver_queue_and_worker(
    harness: Harness, wired: dict[str, Any]
) -> None:
    lead, card = _synced_lead(harness)
    assert cli(["webhooks", "register"]) == 0

    harness.board.move(card, "Done")
    assert harness.sb.trello.deliverer.wait_idle()

    messages = _hints(wired)
    assert [json.loads(m["Body"])["hint"] for m in messages] == ["trello"]
    assert ("POST", "/webhooks/trello/e2e", 200) in wired["api"].calls
    assert harness.leads.get(lead)["status"] == "New"  # nothing synced by the receiver itself
    assert _work(harness, wired, messages) == []
    assert harness.leads.get(lead)["status"] == "Qualified"


@NOTION
def test_duplicated_deliveries_give_one_hint_and_dropped_ones_leave_it_to_the_schedule(
    harness: Harness, wired: dict[str, Any]
) -> None:
    lead, card = _synced_lead(harness)
    assert cli(["webhooks", "register"]) == 0
    trello = harness.sb.trello

    trello.deliverer.configure(duplicate=1.0)
    harness.board.move(card, "In Progress")
    assert trello.deliverer.wait_idle()
    assert len(_hints(wired)) == 1  # the copy is refused as a duplicate (409), not enqueued
    assert ("POST", "/webhooks/trello/e2e", 409) in wired["api"].calls
    (hook,) = trello.webhooks.values()
    # Trello retried the refused copy and counted one failed delivery; a webhook is disabled only by
    # failures in a row, and every original delivery between duplicates is accepted and resets it
    assert (hook["active"], hook["consecutiveFailures"]) == (True, 1)
    harness.board.move(card, "To Do")
    assert trello.deliverer.wait_idle()
    assert (hook["active"], hook["consecutiveFailures"]) == (True, 1)  # accepted (reset), then its copy refused
    assert trello.deliverer.switch.counts["failed"] == 2

    trello.deliverer.configure(drop=1.0)
    harness.board.move(card, "Done")
    assert trello.deliverer.wait_idle()
    assert trello.deliverer.switch.counts["dropped"] == 1
    harness.cycle()  # the minute schedule, the safety net
    assert harness.leads.get(lead)["status"] == "Qualified"


@NOTION
def test_an_echo_of_our_own_write_costs_one_cycle_that_writes_nothing(harness: Harness, wired: dict[str, Any]) -> None:
    """Echoes are not suppressed (docs/architecture.md, "Echoes"): the cycle's own card write comes
    back as a Trello webhook call, and its hinted cycle finds nothing new (META.seen) and writes nothing."""
    lead, _card = _synced_lead(harness)
    assert cli(["webhooks", "register"]) == 0
    assert harness.sb.trello.deliverer.wait_idle()
    _drain(harness, wired)

    harness.leads.edit(lead, status="Qualified")
    assert harness.cycle()["status"] == "synced"  # the schedule carries it to the card: our write
    assert harness.sb.trello.deliverer.wait_idle()
    echoes = _hints(wired)
    assert [json.loads(m["Body"])["hint"] for m in echoes] == ["trello"]
    for emulator in harness.sb.emulators.values():
        emulator.clear_requests()
    assert _work(harness, wired, echoes) == []
    assert harness.writes() == 0  # the echo's cycle wrote nothing
    sent = [r for e in harness.sb.emulators.values() for r in e.requests]
    assert len(sent) <= 3, sent  # its cost: the two incremental listings and a card read (3 in the sandbox)


@NOTION
def test_forged_calls_to_the_callback_are_refused_and_a_failing_receiver_gets_the_webhook_disabled(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    _, card = _synced_lead(harness)
    assert cli(["webhooks", "register"]) == 0
    body = json.dumps({"action": {"id": "ab" * 12}, "model": {"id": harness.board.board_id}})
    forged = requests.post(f"{wired['api'].url}/webhooks/trello/e2e", data=body, headers={"X-Trello-Webhook": "x"})
    assert forged.status_code == 403
    assert _hints(wired) == []

    monkeypatch.setattr(harness.sb.trello, "app_secret", "a-secret-the-receiver-does-not-know")
    trello = harness.sb.trello
    for target in ("Done", "To Do", "Done"):
        harness.board.move(card, target)
        assert trello.deliverer.wait_idle()
    (hook,) = trello.webhooks.values()
    assert hook["active"] is False
    assert hook["consecutiveFailures"] == trello.disable_after
    assert _hints(wired) == []


@NOTION
def test_notion_handshake_then_a_signed_page_edit_reaches_the_card_through_the_queue(
    harness: Harness, wired: dict[str, Any]
) -> None:
    from handlers import webhook

    notion = harness.sb.notion
    subscription = notion.create_subscription(f"{wired['api'].url}/webhooks/notion")
    assert notion.deliverer.wait_idle()
    stored = webhook._receiver().handshake.token()  # what the operator reads from the handshake secret
    assert stored == notion.subscriptions[subscription]["token"]
    assert notion.verify_subscription(subscription, stored)

    lead, card = _synced_lead(harness)
    assert notion.deliverer.wait_idle()
    assert (
        _drain(harness, wired) >= 1
    )  # the lead's creation, and the cycle's own write-back (an echo: a harmless cycle)

    harness.leads.edit(lead, name="Renamed In Notion")
    assert notion.deliverer.wait_idle()
    messages = _hints(wired)
    assert [json.loads(m["Body"])["hint"] for m in messages] == ["notion"]
    assert harness.board.card_for(lead)["name"] == "Hooked Lead"  # the receiver itself synced nothing
    assert _work(harness, wired, messages) == []
    assert harness.board.card_for(lead)["name"] == "Renamed In Notion"
    assert card == harness.board.card_for(lead)["id"]


@NOTION
def test_notion_events_before_verification_are_not_sent_and_other_databases_give_no_hint(
    harness: Harness, wired: dict[str, Any]
) -> None:
    notion = harness.sb.notion
    subscription = notion.create_subscription(f"{wired['api'].url}/webhooks/notion")
    assert notion.deliverer.wait_idle()
    harness.leads.add(name="Early", email="e@example.com", status="New", source="Web")
    assert notion.deliverer.wait_idle()
    assert _hints(wired) == []  # not verified yet: Notion sends nothing

    notion.verify_subscription(subscription, notion.subscriptions[subscription]["token"])
    _other_db, other_ds = notion.create_database("Elsewhere", {"Name": "title"})
    notion.user_create_page(other_ds, {"Name": "Not a lead"})
    assert notion.deliverer.wait_idle()
    assert _hints(wired) == []
    assert ("POST", "/webhooks/notion", 200) in wired["api"].calls


def _airtable_webhook(harness: Harness, url: str) -> dict[str, Any]:
    """Create the base's webhook through the API, as an operator would with curl."""
    import requests

    leads = harness.leads
    made = requests.post(
        f"{harness.sb.airtable.url}/v0/bases/{leads.base_id}/webhooks",
        headers={"Authorization": "Bearer pate2e.secret-airtable-token"},
        json={"notificationUrl": url, "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}},
        timeout=5,
    )
    assert made.status_code == 200, made.text
    return dict(made.json())


@AIRTABLE
def test_an_airtable_edit_pings_the_receiver_and_reaches_the_card_through_the_queue(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import webhook

    hook = _airtable_webhook(harness, f"{wired['api'].url}/webhooks/airtable/e2e")
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps({hook["id"]: hook["macSecretBase64"]}))
    webhook._receiver.cache_clear()
    airtable = harness.sb.airtable

    lead, card = _synced_lead(harness)
    assert airtable.deliverer.wait_idle()
    assert _drain(harness, wired) >= 1  # the row's creation (and the cycle's own write-back)

    harness.leads.edit(lead, name="Renamed In Airtable")
    assert airtable.deliverer.wait_idle()
    messages = _hints(wired)
    assert [json.loads(m["Body"])["hint"] for m in messages] == ["airtable"]
    assert harness.board.card_for(lead)["name"] == "Hooked Lead"
    assert _work(harness, wired, messages) == []
    assert harness.board.card_for(lead)["id"] == card
    assert harness.board.card_for(lead)["name"] == "Renamed In Airtable"


def _hooked_airtable_lead(harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Our webhook on the base (its secret in the credentials), and a synced lead with no hint left."""
    from handlers import webhook

    hook = _airtable_webhook(harness, f"{wired['api'].url}/webhooks/airtable/e2e")
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps({hook["id"]: hook["macSecretBase64"]}))
    webhook._receiver.cache_clear()
    lead, card = _synced_lead(harness)
    assert harness.sb.airtable.deliverer.wait_idle()
    _drain(harness, wired)
    return lead, card


@AIRTABLE
def test_an_airtable_hard_delete_reaches_the_card_through_the_ping_and_its_payload_without_a_sweep(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lead, card = _hooked_airtable_lead(harness, wired, monkeypatch)
    airtable = harness.sb.airtable

    harness.leads.delete(lead)  # for good: no listing shows it, only the payload's destroyedRecordIds
    assert airtable.deliverer.wait_idle()
    messages = _hints(wired)
    assert [json.loads(m["Body"])["hint"] for m in messages] == ["airtable"]
    assert harness.board.card_for(lead)["closed"] is False
    airtable.clear_requests()
    assert _work(harness, wired, messages) == []
    assert harness.board.card_for(lead) == {**harness.board.card_for(lead), "id": card, "closed": True}
    read = [p for m, p in airtable.requests if m == "GET"]
    assert any(p.endswith("/payloads") for p in read)
    assert f"/v0/{harness.leads.base_id}/{harness.leads.table_id}/{lead}" in read  # confirmed gone: a 404


@AIRTABLE
def test_deletions_named_by_payloads_pass_the_mass_deletion_guard(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    harness.configure(max_deletions_per_cycle=1)
    lead, _card = _hooked_airtable_lead(harness, wired, monkeypatch)
    other = harness.leads.add(name="Second", email="second@example.com", status="New", source="Web")
    assert harness.cycle()["status"] == "synced"
    assert harness.sb.airtable.deliverer.wait_idle()
    _drain(harness, wired)

    harness.leads.delete(lead)
    harness.leads.delete(other)
    assert harness.sb.airtable.deliverer.wait_idle()
    caplog.clear()
    assert _work(harness, wired, _hints(wired)) == []
    # two deletions, over the limit of one: held, as a sweep's would be; nothing archived
    assert [harness.board.card_for(i)["closed"] for i in (lead, other)] == [False, False]
    assert "would archive or delete 2 records, more than the limit of 1" in caplog.text
    report = harness.cycle()
    assert report["full_sweep"] is False
    assert report["held_deletions"] == 0  # the payloads were read once: the sweep finds them again


@AIRTABLE
def test_a_payload_naming_a_record_that_still_exists_changes_nothing_and_the_cursor_is_kept(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lead, _card = _hooked_airtable_lead(harness, wired, monkeypatch)
    airtable = harness.sb.airtable
    (hook,) = airtable.webhooks.values()
    forged = {
        "timestamp": "2026-01-01T00:00:00.000Z",
        "baseTransactionNumber": 999,
        "payloadFormat": "v0",
        "actionMetadata": {"source": "publicApi", "sourceMetadata": {}},
        "changedTablesById": {harness.leads.table_id: {"destroyedRecordIds": [lead, "rec'); DROP--", "../x"]}},
    }
    with airtable.lock:
        forged["timestamp"] = hook["payloads"][-1][1]["timestamp"] if hook["payloads"] else forged["timestamp"]
        hook["payloads"].append((hook["next_cursor"], forged))
        hook["next_cursor"] += 1
    report = harness.cycle()  # the minute schedule reads the payloads too
    assert report["status"] in ("synced", "partial")
    assert harness.board.card_for(lead)["closed"] is False  # read directly: still there, so not deleted
    assert harness.leads.get(lead) is not None
    airtable.clear_requests()
    harness.cycle()
    paths = [p for _, p in airtable.requests]
    assert not [p for p in paths if p.endswith(f"/{lead}")]  # the cursor moved past it: not read again
    assert not [p for p in paths if "DROP" in p or "/x" in p]  # malformed ids never reach a URL


@AIRTABLE
def test_a_failed_payload_read_keeps_the_cursor_and_a_webhook_gone_is_looked_up_again(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadsync.connectors.airtable import AirtableConnector
    from leadsync.errors import RetryableError

    lead, _card = _hooked_airtable_lead(harness, wired, monkeypatch)
    airtable = harness.sb.airtable
    harness.leads.delete(lead)
    assert airtable.deliverer.wait_idle()
    _hints(wired)  # the ping's hint is not needed: the minute schedule reads the payloads too

    def unavailable(self: AirtableConnector, webhook_id: str, cursor: int) -> Any:
        raise RetryableError("airtable: 503 on the payloads")

    with monkeypatch.context() as patched:
        patched.setattr(AirtableConnector, "webhook_payloads", unavailable)
        assert harness.cycle()["status"] == "synced"  # a failed read never fails the cycle ...
    assert harness.board.card_for(lead)["closed"] is False
    assert harness.cycle()["status"] == "synced"  # ... and the cursor was kept: the next one reads it
    assert harness.board.card_for(lead)["closed"] is True

    airtable.webhooks.clear()  # removed (or long expired): the payload read is a 404
    harness.cycle()
    airtable.clear_requests()
    harness.cycle()
    listing = f"/v0/bases/{harness.leads.base_id}/webhooks"
    assert [p for _, p in airtable.requests if "/webhooks" in p] == [listing]  # looked for again, none found


@AIRTABLE
def test_an_airtable_ping_signed_by_another_webhook_gives_no_hint(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import webhook

    url = f"{wired['api'].url}/webhooks/airtable/e2e"
    mine, stranger = _airtable_webhook(harness, url), _airtable_webhook(harness, url)
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps({mine["id"]: mine["macSecretBase64"]}))
    webhook._receiver.cache_clear()
    del harness.sb.airtable.webhooks[mine["id"]]  # only the stranger's webhook pings now

    harness.leads.add(name="Pinged", email="p@example.com", status="New", source="Web")
    assert harness.sb.airtable.deliverer.wait_idle()
    assert _hints(wired) == []
    assert ("POST", "/webhooks/airtable/e2e", 403) in wired["api"].calls
    assert stranger["id"] in harness.sb.airtable.webhooks  # it did ping, and was refused


@AIRTABLE
def test_the_cycle_refreshes_our_airtable_webhooks_before_they_expire_and_leaves_others(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadsync.webhooks import upkeep

    url = f"{wired['api'].url}/webhooks/airtable/e2e"
    ours, theirs = _airtable_webhook(harness, url), _airtable_webhook(harness, "https://zapier.example/hook")
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps({ours["id"]: ours["macSecretBase64"]}))
    hooks = harness.sb.airtable.webhooks
    created = {i: hooks[i]["expires"] for i in (ours["id"], theirs["id"])}

    harness.sb.clock.advance(2 * 24 * 3600)  # two days on: due (expires within six days)
    upkeep.clear_caches()
    harness.cycle()
    assert hooks[ours["id"]]["expires"] > created[ours["id"]]
    assert hooks[theirs["id"]]["expires"] == created[theirs["id"]]

    harness.sb.airtable.clear_requests()
    harness.cycle()  # within the hour: not even listed again, and not refreshed
    webhook_calls = [(m, p) for m, p in harness.sb.airtable.requests if "/webhooks" in p]
    # only the payload read of leadsync/cycle/payloads.py (which Airtable also counts as a refresh)
    assert webhook_calls == [("GET", f"/v0/bases/{harness.leads.base_id}/webhooks/{ours['id']}/payloads")]


@AIRTABLE
def test_register_creates_one_airtable_webhook_per_pair_keeps_its_secret_and_pings_reach_the_queue(
    harness: Harness,
    wired: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from handlers import webhook

    monkeypatch.chdir(tmp_path)  # the local secrets file goes under ./.leadsync
    assert cli(["webhooks", "register"]) == 0
    secrets_file = tmp_path / ".leadsync" / "airtable-webhook-secrets.json"
    stored = json.loads(secrets_file.read_text())
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps(stored))
    assert cli(["webhooks", "register"]) == 0  # idempotent: the secret is known, nothing changes
    out = capsys.readouterr().out
    assert out.count("airtable: registered webhook") == 1
    assert "airtable: webhook" in out
    assert "already registered" in out
    [hook] = harness.sb.airtable.webhooks.values()
    assert list(stored) == [hook["id"]]
    assert hook["notificationUrl"] == f"{wired['api'].url}/webhooks/airtable/e2e"
    assert hook["secret"] not in out  # shown once by Airtable, never printed

    webhook._receiver.cache_clear()
    harness.leads.add(name="Pinged", email="p@example.com", status="New", source="Web")
    assert harness.sb.airtable.deliverer.wait_idle()
    assert [json.loads(m["Body"])["hint"] for m in _hints(wired)] == ["airtable"]

    monkeypatch.delenv("AIRTABLE_WEBHOOK_SECRETS")  # a secret lost: register replaces the webhook
    assert cli(["webhooks", "register"]) == 0
    [replacement] = harness.sb.airtable.webhooks.values()
    assert replacement["id"] != hook["id"]
    assert cli(["webhooks", "remove"]) == 0
    assert harness.sb.airtable.webhooks == {}
    assert json.loads(secrets_file.read_text()) == {}


# -- an independent signer: each scheme's HMAC written here from the API notes, not with leadsync's
#    nor the sandbox's code, and posted to the receiver over HTTP as the service would ---------------


def _post(wired: dict[str, Any], path: str, body: bytes, headers: dict[str, str]) -> int:
    import requests

    url = f"{wired['api'].url}{path}"
    return requests.post(
        url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10
    ).status_code


@NOTION
def test_an_independently_signed_trello_delivery_is_accepted_and_a_wrong_one_refused(
    harness: Harness, wired: dict[str, Any]
) -> None:
    import base64
    import hashlib
    import hmac

    assert cli(["webhooks", "register"]) == 0
    _drain(harness, wired)
    path = "/webhooks/trello/e2e"
    callback = f"{wired['api'].url}{path}"  # exactly as registered
    board = harness.board.board_id
    action: dict[str, Any] = {"id": "6b1700000000000000000001", "type": "updateCard"}
    action["data"] = {"board": {"id": board, "name": "Sales \u2013 pipeline"}, "card": {"name": "Zo\u00eb"}}
    body = json.dumps({"action": action, "model": {"id": board, "name": "Sales \u2013 pipeline"}}, ensure_ascii=False)
    raw = body.encode("utf-8")
    # Trello's Node signer: body text + callback URL as a "binary" string, each character cut to 8 bits
    message = bytes(ord(c) & 0xFF for c in body + callback)
    secret = harness.sb.trello.app_secret.encode("utf-8")
    good = base64.b64encode(hmac.new(secret, message, hashlib.sha1).digest()).decode("ascii")
    over_utf8 = base64.b64encode(hmac.new(secret, raw + callback.encode(), hashlib.sha1).digest()).decode("ascii")

    assert good != over_utf8  # the body is not ASCII: only the latin-1 reading is Trello's
    assert _post(wired, path, raw, {"X-Trello-Webhook": over_utf8}) == 403
    assert _post(wired, path, raw, {}) in (401, 403)
    assert _hints(wired) == []
    assert _post(wired, path, raw, {"X-Trello-Webhook": good}) == 200
    assert [json.loads(m["Body"])["hint"] for m in _hints(wired)] == ["trello"]


@NOTION
def test_an_independently_signed_notion_event_is_accepted_and_a_wrong_one_refused(
    harness: Harness, wired: dict[str, Any]
) -> None:
    import hashlib
    import hmac

    token = "secret_" + uuid.uuid4().hex  # what Notion POSTs once, unsigned, when the subscription is made
    assert _post(wired, "/webhooks/notion", json.dumps({"verification_token": token}).encode(), {}) == 200
    lead = harness.leads.add(name="Signed", email="s@example.com", status="New", source="Web")
    leads: Any = harness.leads
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": "2026-12-07T19:00:00.000Z",
        "workspace_id": str(uuid.uuid4()),
        "subscription_id": str(uuid.uuid4()),
        "integration_id": str(uuid.uuid4()),
        "type": "page.properties_updated",
        "authors": [{"id": str(uuid.uuid4()), "type": "person"}],
        "attempt_number": 1,
        "api_version": "2025-09-03",
        "entity": {"id": lead, "type": "page"},
        "data": {"parent": {"id": leads.database_id, "type": "database", "data_source_id": leads.ds_id}},
    }
    raw = json.dumps(event).encode("utf-8")
    good = "sha256=" + hmac.new(token.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    wrong = "sha256=" + hmac.new(b"secret_other", raw, hashlib.sha256).hexdigest()

    assert _post(wired, "/webhooks/notion", raw, {"X-Notion-Signature": wrong}) in (401, 403)
    assert _hints(wired) == []
    assert _post(wired, "/webhooks/notion", raw, {"X-Notion-Signature": good}) == 200
    assert [json.loads(m["Body"])["hint"] for m in _hints(wired)] == ["notion"]


@AIRTABLE
def test_an_independently_signed_airtable_ping_is_accepted_and_a_wrong_one_refused(
    harness: Harness, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import hashlib
    import hmac

    from handlers import webhook

    hook_id = "ach" + uuid.uuid4().hex[:14]
    secret = base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode("ascii")
    monkeypatch.setenv("AIRTABLE_WEBHOOK_SECRETS", json.dumps({hook_id: secret}))
    webhook._receiver.cache_clear()
    ping = {"base": {"id": harness.leads.base_id}, "webhook": {"id": hook_id}, "timestamp": "2026-12-07T19:00:00.000Z"}
    raw = json.dumps(ping).encode("utf-8")
    good = "hmac-sha256=" + hmac.new(base64.b64decode(secret), raw, hashlib.sha256).hexdigest()
    wrong = "hmac-sha256=" + hmac.new(secret.encode("ascii"), raw, hashlib.sha256).hexdigest()  # undecoded key

    assert _post(wired, "/webhooks/airtable/e2e", raw, {"X-Airtable-Content-MAC": wrong}) in (401, 403)
    assert _hints(wired) == []
    assert _post(wired, "/webhooks/airtable/e2e", raw, {"X-Airtable-Content-MAC": good}) in (200, 204)
    assert [json.loads(m["Body"])["hint"] for m in _hints(wired)] == ["airtable"]
