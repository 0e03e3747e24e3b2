"""The official py-trello client works against the Trello emulator for every call leadsync makes."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable, Unauthorized

from sandbox.trello import TrelloEmulator

KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "ATTA" + "ab" * 36


class Redirect(requests.Session):
    """py-trello hard-codes https://api.trello.com/1: send its requests to the emulator instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.pop("proxies", None)
        return super().request(method, url.replace("https://api.trello.com/1", self.base_url), *args, **kwargs)


@pytest.fixture(params=["query", "oauth1"])
def client(request: pytest.FixtureRequest, trello: TrelloEmulator) -> TrelloClient:
    """Both auth forms: key+token query params, and the OAuth1-signed header py-trello sends for `token=`."""
    if request.param == "query":
        return TrelloClient(api_key=KEY, api_secret=TOKEN, http_service=Redirect(trello.url))
    return TrelloClient(api_key=KEY, api_secret="app-secret", token=TOKEN, http_service=Redirect(trello.url))


@pytest.fixture
def board_id(trello: TrelloEmulator) -> str:
    return trello.create_board("Leads", ["To Do", "In Progress", "Done", "Lost"])


def test_get_board_and_lists(client: TrelloClient, board_id: str) -> None:
    board = client.get_board(board_id)
    assert board.name == "Leads"
    assert [lst.name for lst in board.list_lists("open")] == ["To Do", "In Progress", "Done", "Lost"]


def test_add_card_then_edit_move_archive_and_delete(
    client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    board = client.get_board(board_id)
    todo, done = board.get_list(trello.list_id(board_id, "To Do")), board.get_list(trello.list_id(board_id, "Done"))
    card = todo.add_card("Ada Lovelace", desc="lead: ada@example.com")
    assert card.idList == todo.id
    assert card.idShort == 1
    card.set_name("Ada L.")
    card.set_description("new desc")
    card.change_list(done.id)
    card.set_closed(True)
    fetched = client.get_card(card.id)
    assert (fetched.name, fetched.desc, fetched.idList, fetched.closed) == ("Ada L.", "new desc", done.id, True)
    assert board.open_cards() == []
    assert [c.id for c in board.all_cards()] == [card.id]
    card.delete()
    assert trello.card(card.id) is None
    with pytest.raises(ResourceUnavailable):
        client.get_card(card.id)


def test_add_list_creates_an_open_list(client: TrelloClient, trello: TrelloEmulator, board_id: str) -> None:
    new_list = client.get_board(board_id).add_list("Won")
    assert trello.list_id(board_id, "Won") == new_list.id


def test_fetch_actions_lists_card_changes_newest_first(
    client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    card_id = trello.user_create_card(trello.list_id(board_id, "To Do"), "Grace")
    trello.user_move_card(card_id, trello.list_id(board_id, "Done"))
    actions = client.get_board(board_id).fetch_actions("createCard,updateCard,deleteCard", action_limit=10)
    assert [a["type"] for a in actions] == ["updateCard", "createCard"]
    move = actions[0]["data"]
    assert move["listBefore"]["name"] == "To Do"
    assert move["listAfter"]["name"] == "Done"
    assert move["old"] == {"idList": trello.list_id(board_id, "To Do")}


def test_wrong_token_raises_unauthorized(trello: TrelloEmulator, board_id: str) -> None:
    trello.require_token(TOKEN)
    client = TrelloClient(api_key=KEY, api_secret="not-the-token", http_service=Redirect(trello.url))
    with pytest.raises(Unauthorized, match="invalid token"):
        client.get_board(board_id)
