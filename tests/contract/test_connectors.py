"""The connector contract: one body per behaviour, run against every connector over HTTP.

Add a system by adding a harness in `connector_fixtures.py`.
"""

from __future__ import annotations

import pytest

from leadsync.core.models import Record
from leadsync.errors import ApiError, NotFound, RecordError
from tests.contract.connector_fixtures import (  # noqa: F401 - fixtures used by name
    Harness,
    connector_sandbox_fixture,
    harness_fixture,
)

UNICODE = "Zoë Ñúñez 🚀👩🏽‍💻 — שלום עולם — مرحبا — 漢字"


def by_id(records: list[Record]) -> dict[str, Record]:
    return {r.id: r for r in records}


def test_create_then_get_round_trips_values_and_link(harness: Harness) -> None:
    created = harness.connector.create(harness.sample, "lead-123")
    assert created.fields == harness.sample
    assert created.link == "lead-123"
    assert not created.deleted
    got = harness.connector.get(created.id)
    assert got is not None
    assert got.fields == harness.sample
    assert got.link == "lead-123"
    assert got.updated_at is not None
    assert harness.user.values(created.id) == harness.sample


def test_update_changes_only_the_given_fields(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    updated = harness.connector.update(record.id, harness.edit)
    expected = {**harness.sample, **harness.edit}
    assert updated.fields == expected
    assert updated.link == "lead-1"
    assert harness.user.values(record.id) == expected


def test_update_keeps_out_of_band_edits_to_other_fields(harness: Harness) -> None:
    text = harness.text_field
    other = next(k for k in harness.edit if k != text)
    record = harness.connector.create(harness.sample, "lead-1")
    harness.user.edit(record.id, {text: "typed by a person"})
    harness.connector.update(record.id, {other: harness.edit[other]})
    values = harness.user.values(record.id)
    assert values is not None
    assert values[text] == "typed by a person"
    assert values[other] == harness.edit[other]


def test_full_fetch_lists_every_live_record_and_gives_a_cursor(harness: Harness) -> None:
    ids = [harness.user.create(harness.sample) for _ in range(2)]
    ids.append(harness.connector.create(harness.sample, "lead-9").id)
    archived = harness.connector.create(harness.sample, "lead-10").id
    harness.connector.archive(archived)
    result = harness.connector.fetch_changed(None)
    assert result.complete
    assert result.cursor is not None
    assert set(by_id(result.records)) == set(ids)
    assert by_id(result.records)[ids[2]].link == "lead-9"
    everything = harness.connector.fetch_all()
    assert everything.complete
    assert set(by_id(everything.records)) == set(ids)


def test_incremental_fetch_returns_a_user_edit(harness: Harness) -> None:
    a = harness.user.create(harness.sample)
    b = harness.user.create(harness.sample)
    first = harness.connector.fetch_changed(None)
    before = by_id(first.records)
    harness.settle()
    harness.user.edit(a, harness.edit)
    second = harness.connector.fetch_changed(first.cursor)
    changed = by_id(second.records)
    assert not second.complete
    assert changed[a].fields == {**harness.sample, **harness.edit}
    if harness.exact_incremental:
        assert set(changed) == {a}
    elif b in changed:  # inside the overlap window: repeated, unchanged
        assert changed[b] == before[b]
    assert second.cursor is not None
    assert second.cursor >= first.cursor  # type: ignore[operator]


def test_incremental_fetch_without_edits_returns_nothing_new(harness: Harness) -> None:
    harness.user.create(harness.sample)
    first = harness.connector.fetch_changed(None)
    harness.emulator.clear_requests()
    again = harness.connector.fetch_changed(first.cursor)
    latest = by_id(first.records)
    assert all(latest.get(r.id) == r for r in again.records)
    assert again.cursor is not None
    assert again.cursor >= first.cursor  # type: ignore[operator]  # moves with the server's clock only
    if harness.exact_incremental:
        assert again.records == []
        assert len(harness.emulator.requests) == 1


def test_archive_reads_as_deleted_and_leaves_listings(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    harness.connector.archive(record.id)
    got = harness.connector.get(record.id)
    assert got is not None
    assert got.deleted
    assert record.id not in by_id(harness.connector.fetch_all().records)
    harness.connector.archive(record.id)  # archiving twice is harmless


def test_a_record_archived_by_the_user_reads_as_deleted(harness: Harness) -> None:
    record_id = harness.user.create(harness.sample)
    harness.user.archive(record_id)
    got = harness.connector.get(record_id)
    assert got is not None
    assert got.deleted


def test_a_hard_deleted_record_reads_as_none_and_incremental_fetch_reports_it(harness: Harness) -> None:
    record_id = harness.user.create(harness.sample)
    cursor = harness.connector.fetch_changed(None).cursor
    harness.user.hard_delete(record_id)
    assert harness.connector.get(record_id) is None
    changed = by_id(harness.connector.fetch_changed(cursor).records)
    assert changed[record_id].deleted


def test_get_of_an_unknown_id_is_none(harness: Harness) -> None:
    assert harness.connector.get(harness.missing_id) is None


def test_update_of_an_unknown_id_raises_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.connector.update(harness.missing_id, harness.edit)


def test_find_by_link_finds_the_linked_record_only(harness: Harness) -> None:
    harness.connector.create(harness.sample, "lead-other")
    mine = harness.connector.create(harness.sample, "lead-mine")
    found = harness.connector.find_by_link("lead-mine")
    assert found is not None
    assert found.id == mine.id
    assert harness.connector.find_by_link("lead-nobody") is None


def test_set_link_rewrites_and_clears_the_marker(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, None)
    assert harness.connector.get(record.id).link is None  # type: ignore[union-attr]
    harness.connector.set_link(record.id, "lead-7")
    got = harness.connector.get(record.id)
    assert got is not None
    assert got.link == "lead-7"
    assert got.fields == harness.sample
    harness.connector.set_link(record.id, None)
    assert harness.connector.get(record.id).link is None  # type: ignore[union-attr]


def test_unicode_emoji_and_rtl_values_round_trip(harness: Harness) -> None:
    fields = {**harness.sample, harness.text_field: UNICODE}
    record = harness.connector.create(fields, "lead-ü🚀")
    got = harness.connector.get(record.id)
    assert got is not None
    assert got.fields[harness.text_field] == UNICODE
    assert got.link == "lead-ü🚀"


def test_long_text_round_trips(harness: Harness) -> None:
    text = ("Lorem ipsum 🚀 dolor sit amet. " * 400)[: harness.long_text_length].strip()
    record = harness.connector.create({**harness.sample, harness.text_field: text}, "lead-long")
    got = harness.connector.get(record.id)
    assert got is not None
    assert got.fields[harness.text_field] == text


def test_429_with_retry_after_is_retried_and_succeeds(harness: Harness) -> None:
    harness.emulator.faults.retry_after = 1
    harness.emulator.faults.next("429", n=1)
    record = harness.connector.create(harness.sample, "lead-1")
    assert harness.connector.get(record.id) is not None
    assert harness.transport.stats.throttled == 1
    assert harness.transport.stats.retries == 1


def test_server_errors_are_retried(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    harness.emulator.faults.next("500", n=1)
    harness.emulator.faults.next("502", n=1)
    got = harness.connector.get(record.id)
    assert got is not None
    assert got.fields == harness.sample
    assert harness.transport.stats.retries == 2


def test_a_validation_error_is_an_api_error_naming_the_record(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    with pytest.raises(ApiError) as info:
        harness.connector.update(record.id, harness.invalid_update)
    assert info.value.status == 400
    assert record.id in str(info.value)
    assert harness.transport.stats.retries == 0


def test_a_value_the_system_cannot_hold_is_a_record_error_or_api_error(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    with pytest.raises((RecordError, ApiError)) as info:
        harness.connector.update(record.id, {harness.text_field: "x" * 300_000})
    assert record.id in str(info.value)


def test_describe_reports_the_fields_and_their_options(harness: Harness) -> None:
    schema = harness.connector.describe()
    for name in harness.sample:
        assert name in schema.fields
    options = [o for values in schema.options.values() for o in values]
    assert "Contacted" in options


def test_credentials_never_appear_in_urls_or_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    record = harness.connector.create(harness.sample, "lead-1")
    harness.emulator.faults.next("503", n=1)
    harness.connector.update(record.id, harness.edit)
    harness.connector.fetch_changed(None)
    harness.connector.find_by_link("lead-1")
    assert harness.urls
    assert "GET" in caplog.text
    logged_paths = [path for _, path in harness.emulator.requests]
    for secret in harness.secrets:
        assert not any(secret in url for url in harness.urls)
        assert not any(secret in path for path in logged_paths)
        assert secret not in caplog.text
    assert not any("token=" in url or "key=" in url for url in harness.urls)


# -- ids: validated where they enter, never sent malformed ----------------------------------------


def hostile_ids(valid: str) -> list[str]:
    """Values that must never be taken for a record id of the system ``valid`` is an id of."""
    return [
        "",
        "hello",
        "../../x",
        "%2e%2e",
        "%2E%2E%2F",
        "a/b",
        "a?b",
        "a#b",
        " ",
        "\t",
        f" {valid}",
        f"{valid} ",
        f"{valid}\n",
        f"{valid}/",
        f"{valid}?x=1",
        f"{valid}#x",
        f"{valid}%2F..",
        f"../{valid}",
        f"{valid}/../x",
        valid[:-1],
        valid + "0",
        "x" * 10_000,
    ]


def test_normalize_id_accepts_the_systems_ids_and_refuses_anything_else(harness: Harness) -> None:
    record = harness.connector.create(harness.sample, None)
    sent = len(harness.urls)
    normalize = harness.connector.normalize_id

    assert normalize(record.id) == record.id, "an id the system gave out is canonical"
    assert normalize(harness.missing_id) == harness.missing_id
    for bad in hostile_ids(record.id):
        assert normalize(bad) is None, bad
    assert len(harness.urls) == sent, "normalize_id sends nothing"


def test_a_malformed_id_is_a_record_error_and_sends_nothing(harness: Harness) -> None:
    connector = harness.connector
    record = connector.create(harness.sample, None)
    sent = len(harness.urls)
    link_of_the_other_side = "5f0000000000000000000001"

    for bad in hostile_ids(record.id):
        with pytest.raises(RecordError):
            connector.get(bad)
        with pytest.raises(RecordError):
            connector.update(bad, harness.edit)
        with pytest.raises(RecordError):
            connector.set_link(bad, link_of_the_other_side)
        with pytest.raises(RecordError):
            connector.archive(bad)
        set_links = getattr(connector, "set_links", None)
        if set_links is not None:
            failed = set_links([(bad, link_of_the_other_side)])
            assert list(failed) == [bad]
            assert isinstance(failed[bad], RecordError)

    assert harness.urls[sent:] == [], "no request was sent for a malformed id"
    assert harness.user.values(record.id) == harness.sample


@pytest.mark.parametrize("link", ["a b", "x'y", "a/b", "../../x", "a" * 65, "lead\n"])
def test_find_by_link_refuses_a_link_that_is_not_id_like_and_sends_nothing(harness: Harness, link: str) -> None:
    sent = len(harness.urls)
    with pytest.raises(RecordError):
        harness.connector.find_by_link(link)
    assert harness.urls[sent:] == []
