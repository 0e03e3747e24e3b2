"""Direct HTTP checks of the Trello emulator: auth forms, params, errors, actions feed, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox.trello import TrelloEmulator

AUTH = {"key": "k" * 32, "token": "ATTA-token"}


def call(trello: TrelloEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    params = {**AUTH, **kwargs.pop("params", {})}
    return requests.request(method, trello.url + path, params=params, timeout=5, **kwargs)


@pytest.fixture
def board(trello: TrelloEmulator) -> str:
    return trello.create_board("Leads", ["To Do", "Done"])


def test_missing_key_or_token_is_401_plain_text(trello: TrelloEmulator, board: str) -> None:
    no_key = requests.get(f"{trello.url}/boards/{board}", params={"token": "t"}, timeout=5)
    assert (no_key.status_code, no_key.text) == (401, "invalid key")
    no_token = requests.get(f"{trello.url}/boards/{board}", params={"key": "k"}, timeout=5)
    assert (no_token.status_code, no_token.text) == (401, "invalid token")


def test_oauth_header_form_is_accepted(trello: TrelloEmulator, board: str) -> None:
    trello.require_token("tok")
    header = {"Authorization": 'OAuth oauth_consumer_key="key", oauth_token="tok"'}
    assert requests.get(f"{trello.url}/boards/{board}", headers=header, timeout=5).status_code == 200
    wrong = {"Authorization": 'OAuth oauth_consumer_key="key", oauth_token="other"'}
    assert requests.get(f"{trello.url}/boards/{board}", headers=wrong, timeout=5).status_code == 401


def test_registered_keys_and_tokens_refuse_unknown_ones_like_trello(trello: TrelloEmulator, board: str) -> None:
    trello.require_key("k" * 32)
    trello.require_token("tok")
    url = f"{trello.url}/boards/{board}"
    good = requests.get(url, params={"key": "k" * 32, "token": "tok"}, timeout=5)
    assert good.status_code == 200
    for params, text in (
        ({"key": "x" * 32, "token": "tok"}, "invalid key"),
        ({"key": "k" * 32, "token": "t"}, "invalid token"),
    ):
        refused = requests.get(url, params=params, timeout=5)
        assert (refused.status_code, refused.text) == (401, text)
        assert refused.headers["Content-Type"].startswith("text/plain")
        oauth = {"Authorization": f'OAuth oauth_consumer_key="{params["key"]}", oauth_token="{params["token"]}"'}
        assert (requests.get(url, headers=oauth, timeout=5).text, text) == (text, text)
    trello.reset()  # registrations are test state: cleared with the data
    assert requests.get(url, params={"key": "x", "token": "y"}, timeout=5).status_code == 404


@pytest.mark.parametrize("where", ["params", "json", "data"])
def test_create_card_accepts_query_json_and_form_params(trello: TrelloEmulator, board: str, where: str) -> None:
    fields = {"idList": trello.list_id(board, "To Do"), "name": "Ada", "desc": "d"}
    response = call(trello, "POST", "/cards", **{where: fields})
    card = response.json()
    assert response.status_code == 200
    assert (card["name"], card["desc"], card["idBoard"], card["closed"]) == ("Ada", "d", board, False)
    assert len(card["id"]) == 24
    assert card["shortUrl"] == f"https://trello.com/c/{card['shortLink']}"
    assert datetime.strptime(card["dateLastActivity"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_create_card_validation_errors_are_plain_text(trello: TrelloEmulator, board: str) -> None:
    missing_list = call(trello, "POST", "/cards", json={"name": "x"})
    assert (missing_list.status_code, missing_list.text) == (400, "invalid value for idList")
    too_long = call(trello, "POST", "/cards", json={"idList": trello.list_id(board, "To Do"), "desc": "x" * 16385})
    assert (too_long.status_code, too_long.text) == (400, "invalid value for desc")


def test_bad_and_unknown_ids(trello: TrelloEmulator) -> None:
    bad = call(trello, "GET", "/cards/nope")
    assert (bad.status_code, bad.text) == (400, "invalid id")
    unknown = call(trello, "GET", "/cards/" + "0" * 24)
    assert (unknown.status_code, unknown.text) == (404, "The requested resource was not found.")


def test_card_alias_path_and_fields_param(trello: TrelloEmulator, board: str) -> None:
    card_id = trello.user_create_card(trello.list_id(board, "To Do"), "Ada")
    card = call(trello, "GET", f"/card/{card_id}", params={"fields": "name,idList"}).json()
    assert card == {"id": card_id, "name": "Ada", "idList": trello.list_id(board, "To Do")}


def test_board_card_filters_and_list_filters(trello: TrelloEmulator, board: str) -> None:
    todo = trello.list_id(board, "To Do")
    open_id, closed_id = trello.user_create_card(todo, "open"), trello.user_create_card(todo, "closed")
    trello.user_archive_card(closed_id)
    assert [c["id"] for c in call(trello, "GET", f"/boards/{board}/cards").json()] == [open_id]
    assert [c["id"] for c in call(trello, "GET", f"/boards/{board}/cards/closed").json()] == [closed_id]
    assert len(call(trello, "GET", f"/boards/{board}/cards/all").json()) == 2
    assert [c["id"] for c in call(trello, "GET", f"/lists/{todo}/cards").json()] == [open_id]
    assert len(call(trello, "GET", f"/boards/{board}/lists", params={"filter": "all"}).json()) == 2


def test_put_with_several_fields_records_one_update_action_per_field(trello: TrelloEmulator, board: str) -> None:
    todo, done = trello.list_id(board, "To Do"), trello.list_id(board, "Done")
    card_id = trello.user_create_card(todo, "Ada", "old desc")
    card = call(
        trello, "PUT", f"/cards/{card_id}", json={"name": "Ada L", "desc": "new", "idList": done, "closed": True}
    ).json()
    assert (card["name"], card["desc"], card["idList"], card["closed"]) == ("Ada L", "new", done, True)
    updates = call(trello, "GET", f"/boards/{board}/actions", params={"filter": "updateCard"}).json()
    olds = [a["data"]["old"] for a in reversed(updates)]
    assert olds == [{"name": "Ada"}, {"desc": "old desc"}, {"idList": todo}, {"closed": False}]
    assert updates[0]["data"]["card"]["closed"] is True
    assert updates[0]["idMemberCreator"] == trello.api_member["id"]


def test_delete_card_leaves_only_a_delete_action(trello: TrelloEmulator, board: str) -> None:
    card_id = trello.user_create_card(trello.list_id(board, "To Do"), "Ada")
    assert call(trello, "DELETE", f"/cards/{card_id}").json() == {"limits": {}}
    assert call(trello, "GET", f"/cards/{card_id}").status_code == 404
    latest = call(trello, "GET", f"/boards/{board}/actions", params={"limit": 1}).json()[0]
    assert latest["type"] == "deleteCard"
    assert latest["data"]["card"]["id"] == card_id


def test_action_ids_increase_and_encode_their_creation_second(trello: TrelloEmulator, board: str) -> None:
    todo = trello.list_id(board, "To Do")
    for i in range(3):
        trello.user_create_card(todo, f"c{i}")
    actions = call(trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard"}).json()
    ids = [a["id"] for a in actions]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3
    for action in actions:
        created = datetime.strptime(action["date"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert int(action["id"][:8], 16) == int(created.timestamp())


def test_actions_since_before_limit_and_page(trello: TrelloEmulator, board: str) -> None:
    todo = trello.list_id(board, "To Do")
    ids = [trello.user_create_card(todo, f"c{i}") for i in range(4)]
    actions = call(trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard"}).json()
    oldest_first = list(reversed([a["id"] for a in actions]))
    since = call(
        trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard", "since": oldest_first[1]}
    ).json()
    assert [a["data"]["card"]["id"] for a in since] == [ids[3], ids[2]]
    before = call(
        trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard", "before": oldest_first[2]}
    ).json()
    assert [a["data"]["card"]["id"] for a in before] == [ids[1], ids[0]]
    page1 = call(
        trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard", "limit": 3, "page": 1}
    ).json()
    assert [a["data"]["card"]["id"] for a in page1] == [ids[0]]
    trello.clock.advance(5)
    trello.user_create_card(todo, "later")
    trello.clock.advance(1)
    after_date = trello.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    trello.clock.advance(1)
    newest = trello.user_create_card(todo, "newest")
    by_date = call(
        trello, "GET", f"/boards/{board}/actions", params={"filter": "createCard", "since": after_date}
    ).json()
    assert [a["data"]["card"]["id"] for a in by_date] == [newest]


def test_action_limit_outside_0_to_1000_is_rejected(trello: TrelloEmulator, board: str) -> None:
    response = call(trello, "GET", f"/boards/{board}/actions", params={"limit": 1001})
    assert (response.status_code, response.text) == (400, "invalid value for limit")


def test_rate_limit_headers_on_every_response_and_429_json_when_exceeded(trello: TrelloEmulator, board: str) -> None:
    trello.rate_limit(token_max=3)
    first = call(trello, "GET", f"/boards/{board}")
    assert first.headers["x-rate-limit-api-token-max"] == "3"
    assert first.headers["x-rate-limit-api-token-remaining"] == "2"
    assert first.headers["x-rate-limit-api-token-interval-ms"] == "10000"
    assert first.headers["x-rate-limit-api-key-max"] == "300"
    call(trello, "GET", f"/boards/{board}")
    call(trello, "GET", f"/boards/{board}")
    limited = call(trello, "GET", f"/boards/{board}")
    assert limited.status_code == 429
    assert limited.json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert limited.headers["x-rate-limit-api-token-remaining"] == "0"
    trello.clock.advance(10)
    assert call(trello, "GET", f"/boards/{board}").status_code == 200


def test_rate_limit_time_scale_shortens_the_window_and_says_so(trello: TrelloEmulator, board: str) -> None:
    trello.rate_limit(token_max=1, time_scale=10)
    assert call(trello, "GET", f"/boards/{board}").headers["x-sandbox-time-scale"] == "10.0"
    assert call(trello, "GET", f"/boards/{board}").status_code == 429
    trello.clock.advance(1)  # one real second is a whole 10 s window at time_scale=10
    assert call(trello, "GET", f"/boards/{board}").status_code == 200


@pytest.mark.parametrize("shape", ["per_field", "combined"])
def test_a_multi_field_put_records_updatecard_actions_in_either_shape(
    trello: TrelloEmulator, board: str, shape: str
) -> None:
    """Trello does not document whether a multi-field PUT records one action or one per field
    (docs/sandbox.md); both shapes name the card, and `data.old` holds exactly the old values."""
    todo, done = trello.list_id(board, "To Do"), trello.list_id(board, "Done")
    card_id = trello.user_create_card(todo, "Ada", "old desc")
    trello.multi_field_actions = shape
    try:
        put = call(trello, "PUT", f"/cards/{card_id}", json={"name": "Ada L.", "desc": "new", "idList": done})
        assert put.status_code == 200
    finally:
        trello.multi_field_actions = "per_field"
    actions = call(trello, "GET", f"/boards/{board}/actions", params={"filter": "updateCard"}).json()
    assert {a["data"]["card"]["id"] for a in actions} == {card_id}
    olds = [a["data"]["old"] for a in actions]
    merged = {k: v for old in olds for k, v in old.items()}
    assert merged == {"name": "Ada", "desc": "old desc", "idList": todo}
    if shape == "per_field":
        assert sorted(len(old) for old in olds) == [1, 1, 1]
    else:
        assert len(actions) == 1
        data = actions[0]["data"]
        assert (data["card"]["name"], data["card"]["desc"], data["card"]["idList"]) == ("Ada L.", "new", done)
        assert (data["listBefore"]["id"], data["listAfter"]["id"]) == (todo, done)
