"""Airtable cell values <-> plain strings, and the adapter that waits out Airtable's 429 lockout."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from leadsync.connectors import airtable
from leadsync.connectors.http import Transport
from leadsync.errors import ConfigError


@pytest.mark.parametrize(
    ("ftype", "cell", "expected"),
    [
        ("singleLineText", "Ada", "Ada"),
        ("singleLineText", None, None),  # omitted by Airtable: empty, not deleted
        ("email", "a@b.example", "a@b.example"),
        ("singleSelect", "New", "New"),
        ("multipleSelects", ["Web", "Ads"], "Web, Ads"),
        ("number", 3.0, "3"),
        ("number", 2.5, "2.5"),
        ("currency", 12, "12"),
        ("checkbox", True, "true"),
        ("checkbox", None, "false"),  # an unticked box is omitted: it reads "false", never None
        ("date", "2025-01-02", "2025-01-02"),
        ("lastModifiedTime", "2025-01-02T03:04:05.678Z", "2025-01-02T03:04:05.678Z"),
        ("formula", {"specialValue": "NaN"}, None),
        ("formula", {"error": "#ERROR!"}, None),
        ("singleCollaborator", {"id": "usr1", "email": "a@b.example", "name": "Ada"}, "Ada"),
        ("multipleLookupValues", ["a", "", "b"], "a, b"),
    ],
)
def test_cells_read_as_plain_strings(ftype: str, cell: Any, expected: str | None) -> None:
    assert airtable.read_value(ftype, cell) == expected


@pytest.mark.parametrize(
    ("ftype", "value", "cell"),
    [
        ("singleLineText", "Ada", "Ada"),
        ("multilineText", "", None),
        ("email", None, None),
        ("singleSelect", "Won", "Won"),
        ("multipleSelects", "Web, Ads ,", ["Web", "Ads"]),
        ("number", "42", 42),
        ("number", "42.5", 42.5),
        ("number", "", None),
        ("checkbox", "true", True),
        ("checkbox", "No", False),
        ("checkbox", None, False),
        ("dateTime", "2025-01-02T03:04:05.000Z", "2025-01-02T03:04:05.000Z"),
    ],
)
def test_plain_strings_write_as_cells(ftype: str, value: str | None, cell: Any) -> None:
    assert airtable.write_value(ftype, value) == cell


@pytest.mark.parametrize(
    ("ftype", "value", "reason"),
    [
        ("number", "lots", "not a number"),
        ("number", "inf", "not a finite number"),
        ("checkbox", "maybe", "not a checkbox value"),
        ("multilineText", "x" * 100_001, "too long for Airtable"),
        ("formula", "1", "cannot be written"),
    ],
)
def test_values_a_field_cannot_hold_are_refused_with_the_reason(ftype: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        airtable.write_value(ftype, value)


def test_a_checkbox_round_trips_through_airtables_omission_of_false() -> None:
    for value in ("true", "false"):
        stored = airtable.write_value("checkbox", value)
        assert airtable.read_value("checkbox", stored or None) == value


class _Raw:
    """Enough of a urllib3 response for ``HTTPAdapter.build_response``."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self.reason = "x"


def _built(status: int, headers: dict[str, str]) -> requests.Response:
    request = requests.Request("GET", "https://api.airtable.com/v0/app/tbl").prepare()
    return airtable.PenaltyAdapter(30).build_response(request, _Raw(status, headers))


def test_a_429_without_retry_after_gets_the_penalty_as_retry_after() -> None:
    assert _built(429, {}).headers["Retry-After"] == "30"


def test_a_429_with_retry_after_and_other_statuses_are_left_alone() -> None:
    assert _built(429, {"Retry-After": "2"}).headers["Retry-After"] == "2"
    assert "Retry-After" not in _built(503, {}).headers


def test_the_penalty_adapter_is_mounted_for_the_airtable_base_url_only() -> None:
    session = requests.Session()
    transport = Transport("airtable", "https://api.airtable.com", auth_headers={}, session=session)
    airtable.supply_penalty(transport, 30)
    airtable.supply_penalty(transport, 30)
    assert isinstance(session.get_adapter("https://api.airtable.com/v0/app/tbl"), airtable.PenaltyAdapter)
    assert not isinstance(session.get_adapter("https://api.notion.com/v1/pages"), airtable.PenaltyAdapter)
    assert sum(isinstance(a, airtable.PenaltyAdapter) for a in session.adapters.values()) == 1


def test_field_names_used_in_formulas_are_checked_when_the_connector_is_built() -> None:
    transport = Transport("airtable", "https://api.airtable.com", auth_headers={}, session=requests.Session())
    with pytest.raises(ConfigError, match=r"link_field.*'}'"):
        airtable.AirtableConnector(transport, base_id="app" + "0" * 14, table="Leads", fields=[], link_field="a}b")
    with pytest.raises(ConfigError, match="archived_field"):
        airtable.AirtableConnector(
            transport, base_id="app" + "0" * 14, table="Leads", fields=[], archived_field="Gone}"
        )
