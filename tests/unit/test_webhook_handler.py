"""The webhook handler, invoked with HTTP API (payload 2.0) events as API Gateway delivers them:
good events become one hint per pair on the FIFO pair queue; every bad one gets its 4xx, is logged
without the body or a secret, and enqueues nothing. SQS, DynamoDB and Secrets Manager are moto."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leadsync.state.table import create_table
from leadsync.webhooks.receiver import MAX_BODY_BYTES
from tests.support.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "events"
BOARD = "5f0c5f0c5f0c5f0c5f0c5f0c"
DATABASE = "0b7b1f9c-2f1d-4d86-a9b1-0b8a3b7a9d11"
BASE = "appAAAAAAAAAAAAAA"
HOOK = "achBBBBBBBBBBBBBB"
APP_SECRET = "trello-app-secret-0123456789abcdef"
MAC_SECRET = base64.b64encode(b"\x07" * 32).decode()
NOTION_TOKEN = "secret_tokenFromNotion0123456789"
FIELDS = {"name": {"lead": "Name", "card": "name"}}
PAIRS = {
    "pairs": [
        {
            "id": "notion-trello",
            "lead": {"system": "notion", "database_id": DATABASE},
            "card": {"system": "trello", "board_id": BOARD},
            "fields": FIELDS,
            "status_field": None,
        },
        {
            "id": "airtable-trello",
            "lead": {"system": "airtable", "base_id": BASE, "table": "Leads", "archived_field": "Archived"},
            "card": {"system": "trello", "board_id": "6a" * 12},
            "fields": FIELDS,
            "status_field": None,
        },
    ]
}


def _trello_sign(body: str, url: str) -> str:
    message = bytes([ord(c) & 0xFF for c in body + url])
    return base64.b64encode(hmac.new(APP_SECRET.encode(), message, hashlib.sha1).digest()).decode()


def _notion_sign(body: str, token: str = NOTION_TOKEN) -> str:
    return "sha256=" + hmac.new(token.encode(), body.encode(), hashlib.sha256).hexdigest()


def _airtable_sign(body: str, secret: str = MAC_SECRET) -> str:
    return "hmac-sha256=" + hmac.new(base64.b64decode(secret), body.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="pairs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        create_table(boto3.client("dynamodb"), "state")
        sm = boto3.client("secretsmanager")
        creds = {"trello_app_secret": APP_SECRET, "airtable_webhook_secrets": {HOOK: MAC_SECRET}}
        secret = sm.create_secret(Name=f"creds-{tmp_path.name}", SecretString=json.dumps(creds))["ARN"]
        handshake = sm.create_secret(Name=f"notion-hook-{tmp_path.name}", SecretString="{}")["ARN"]
        config = tmp_path / "pairs.json"
        config.write_text(json.dumps(PAIRS))
        env = {
            "LEADSYNC_CONFIG_FILE": str(config),
            "LEADSYNC_QUEUE_URL": queue,
            "LEADSYNC_TABLE": "state",
            "LEADSYNC_SECRET_ARN": secret,
            "LEADSYNC_WEBHOOK_HANDSHAKE_SECRET_ARN": handshake,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from handlers import webhook

        webhook._receiver.cache_clear()
        yield {"sqs": sqs, "queue": queue, "sm": sm, "handshake": handshake, "handler": webhook.handler}
        webhook._receiver.cache_clear()


def _event(system: str, body: str, headers: dict[str, str], pair: str | None = None, method: str = "POST") -> Any:
    event = copy.deepcopy(json.loads((EVENTS / "webhook-trello.json").read_text()))
    path = f"/webhooks/{system}" + (f"/{pair}" if pair else "")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} /webhooks/{system}" + (
        "/{pair}" if pair else ""
    )
    event["pathParameters"] = {"pair": pair} if pair else {}
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "x-trello-webhook"} | headers
    event["headers"]["content-length"] = str(len(body.encode()))
    event["body"] = body
    return event


def _url(event: dict[str, Any]) -> str:
    return f"https://{event['requestContext']['domainName']}{event['rawPath']}"


def _trello_event(body: str | None = None, pair: str = "notion-trello", signed: bool = True) -> Any:
    body = body if body is not None else json.loads((EVENTS / "webhook-trello.json").read_text())["body"]
    event = _event("trello", body, {}, pair)
    if signed:
        event["headers"]["x-trello-webhook"] = _trello_sign(body, _url(event))
    return event


def _trello_body(action: str = "67c2f5a10f1e2d3c4b5a6978", model: str = BOARD) -> str:
    return json.dumps({"action": {"id": action, "type": "updateCard"}, "model": {"id": model}})


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record with its extra fields, as one text."""
    return "\n".join(str(vars(record)) for record in caplog.records)


def _call(cloud: dict[str, Any], event: Any) -> dict[str, Any]:
    return cloud["handler"](event, FakeLambdaContext(function_name="leadsync-WebhookFunction"))


def _queued(cloud: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages on the queue, taken off it (as a worker that ran them would)."""
    out = cloud["sqs"].receive_message(QueueUrl=cloud["queue"], MaxNumberOfMessages=10, AttributeNames=["All"])
    for m in out.get("Messages", []):
        cloud["sqs"].delete_message(QueueUrl=cloud["queue"], ReceiptHandle=m["ReceiptHandle"])
    return [{**json.loads(m["Body"]), "group": m["Attributes"]["MessageGroupId"]} for m in out.get("Messages", [])]


def test_the_sample_trello_event_signed_with_the_app_secret_enqueues_one_hint(cloud: dict[str, Any]) -> None:
    answer = _call(cloud, _trello_event())
    assert (answer["statusCode"], answer["body"]) == (200, "")
    [message] = _queued(cloud)
    assert (message["pair"], message["group"], message["hint"]) == ("notion-trello", "notion-trello", "trello")
    from leadsync.fanout import PairMessage

    assert PairMessage.parse(json.dumps(message)).pair == "notion-trello"  # the worker reads it as any pair message


def test_trello_head_check_at_registration_is_answered_200_for_a_pair_with_a_board_only(cloud: dict[str, Any]) -> None:
    assert _call(cloud, _event("trello", "", {}, "notion-trello", method="HEAD"))["statusCode"] == 200
    assert _call(cloud, _event("trello", "", {}, "no-such-pair", method="HEAD"))["statusCode"] == 404
    assert _queued(cloud) == []


def test_a_burst_of_fifty_events_is_one_pending_hint_and_an_event_after_its_cycle_starts_gets_another(
    cloud: dict[str, Any],
) -> None:
    from leadsync.webhooks.hints import gate_for

    for i in range(50):
        assert _call(cloud, _trello_event(_trello_body(action=f"{i:024x}")))["statusCode"] == 200
    [pending] = _queued(cloud)  # the other 49 are covered by its cycle, which has not started
    assert pending["pair"] == "notion-trello"

    gate_for("state").close("notion-trello")  # what the worker does before its cycle reads
    assert _call(cloud, _trello_event(_trello_body(action="f" * 24)))["statusCode"] == 200
    assert [m["pair"] for m in _queued(cloud)] == ["notion-trello"]


@pytest.mark.parametrize(
    ("event_of", "status"),
    [
        (lambda: _trello_event(signed=False), 401),  # no signature
        (lambda: {**_trello_event(), "headers": {**_trello_event()["headers"], "x-trello-webhook": "AAAA"}}, 403),
        (lambda: {**_trello_event(), "body": _trello_event()["body"].replace("updateCard", "deleteCard")}, 403),
        (lambda: _trello_event(pair="no-such-pair"), 404),  # signed for that URL, but no such pair
        (lambda: _trello_event(_trello_body(model="ab" * 12)), 422),  # another board
        (lambda: _trello_event(_trello_body(action="../../1/boards")), 422),  # not a Trello id
        (lambda: _trello_event("{not json"), 400),
        (lambda: _trello_event("[1, 2]"), 400),
        (lambda: _trello_event(" " * (MAX_BODY_BYTES + 1)), 413),
        (lambda: _event("trello", "", {}, "notion-trello", method="GET"), 405),
        (lambda: _event("slack", "{}", {}, "notion-trello"), 404),
        (lambda: {"rawPath": "/webhooks/trello/x"}, 400),  # not an HTTP API event
    ],
    ids=[
        "missing",
        "wrong",
        "body-changed",
        "unknown-pair",
        "other-model",
        "bad-id",
        "json",
        "array",
        "huge",
        "get",
        "route",
        "shape",
    ],
)
def test_bad_trello_requests_get_their_4xx_and_enqueue_nothing(
    cloud: dict[str, Any], caplog: pytest.LogCaptureFixture, event_of: Any, status: int
) -> None:
    event = event_of()
    answer = _call(cloud, event)
    assert answer["statusCode"] == status
    assert _queued(cloud) == []
    logged = _logged(caplog)
    assert f"'status': {status}" in logged
    assert APP_SECRET not in logged
    assert MAC_SECRET not in logged
    assert "updateCard" not in logged  # nothing of the body


def test_a_replayed_trello_event_is_refused_with_409_and_enqueues_nothing_more(
    cloud: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    event = _trello_event()
    assert _call(cloud, event)["statusCode"] == 200
    assert len(_queued(cloud)) == 1
    # 409, never 410 (Trello deletes a webhook answered 410); tests/e2e/test_webhooks.py shows the
    # sender's retries of a refused duplicate do not disable the webhook
    answer = _call(cloud, copy.deepcopy(event))
    assert answer["statusCode"] == 409
    assert json.loads(answer["body"]) == {"error": "duplicate: event already received, nothing enqueued", "status": 409}
    assert _queued(cloud) == []
    logged = _logged(caplog)
    assert "duplicate: event already received" in logged
    assert APP_SECRET not in logged  # no secret ...
    assert "updateCard" not in logged  # ... and nothing of the body


def test_the_replay_guard_survives_a_new_container(cloud: dict[str, Any]) -> None:
    from handlers import webhook

    assert _call(cloud, _trello_event())["statusCode"] == 200
    webhook._receiver.cache_clear()  # a cold start: only DynamoDB remembers
    assert _queued(cloud) != []
    assert _call(cloud, _trello_event())["statusCode"] == 409
    assert _queued(cloud) == []


def _airtable_event(body: str | None = None, secret: str = MAC_SECRET, pair: str = "airtable-trello") -> Any:
    ping = {"base": {"id": BASE}, "webhook": {"id": HOOK}, "timestamp": "2026-01-01T12:00:00.000Z"}
    body = body if body is not None else json.dumps(ping)
    return _event("airtable", body, {"x-airtable-content-mac": _airtable_sign(body, secret)}, pair)


def test_a_signed_airtable_ping_hints_its_pair_with_an_empty_200(cloud: dict[str, Any]) -> None:
    answer = _call(cloud, _airtable_event())
    assert (answer["statusCode"], answer["body"]) == (200, "")
    assert [(m["pair"], m["hint"]) for m in _queued(cloud)] == [("airtable-trello", "airtable")]
    assert _call(cloud, _airtable_event())["statusCode"] == 409  # the same ping again: a replay
    assert _queued(cloud) == []


@pytest.mark.parametrize(
    ("event_of", "status"),
    [
        (lambda: _airtable_event(secret=base64.b64encode(b"\x08" * 32).decode()), 403),
        (lambda: {**_airtable_event(), "headers": {"host": "x"}}, 401),
        (lambda: _airtable_event(pair="notion-trello"), 404),  # a pair without an Airtable side
        (
            lambda: _airtable_event(
                json.dumps(
                    {
                        "base": {"id": "appZZZZZZZZZZZZZZ"},
                        "webhook": {"id": HOOK},
                        "timestamp": "2026-01-01T12:00:00.000Z",
                    }
                )
            ),
            422,
        ),
        (
            lambda: _airtable_event(
                json.dumps(
                    {
                        "base": {"id": BASE},
                        "webhook": {"id": "achCCCCCCCCCCCCCC"},
                        "timestamp": "2026-01-01T12:00:00.000Z",
                    }
                )
            ),
            403,
        ),  # not that hook's MAC
        (lambda: _airtable_event("null"), 400),
    ],
    ids=["wrong-mac", "missing", "wrong-pair", "other-base", "other-webhook", "json"],
)
def test_bad_airtable_pings_get_their_4xx(cloud: dict[str, Any], event_of: Any, status: int) -> None:
    assert _call(cloud, event_of())["statusCode"] == status
    assert _queued(cloud) == []


def _notion_body(parent: str = DATABASE, event_id: str = "9d2f7c4e-1111-4c3b-8a55-0c7e2b9d4f10") -> str:
    return json.dumps(
        {
            "id": event_id,
            "timestamp": "2026-01-01T12:00:00.000Z",
            "type": "page.properties_updated",
            "entity": {"id": "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5", "type": "page"},
            "data": {"parent": {"id": parent, "type": "database"}, "updated_properties": ["title"]},
        }
    )


def test_notion_handshake_stores_the_token_once_without_logging_it_then_signed_events_hint(
    cloud: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    handshake = json.dumps({"verification_token": NOTION_TOKEN})
    assert _call(cloud, _event("notion", handshake, {}))["statusCode"] == 200
    stored = json.loads(cloud["sm"].get_secret_value(SecretId=cloud["handshake"])["SecretString"])
    assert stored == {"notion_verification_token": NOTION_TOKEN}
    # a second (forged) handshake cannot replace it
    forged = json.dumps({"verification_token": "secret_attackerChosenToken01"})
    assert _call(cloud, _event("notion", forged, {}))["statusCode"] == 409
    assert json.loads(cloud["sm"].get_secret_value(SecretId=cloud["handshake"])["SecretString"]) == stored
    logged = _logged(caplog)
    assert "token_sha256_prefix" in logged
    assert NOTION_TOKEN not in logged

    body = _notion_body()
    assert _call(cloud, _event("notion", body, {"x-notion-signature": _notion_sign(body)}))["statusCode"] == 200
    assert [(m["pair"], m["hint"]) for m in _queued(cloud)] == [("notion-trello", "notion")]
    assert _call(cloud, _event("notion", body, {"x-notion-signature": _notion_sign(body)}))["statusCode"] == 409
    assert _queued(cloud) == []  # a replay: refused, nothing enqueued

    other = _notion_body(parent="ffffffff-2f1d-4d86-a9b1-0b8a3b7a9d11", event_id="9d2f7c4e-2222-4c3b-8a55-0c7e2b9d4f10")
    assert _call(cloud, _event("notion", other, {"x-notion-signature": _notion_sign(other)}))["statusCode"] == 200
    assert _queued(cloud) == []  # a page of no synced database: acknowledged, no hint
    forged_sig = _notion_sign(body, "secret_attackerChosenToken01")
    assert _call(cloud, _event("notion", body, {"x-notion-signature": forged_sig}))["statusCode"] == 403


def test_notion_event_before_any_handshake_is_refused_as_unconfigured(cloud: dict[str, Any]) -> None:
    body = _notion_body()
    assert _call(cloud, _event("notion", body, {"x-notion-signature": _notion_sign(body)}))["statusCode"] == 503
    assert _call(cloud, _event("notion", body, {}))["statusCode"] == 401  # unsigned and not a handshake
    assert _queued(cloud) == []


def test_the_sample_event_is_signed_with_the_sandbox_app_secret_for_its_own_url() -> None:
    from leadsync.webhooks.verify import verify_trello
    from sandbox.trello import TrelloEmulator

    event = json.loads((EVENTS / "webhook-trello.json").read_text())
    url = f"https://{event['requestContext']['domainName']}{event['rawPath']}"
    assert verify_trello(event["body"].encode(), event["headers"]["x-trello-webhook"], url, TrelloEmulator.app_secret)
