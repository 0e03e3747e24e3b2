"""The Trello description format: free text kept, managed block parsed and rendered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.connectors.trello_desc import MARKER, Description, apply, check_label, flatten, parse, render

LINK = "leadsync-id"


def test_a_description_without_block_is_all_free_text() -> None:
    assert parse("Call back on Monday.\n\n", LINK) == Description("Call back on Monday.")


def test_render_appends_the_block_after_the_free_text() -> None:
    desc = render("Met at the fair.", {"Email": "ada@example.com", "Source": None}, "lead-1", LINK)
    assert desc == "Met at the fair.\n\n**leadsync**\nEmail: ada@example.com\nleadsync-id: lead-1"


def test_render_without_values_or_link_writes_no_block() -> None:
    assert render("notes", {"Email": None}, None, LINK) == "notes"
    assert render("", {}, None, LINK) == ""


def test_block_alone_when_there_is_no_free_text() -> None:
    assert render(None, {"Email": "a@b.c"}, None, LINK) == "**leadsync**\nEmail: a@b.c"


def test_parse_reads_values_link_and_text() -> None:
    desc = "Hello\n**bold** line\n\n**leadsync**\nEmail: a@b.c\nPhone: +1 555: ext 2\nleadsync-id: L9"
    assert parse(desc, LINK) == Description("Hello\n**bold** line", {"Email": "a@b.c", "Phone": "+1 555: ext 2"}, "L9")


def test_the_last_marker_line_starts_the_block() -> None:
    desc = f"quote:\n{MARKER}\nnot managed\n\n{MARKER}\nEmail: x@y.z"
    parsed = parse(desc, LINK)
    assert parsed.text == f"quote:\n{MARKER}\nnot managed"
    assert parsed.values == {"Email": "x@y.z"}


def test_lines_typed_by_hand_in_the_block_are_read_leniently() -> None:
    desc = f"{MARKER}\r\n  Email:a@b.c\r\nrandom words\nSource:\nleadsync-id: L1\r"
    assert parse(desc, LINK) == Description("", {"Email": "a@b.c"}, "L1")


def test_apply_keeps_the_users_text_and_other_labels() -> None:
    desc = "Ring twice.\n\n**leadsync**\nEmail: old@x.y\nSource: Web\nleadsync-id: L1"
    updated = apply(desc, LINK, values={"Email": "new@x.y", "Phone": "123", "Source": None})
    assert updated == "Ring twice.\n\n**leadsync**\nEmail: new@x.y\nPhone: 123\nleadsync-id: L1"


def test_apply_can_replace_the_free_text_or_the_link_alone() -> None:
    desc = "old text\n\n**leadsync**\nEmail: a@b.c\nleadsync-id: L1"
    assert apply(desc, LINK, text="new text", set_text=True) == desc.replace("old text", "new text")
    assert apply(desc, LINK, link="L2", set_link=True).endswith("leadsync-id: L2")
    assert apply(desc, LINK, link=None, set_link=True) == "old text\n\n**leadsync**\nEmail: a@b.c"


def test_multiline_values_are_flattened_to_one_line() -> None:
    assert flatten("first\nsecond\r\nthird") == "first second third"
    assert flatten("\n") is None
    desc = render("", {"Notes": "a\nb"}, None, LINK)
    assert parse(desc, LINK).values == {"Notes": "a b"}


@pytest.mark.parametrize("label", ["", " Email", "E:mail", "two\nlines", MARKER])
def test_bad_labels_are_rejected(label: str) -> None:
    with pytest.raises(ValueError, match="label"):
        check_label(label)


def test_good_labels_pass() -> None:
    check_label("Email address")
    check_label("Téléphone 📞")


# -- round trips -------------------------------------------------------------------------------

labels = st.text(min_size=1, max_size=12).filter(lambda s: _valid_label(s) and s != LINK)
values = st.one_of(st.none(), st.text(max_size=40))
free_text = st.text(max_size=200).filter(lambda t: all(line.strip() != MARKER for line in t.split("\n")))


def _valid_label(label: str) -> bool:
    try:
        check_label(label)
    except ValueError:
        return False
    return True


def _norm(value: str | None) -> str | None:
    return flatten(value)


@given(free_text, st.dictionaries(labels, values, max_size=5), values)
def test_parse_inverts_render(text: str, vals: dict[str, str | None], link: str | None) -> None:
    parsed = parse(render(text, vals, link, LINK), LINK)
    assert parsed.text == text.rstrip()
    assert parsed.values == {k: f for k, v in vals.items() if (f := _norm(v)) is not None}
    assert parsed.link == _norm(link)


@given(free_text, st.dictionaries(labels, values, max_size=5), values)
def test_render_of_a_parse_is_a_fixed_point(text: str, vals: dict[str, str | None], link: str | None) -> None:
    once = render(text, vals, link, LINK)
    parsed = parse(once, LINK)
    assert render(parsed.text, parsed.values, parsed.link, LINK) == once


@given(free_text, st.dictionaries(labels, values, max_size=3), labels, values)
def test_updating_one_value_changes_nothing_else(
    text: str, vals: dict[str, str | None], label: str, value: str | None
) -> None:
    before = parse(render(text, vals, "L1", LINK), LINK)
    after = parse(apply(render(text, vals, "L1", LINK), LINK, values={label: value}), LINK)
    assert after.text == before.text
    assert after.link == "L1"
    assert after.values.get(label) == _norm(value)
    assert {k: v for k, v in after.values.items() if k != label} == {
        k: v for k, v in before.values.items() if k != label
    }
