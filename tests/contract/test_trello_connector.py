"""Trello-specific behaviour over HTTP: the actions feed, lists by name, request economy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from leadsync.connectors import trello
from leadsync.connectors.ratelimit import Limit
from leadsync.errors import ConfigError, RecordError
from sandbox import Sandbox

FIELDS = ["name", "list", "desc", "desc:Email"]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.start(only=("trello",)) as sandbox:
        yield sandbox


@pytest.fixture
def board(sb: Sandbox) -> str:
    sb.trello.faults.clear()
    sb.trello.clear_requests()
    return str(sb.trello.create_board("Leads", ["New", "Won"]))


class Recorder:
    """Captures what the connector sent (method, path, JSON body)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.auth: list[str] = []
        self.urls: list[str] = []
        self.session = requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        path = response.request.path_url.split("?")[0]
        self.sent.append((str(response.request.method), path, json.loads(body) if body else None))
        self.auth.append(str(response.request.headers.get("Authorization")))
        self.urls.append(str(response.request.url))


def connector(sb: Sandbox, board: str, rec: Recorder | None = None, **kw: Any) -> trello.TrelloConnector:
    transport = trello.trello_transport(
        "k" * 32,
        uuid.uuid4().hex,
        base_url=sb.trello.url,
        limit=Limit(500, 500),
        session=(rec or Recorder()).session,
    )
    return trello.TrelloConnector(transport, board_id=board, fields=kw.pop("fields", FIELDS), **kw)


def test_no_board_activity_costs_one_request(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    sb.trello.user_create_card(sb.trello.list_id(board, "New"), "Ada")
    cursor = c.fetch_changed(None).cursor
    sb.trello.clear_requests()
    result = c.fetch_changed(cursor)
    assert result.records == []
    assert result.cursor == cursor
    assert sb.trello.requests == [("GET", f"/1/boards/{board}/actions")]


def test_a_few_changes_are_read_card_by_card(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    new = sb.trello.list_id(board, "New")
    a = sb.trello.user_create_card(new, "A")
    cursor = c.fetch_changed(None).cursor
    sb.trello.user_move_card(a, sb.trello.list_id(board, "Won"))
    b = sb.trello.user_create_card(new, "B")
    sb.trello.clear_requests()
    result = c.fetch_changed(cursor)
    assert {r.id: r.fields["list"] for r in result.records} == {a: "Won", b: "New"}
    assert sb.trello.request_count("GET", "/1/cards/") == 2
    assert sb.trello.request_count("GET", f"/1/boards/{board}/cards") == 0


@pytest.mark.parametrize("shape", ["per_field", "combined"])
@pytest.mark.parametrize("threshold", [50, 1], ids=["card-by-card", "board-listing"])
def test_a_multi_field_edit_reads_the_same_record_whichever_action_shape_trello_records(
    sb: Sandbox, board: str, shape: str, threshold: int
) -> None:
    """Trello does not document one updateCard per field or one for all (docs/sandbox.md): the
    connector reads the card itself, so both shapes give one record with every new value."""
    c = connector(sb, board, full_fetch_threshold=threshold)
    new, won = sb.trello.list_id(board, "New"), sb.trello.list_id(board, "Won")
    card = sb.trello.user_create_card(new, "Ada", "**leadsync**\nEmail: ada@old.example")
    cursor = c.fetch_changed(None).cursor
    sb.trello.multi_field_actions = shape
    try:
        sb.trello.user_update_card(card, name="Ada L.", desc="**leadsync**\nEmail: ada@new.example")
        sb.trello.user_move_card(card, won)
    finally:
        sb.trello.multi_field_actions = "per_field"
    records = c.fetch_changed(cursor).records
    assert [(r.id, r.fields["name"], r.fields["list"], r.fields["desc:Email"]) for r in records] == [
        (card, "Ada L.", "Won", "ada@new.example")
    ]


def test_many_changes_are_read_with_one_board_listing(sb: Sandbox, board: str) -> None:
    c = connector(sb, board, full_fetch_threshold=2)
    new = sb.trello.list_id(board, "New")
    cursor = c.fetch_changed(None).cursor
    ids = [sb.trello.user_create_card(new, f"C{i}") for i in range(4)]
    sb.trello.user_delete_card(ids[0])
    sb.trello.user_archive_card(ids[1])
    sb.trello.clear_requests()
    records = {r.id: r for r in c.fetch_changed(cursor).records}
    assert set(records) == set(ids)
    assert records[ids[0]].deleted
    assert records[ids[0]].fields == {}
    assert records[ids[1]].deleted
    assert not records[ids[2]].deleted
    assert sb.trello.request_count("GET", "/1/cards/") == 0
    assert sb.trello.request_count("GET", f"/1/boards/{board}/cards/all") == 1


def test_the_actions_feed_is_paged_with_before(sb: Sandbox, board: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trello, "ACTIONS_PAGE", 2)
    c = connector(sb, board, full_fetch_threshold=100)
    cursor = c.fetch_changed(None).cursor
    new = sb.trello.list_id(board, "New")
    ids = [sb.trello.user_create_card(new, f"C{i}") for i in range(5)]
    result = c.fetch_changed(cursor)
    assert {r.id for r in result.records} == set(ids)
    assert result.cursor == sb.trello.actions(board)[0]["id"]
    assert sb.trello.request_count("GET", f"/1/boards/{board}/actions") == 1 + 3  # initial + pages of 2, 2, 1


def test_a_card_deleted_by_action_is_not_fetched(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    card = sb.trello.user_create_card(sb.trello.list_id(board, "New"), "Gone")
    cursor = c.fetch_changed(None).cursor
    sb.trello.user_delete_card(card)
    sb.trello.clear_requests()
    (record,) = c.fetch_changed(cursor).records
    assert record.id == card
    assert record.deleted
    assert sb.trello.request_count("GET", "/1/cards/") == 0


def test_update_puts_only_the_attributes_that_change_and_reads_only_for_the_description(
    sb: Sandbox, board: str
) -> None:
    rec = Recorder()
    c = connector(sb, board, rec)
    card = c.create({"name": "Ada", "list": "New", "desc": "notes", "desc:Email": "a@b.c"}, "lead-1")
    rec.sent.clear()
    c.update(card.id, {"list": "Won"})
    assert [(m, p) for m, p, _ in rec.sent] == [("PUT", f"/1/cards/{card.id}")]
    assert rec.sent[0][2] == {"idList": sb.trello.list_id(board, "Won")}
    rec.sent.clear()
    c.update(card.id, {"desc:Email": "new@b.c", "name": "Ada"})
    assert [(m, p) for m, p, _ in rec.sent] == [("GET", f"/1/cards/{card.id}"), ("PUT", f"/1/cards/{card.id}")]
    assert rec.sent[1][2] == {"desc": "notes\n\n**leadsync**\nEmail: new@b.c\nleadsync-id: lead-1"}


def test_credentials_travel_in_the_oauth_header(sb: Sandbox, board: str) -> None:
    rec = Recorder()
    c = connector(sb, board, rec)
    c.fetch_changed(None)
    assert rec.auth
    assert all(a.startswith(f'OAuth oauth_consumer_key="{"k" * 32}", oauth_token="') for a in rec.auth)
    assert not any("token=" in url or "key=" in url for url in rec.urls)


def test_creating_in_a_missing_list_names_the_boards_lists(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    with pytest.raises(RecordError, match=r"no open list 'Lost'; its lists: 'New', 'Won'"):
        c.create({"name": "Ada", "list": "Lost"}, "lead-1")
    with pytest.raises(RecordError, match="needs a list"):
        c.create({"name": "Ada"}, "lead-2")


def test_a_list_added_on_the_board_is_found_after_a_refresh(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    c.describe()  # lists cached
    sb.trello._add_list(board, "Lost", "bottom", sb.trello.user_member["id"])
    card = c.create({"name": "Ada", "list": "Lost"}, "lead-1")
    assert card.fields["list"] == "Lost"


def test_a_card_moved_to_another_board_is_not_found_for_the_pair(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    other = sb.trello.create_board("Other", ["Inbox"])
    card = c.create({"name": "Ada", "list": "New"}, "lead-1")
    sb.trello._cards[card.id].board_id = other
    assert c.get(card.id) is None  # the engine confirms a linked card gone, and never reads its values


def test_find_by_link_prefers_an_open_card_over_an_archived_one(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    old = c.create({"name": "Ada", "list": "New"}, "lead-1")
    c.archive(old.id)
    live = c.create({"name": "Ada", "list": "New"}, "lead-1")
    assert c.find_by_link("lead-1").id == live.id  # type: ignore[union-attr]
    c.archive(live.id)
    assert c.find_by_link("lead-1").deleted  # type: ignore[union-attr]


@pytest.mark.parametrize("fields", [["title"], ["desc:"], ["desc:a:b"], ["desc:leadsync-id"]])
def test_bad_field_names_are_config_errors(sb: Sandbox, board: str, fields: list[str]) -> None:
    with pytest.raises(ConfigError):
        connector(sb, board, fields=fields)


def test_user_free_text_survives_every_write(sb: Sandbox, board: str) -> None:
    c = connector(sb, board)
    card = c.create({"name": "Ada", "list": "New", "desc:Email": "a@b.c"}, "lead-1")
    sb.trello.user_update_card(card.id, desc="Typed by Ada.\n\n" + sb.trello.card(card.id)["desc"])
    c.update(card.id, {"desc:Email": "z@b.c"})
    c.set_link(card.id, "lead-2")
    desc = sb.trello.card(card.id)["desc"]
    assert desc == "Typed by Ada.\n\n**leadsync**\nEmail: z@b.c\nleadsync-id: lead-2"


def test_a_card_of_another_board_is_never_relinked_or_rewritten(sb: Sandbox, board: str) -> None:
    """A marker naming a card of another board (one the token can also see): ``get`` finds nothing
    for the pair, and the writes that read the card first refuse it."""
    rec = Recorder()
    c = connector(sb, board, rec)
    other = sb.trello.create_board("Other", ["Inbox"])
    foreign = sb.trello.user_create_card(sb.trello.list_id(other, "Inbox"), "Not ours", "their text")
    before = sb.trello.card(foreign)

    assert c.get(foreign) is None
    with pytest.raises(RecordError, match="refused foreign link"):
        c.set_link(foreign, "lead-1")
    with pytest.raises(RecordError, match="refused foreign link"):
        c.update(foreign, {"desc": "overwritten", "name": "Taken"})

    assert [m for m, _, _ in rec.sent if m != "GET"] == []
    assert sb.trello.card(foreign) == before


def test_ids_are_normalized_and_sent_in_their_canonical_form(sb: Sandbox, board: str) -> None:
    rec = Recorder()
    c = connector(sb, board, rec)
    card = c.create({"name": "Ada", "list": "New"}, None)
    assert c.normalize_id(card.id.upper()) == card.id
    got = c.get(card.id.upper())
    assert got is not None
    assert got.id == card.id
    assert rec.sent[-1][1].endswith(f"/cards/{card.id}")


def test_with_read_labels_cards_carry_their_labels_and_label_changes_count(sb: Sandbox, board: str) -> None:
    sync = sb.trello.user_create_label(board, "Sync", "green")
    card = sb.trello.user_create_card(sb.trello.list_id(board, "New"), "Ada")
    plain = connector(sb, board)
    assert plain.fetch_all().records[0].tags is None, "labels are only read when a rule needs them"
    labelled = connector(sb, board, read_labels=True)
    cursor = labelled.fetch_changed(None).cursor
    assert labelled.fetch_all().records[0].tags == frozenset()
    sb.trello.user_label_card(card, sync)
    assert plain.fetch_changed(cursor).records == [], "without read_labels a label change is not a card change"
    (changed,) = labelled.fetch_changed(cursor).records
    assert changed.tags == {f"label:{sync}", "label-name:sync"}
    assert labelled.board_labels() == [{"id": sync, "name": "Sync", "color": "green"}]


def test_cards_created_under_a_label_rule_carry_the_label(sb: Sandbox, board: str) -> None:
    sync = sb.trello.user_create_label(board, "Sync", "green")
    made = connector(sb, board, read_labels=True)
    made.label_new_cards = "SYNC"
    record = made.create({"name": "Ada", "list": "New"}, None)
    assert sb.trello.card(record.id)["idLabels"] == [sync]
    assert record.tags is not None
    assert "label-name:sync" in record.tags
    made.label_new_cards = "Synced"
    with pytest.raises(RecordError, match=r"rules.card.label 'Synced' is not a label of the board \(labels: 'Sync'\)"):
        made.create({"name": "Bob", "list": "New"}, None)
