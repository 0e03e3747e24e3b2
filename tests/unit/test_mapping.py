"""Field and value mapping between native records and canonical fields."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.config import FieldConfig
from leadsync.core.mapping import Direction, FieldMapping, FieldSpec, normalize_text
from leadsync.core.models import Record, Side

STATUS = FieldSpec(
    "status", "Status", "list", to_card={"New": "To Do", "Contacted": "In Progress", "Qualified": "Done"}
)
MAPPING = FieldMapping((FieldSpec("name", "Name", "name"), STATUS, FieldSpec("email", "Email", "desc:Email")))


def read(side: Side, fields: dict[str, str | None], mapping: FieldMapping = MAPPING) -> tuple[dict, list[str]]:
    record, problems = mapping.to_canonical(side, Record("r1", fields))
    return record.fields, problems


def test_native_names_become_canonical_names_on_each_side() -> None:
    assert read(Side.LEAD, {"Name": "Ada", "Email": "ada@example.com"}) == (
        {"name": "Ada", "email": "ada@example.com"},
        [],
    )
    assert read(Side.CARD, {"name": "Ada", "desc:Email": "ada@example.com"}) == (
        {"name": "Ada", "email": "ada@example.com"},
        [],
    )


def test_card_list_is_read_as_the_lead_status() -> None:
    assert read(Side.CARD, {"list": "In Progress"}) == ({"status": "Contacted"}, [])


def test_lead_status_is_written_to_the_card_as_its_list() -> None:
    assert MAPPING.to_native(Side.CARD, {"status": "Qualified", "name": "Ada"}, "L1") == (
        {"list": "Done", "name": "Ada"},
        [],
    )
    assert MAPPING.to_native(Side.LEAD, {"status": "Qualified"}, "C1") == ({"Status": "Qualified"}, [])


def test_value_map_lookup_is_case_insensitive_both_ways() -> None:
    assert read(Side.CARD, {"list": "in progress"}) == ({"status": "Contacted"}, [])
    assert MAPPING.to_native(Side.CARD, {"status": "new"}, "L1") == ({"list": "To Do"}, [])
    assert read(Side.LEAD, {"Status": "qualified"}) == ({"status": "qualified"}, [])


def test_exact_match_beats_a_case_insensitive_one() -> None:
    spec = FieldSpec("s", "S", "list", to_card={"a": "Lower", "A": "Upper"})
    assert FieldMapping((spec,)).to_native(Side.CARD, {"s": "A"}, "x") == ({"list": "Upper"}, [])


def test_card_in_an_unmapped_list_is_reported_and_left_out() -> None:
    fields, problems = read(Side.CARD, {"name": "Ada", "list": "Backlog"})
    assert fields == {"name": "Ada"}
    assert len(problems) == 1
    assert "'Backlog'" in problems[0]
    assert "r1" in problems[0]


def test_lead_status_without_a_card_list_is_reported_and_left_out() -> None:
    fields, problems = read(Side.LEAD, {"Name": "Ada", "Status": "Dormant"})
    assert fields == {"name": "Ada"}
    assert len(problems) == 1
    assert "'Dormant'" in problems[0]


def test_unmapped_canonical_value_is_reported_and_not_written() -> None:
    native, problems = MAPPING.to_native(Side.CARD, {"status": "Dormant", "name": "Ada"}, "L1")
    assert native == {"name": "Ada"}
    assert len(problems) == 1
    assert "Dormant" in problems[0]


def test_empty_status_needs_no_mapping() -> None:
    assert read(Side.CARD, {"list": None}) == ({"status": None}, [])
    assert MAPPING.to_native(Side.CARD, {"status": None}, "L1") == ({"list": None}, [])


def test_absent_native_field_is_left_out_not_emptied() -> None:
    assert read(Side.LEAD, {"Name": "Ada"}) == ({"name": "Ada"}, [])


def test_values_are_normalised_so_reshaped_text_compares_equal() -> None:
    assert read(Side.LEAD, {"Name": "  Ada\r\nLovelace \n"}) == ({"name": "Ada\nLovelace"}, [])
    assert read(Side.LEAD, {"Name": "   "}) == ({"name": None}, [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), (" \n ", None), ("a\r\nb\rc", "a\nb\nc"), (" x ", "x"), ("in  side", "in  side")],
)
def test_normalize_text(raw: str | None, expected: str | None) -> None:
    assert normalize_text(raw) == expected
    assert normalize_text(normalize_text(raw)) == expected


@pytest.mark.parametrize(
    ("direction", "to_lead", "to_card"),
    [
        (Direction.BOTH, True, True),
        (Direction.LEAD_TO_CARD, False, True),
        (Direction.CARD_TO_LEAD, True, False),
    ],
)
def test_direction_says_where_a_field_may_be_written(direction: Direction, to_lead: bool, to_card: bool) -> None:
    assert direction.flows_to(Side.LEAD) is to_lead
    assert direction.flows_to(Side.CARD) is to_card


def test_marker_stamp_and_deleted_flag_survive_canonicalisation() -> None:
    native = Record("C1", {"name": "Ada"}, None, True, "L9")
    record, _ = MAPPING.to_canonical(Side.CARD, native)
    assert (record.id, record.deleted, record.link) == ("C1", True, "L9")


def test_unknown_canonical_field_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        MAPPING.to_native(Side.CARD, {"nope": "x"}, "L1")


# -- round trips (DESIGN.md §2: "value mappings must round-trip") -------------------------------

words = st.text(alphabet=string.ascii_letters + string.digits + " -", min_size=1, max_size=12).map(str.strip)
words = words.filter(bool)


@st.composite
def valid_value_maps(draw: st.DrawFn) -> FieldConfig:
    """A `values` map the config accepts: injective, or many-to-one with consistent reverse_values."""
    values = draw(st.dictionaries(words, words, min_size=1, max_size=6))
    image = sorted(set(values.values()))
    reverse = None
    if len(image) < len(values) or draw(st.booleans()):
        reverse = {card: draw(st.sampled_from(sorted(k for k, v in values.items() if v == card))) for card in image}
    return FieldConfig(lead="Status", card="list", values=values, reverse_values=reverse)


def _spec(cfg: FieldConfig) -> FieldMapping:
    return FieldMapping((FieldSpec("status", cfg.lead, cfg.card, to_card=cfg.values, to_lead=cfg.reverse_values),))


@settings(max_examples=300, deadline=None)
@given(valid_value_maps(), st.data())
def test_lead_value_mapped_to_the_card_and_back_lands_in_the_same_place(cfg: FieldConfig, data: st.DataObject) -> None:
    """lead -> card -> lead gives the lead value itself when the map is injective, and otherwise
    the status reverse_values names for that card place; either way mapping it again puts the
    card in the same place (so the sync never rewrites itself)."""
    assert cfg.values is not None
    mapping = _spec(cfg)
    lead_value = data.draw(st.sampled_from(sorted(cfg.values)))
    native, problems = mapping.to_native(Side.CARD, {"status": lead_value}, "L1")
    assert problems == []
    back, problems = read(Side.CARD, native, mapping)
    assert problems == []
    injective = len(set(cfg.values.values())) == len(cfg.values)
    if injective:
        assert back["status"] == lead_value
    again, _ = mapping.to_native(Side.CARD, back, "L1")
    assert again == native


@settings(max_examples=300, deadline=None)
@given(valid_value_maps(), st.data())
def test_card_value_mapped_to_the_lead_and_back_is_the_same_card_value(cfg: FieldConfig, data: st.DataObject) -> None:
    assert cfg.values is not None
    mapping = _spec(cfg)
    card_value = data.draw(st.sampled_from(sorted(set(cfg.values.values()))))
    canonical, problems = read(Side.CARD, {"list": card_value}, mapping)
    assert problems == []
    native, problems = mapping.to_native(Side.CARD, canonical, "C1")
    assert problems == []
    assert native == {"list": card_value}
