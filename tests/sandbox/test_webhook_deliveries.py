"""The emulators' webhooks. Trello: creation with the HEAD check, signed deliveries of every action on
the model, retries, disabling after failures, 410 deleting, the drop/duplicate/reorder switch. Notion:
the unsigned handshake, then signed thin events once the subscription is verified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from sandbox.server import ServerThread
from sandbox.trello import TrelloEmulator

AUTH = {"key": "k" * 32, "token": "ATTA-token"}


class Receiver:
    """A callback URL that records what it gets and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []
        self._server = ServerThread(self._app)
        self.url = f"http://127.0.0.1:{self._server.port}/hook?pair=p1"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.get_data(), dict(request.headers)))
        return Response("", status=self.status)(environ, start_response)

    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(body) for method, body, _ in self.calls if method == "POST"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r._server.stop()


@pytest.fixture
def board(trello: TrelloEmulator) -> str:
    trello.deliverer.retry_delay_s = 0.0
    return trello.create_board("Leads", ["To Do", "Done"])


def _create(trello: TrelloEmulator, url: str, model: str) -> requests.Response:
    return requests.post(f"{trello.url}/webhooks", params=AUTH, json={"callbackURL": url, "idModel": model}, timeout=5)


def _sign(body: bytes, url: str, secret: str) -> str:
    """api-notes §2.7, for an ASCII body: base64(HMAC-SHA1(secret, body + callbackURL))."""
    return base64.b64encode(hmac.new(secret.encode(), body + url.encode(), hashlib.sha1).digest()).decode()


def test_creation_checks_the_callback_with_head_and_refuses_a_duplicate(
    trello: TrelloEmulator, board: str, receiver: Receiver
) -> None:
    made = _create(trello, receiver.url, board)
    assert made.status_code == 200
    assert made.json()["active"] is True
    assert [m for m, _, _ in receiver.calls] == ["HEAD"]
    again = _create(trello, receiver.url, board)
    assert (again.status_code, again.text) == (400, "A webhook with that callback, model, and token already exists")
    receiver.status = 404
    refused = _create(trello, receiver.url.replace("p1", "p2"), board)
    assert refused.status_code == 400
    assert "did not return 200" in refused.text
    listed = requests.get(f"{trello.url}/tokens/{AUTH['token']}/webhooks", params=AUTH, timeout=5).json()
    assert [h["id"] for h in listed] == [made.json()["id"]]
    mine = requests.get(f"{trello.url}/members/me/tokens", params={**AUTH, "webhooks": "true"}, timeout=5).json()
    assert [h["id"] for h in mine[0]["webhooks"]] == [made.json()["id"]]
    other = requests.delete(f"{trello.url}/webhooks/{made.json()['id']}", params={**AUTH, "token": "other"}, timeout=5)
    assert other.status_code == 401


def test_every_action_on_the_board_is_posted_signed_with_the_app_secret(
    trello: TrelloEmulator, board: str, receiver: Receiver
) -> None:
    _create(trello, receiver.url, board)
    card = trello.user_create_card(trello.list_id(board, "To Do"), "Acme")
    trello.user_move_card(card, trello.list_id(board, "Done"))
    assert trello.deliverer.wait_idle()

    posts = [(body, headers) for method, body, headers in receiver.calls if method == "POST"]
    assert [json.loads(b)["action"]["type"] for b, _ in posts] == ["createCard", "updateCard"]
    for body, headers in posts:
        assert headers["X-Trello-Webhook"] == _sign(body, receiver.url, trello.app_secret)
        assert json.loads(body)["model"]["id"] == board


def test_failed_deliveries_are_retried_then_disable_the_webhook_and_410_deletes_it(
    trello: TrelloEmulator, board: str, receiver: Receiver
) -> None:
    hook = _create(trello, receiver.url, board).json()
    receiver.status = 500
    for name in ("a", "b", "c"):
        trello.user_create_card(trello.list_id(board, "To Do"), name)
    assert trello.deliverer.wait_idle()
    assert len(receiver.posts()) == 3 * (1 + trello.deliverer.retries)
    state = trello.webhooks[hook["id"]]
    assert (state["active"], state["consecutiveFailures"]) == (False, 3)
    assert state["firstConsecutiveFailDate"] is not None
    trello.user_create_card(trello.list_id(board, "To Do"), "d")
    assert trello.deliverer.wait_idle()
    assert len(receiver.posts()) == 12, "an inactive webhook gets nothing"

    requests.put(f"{trello.url}/webhooks/{hook['id']}", params={**AUTH, "active": "true"}, timeout=5)
    receiver.status = 410
    trello.user_create_card(trello.list_id(board, "To Do"), "e")
    assert trello.deliverer.wait_idle()
    assert trello.webhooks == {}


def test_the_switch_drops_duplicates_and_reorders_deliveries(
    trello: TrelloEmulator, board: str, receiver: Receiver
) -> None:
    _create(trello, receiver.url, board)
    todo = trello.list_id(board, "To Do")
    trello.deliverer.configure(duplicate=1.0)
    trello.user_create_card(todo, "twice")
    assert trello.deliverer.wait_idle()
    assert [p["action"]["data"]["card"]["name"] for p in receiver.posts()] == ["twice", "twice"]

    receiver.calls.clear()
    trello.deliverer.configure(drop=1.0)
    trello.user_create_card(todo, "lost")
    assert trello.deliverer.wait_idle()
    assert receiver.posts() == []

    trello.deliverer.configure(delay_s=0.3, reorder=True, seed=3)
    names = [f"c{i}" for i in range(8)]
    for name in names:
        trello.user_create_card(todo, name)
    assert trello.deliverer.wait_idle()
    got = [p["action"]["data"]["card"]["name"] for p in receiver.posts()]
    assert sorted(got) == sorted(names)
    assert got != names


def test_notion_sends_the_handshake_unsigned_then_signed_thin_events_once_verified(
    notion: Any, receiver: Receiver
) -> None:
    from sandbox.notion_webhooks import notion_signature

    _db, ds = notion.create_database("Leads", {"Name": "title", "Status": "rich_text"})
    sub = notion.create_subscription(receiver.url)
    assert notion.deliverer.wait_idle()
    [(_, handshake, headers)] = receiver.calls
    token = json.loads(handshake)["verification_token"]
    assert token.startswith("secret_")
    assert "X-Notion-Signature" not in headers

    notion.user_create_page(ds, {"Name": "before verify"})
    assert notion.deliverer.wait_idle()
    assert len(receiver.calls) == 1
    assert not notion.verify_subscription(sub, "secret_wrong")
    assert notion.verify_subscription(sub, token)

    page = notion.user_create_page(ds, {"Name": "Ada"})
    notion.user_update_page(page, {"Status": "Won"})
    notion.user_trash_page(page)
    assert notion.deliverer.wait_idle()
    events = [(json.loads(body), h) for _, body, h in receiver.calls[1:]]
    assert [e["type"] for e, _ in events] == ["page.created", "page.properties_updated", "page.deleted"]
    for event, headers in events:
        assert headers["X-Notion-Signature"] == notion_signature(json.dumps(event).encode(), token)
        assert event["entity"] == {"id": page, "type": "page"}
        assert event["data"]["parent"]["data_source_id"] == ds
        assert event["authors"][0]["type"] == "person"
        assert "properties" not in event  # signals only: the values are fetched
    assert len(events[1][0]["data"]["updated_properties"]) == 1


def test_airtable_pings_signed_with_the_mac_secret_and_serves_payloads_from_the_cursor(
    airtable: Any, airtable_base: str, receiver: Receiver
) -> None:
    from sandbox.airtable_webhooks import airtable_mac

    hooks = f"{airtable.url}/v0/bases/{airtable_base}/webhooks"
    auth = {"Authorization": "Bearer pat.test"}
    spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
    made = requests.post(hooks, headers=auth, json={"notificationUrl": receiver.url, "specification": spec}, timeout=5)
    assert made.status_code == 200
    hook = made.json()
    assert hook["id"].startswith("ach")
    assert "macSecretBase64" not in json.dumps(requests.get(hooks, headers=auth, timeout=5).json())  # shown once

    rec = airtable.user_create_record(airtable_base, "Leads", {"Name": "Ada"})
    airtable.user_update_record(airtable_base, "Leads", rec, {"Email": "ada@example.com"})
    requests.delete(f"{airtable.url}/v0/{airtable_base}/Leads/{rec}", headers=auth, timeout=5)
    assert airtable.deliverer.wait_idle()
    pings = [(body, headers) for method, body, headers in receiver.calls if method == "POST"]
    assert len(pings) == 3
    for body, headers in pings:
        assert headers["X-Airtable-Content-Mac"] == airtable_mac(body, hook["macSecretBase64"])
        assert set(json.loads(body)) == {"base", "webhook", "timestamp"}  # no record data in a ping

    page = requests.get(f"{hooks}/{hook['id']}/payloads", headers=auth, params={"limit": 2}, timeout=5).json()
    assert (len(page["payloads"]), page["cursor"], page["mightHaveMore"]) == (2, 3, True)
    assert [p["actionMetadata"]["source"] for p in page["payloads"]] == ["client", "client"]
    rest = requests.get(f"{hooks}/{hook['id']}/payloads", headers=auth, params={"cursor": 3}, timeout=5).json()
    [(_table, change)] = rest["payloads"][0]["changedTablesById"].items()
    assert change == {"destroyedRecordIds": [rec]}
    assert rest["payloads"][0]["actionMetadata"]["source"] == "publicApi"
    assert (rest["cursor"], rest["mightHaveMore"]) == (4, False)

    airtable.clock.advance(8 * 24 * 3600)  # past the 7-day lifetime: no more pings
    airtable.user_create_record(airtable_base, "Leads", {"Name": "Late"})
    assert airtable.deliverer.wait_idle()
    assert len([c for c in receiver.calls if c[0] == "POST"]) == 3
    refreshed = requests.post(f"{hooks}/{hook['id']}/refresh", headers=auth, timeout=5)
    assert refreshed.status_code == 200
    airtable.user_create_record(airtable_base, "Leads", {"Name": "Again"})
    assert airtable.deliverer.wait_idle()
    assert len([c for c in receiver.calls if c[0] == "POST"]) == 4
    # payloads are kept a week: from cursor 1, only the new one is left; it keeps its number (4)
    kept = requests.get(f"{hooks}/{hook['id']}/payloads", headers=auth, params={"cursor": 1}, timeout=5).json()
    assert [next(iter(p["changedTablesById"].values())).keys() for p in kept["payloads"]] == [{"createdRecordsById"}]
    assert (kept["cursor"], kept["mightHaveMore"]) == (5, False)
    listed = requests.get(hooks, headers=auth, timeout=5).json()["webhooks"]
    assert [h["cursorForNextPayload"] for h in listed] == [5]
