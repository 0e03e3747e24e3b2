"""The Trello card description format: the user's free text, then a block leadsync manages.

```
Anything the user wrote, kept as is on every write.

**leadsync**
Email: ada@example.com
Source: Web form
leadsync-id: 8a3c…            <- the link marker (the lead's id)
```

The block starts at the last line that is exactly ``**leadsync**`` (surrounding spaces
ignored) and runs to the end. Each managed value is one line ``<Label>: <value>``; the link
marker is the line ``<link_label>: <id>``. Rules, chosen so that parse and render round-trip:

- The free text is everything before the block with trailing whitespace removed.
- Values are single lines: a value with line breaks is **flattened** (its lines joined with one
  space) when written, so ``"a\\nb"`` reads back as ``"a b"``. The sync then carries the flat
  value back to the other side once and is stable after that.
- An empty value (``None``, ``""``, or only line breaks) is written as no line at all and reads
  back as ``None``.
- Lines in the block that are not ``Label: value`` are dropped on the next write: the block is
  machine-managed.
- Labels are non-empty, have no ``:`` or line break and no surrounding spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MARKER = "**leadsync**"
SEPARATOR = ": "


@dataclass(frozen=True)
class Description:
    """A parsed card description."""

    text: str
    values: dict[str, str] = field(default_factory=dict)  # label -> value, in block order
    link: str | None = None


def check_label(label: str) -> None:
    """Raise ``ValueError`` unless ``label`` can be a managed line's label."""
    if not label or label != label.strip() or ":" in label or len(label.splitlines()) != 1:
        raise ValueError(
            f"invalid description label {label!r}: it must be non-empty, one line, "
            "without ':' and without surrounding spaces"
        )
    if label == MARKER:
        raise ValueError(f"description label may not be the block marker {MARKER!r}")


def flatten(value: str | None) -> str | None:
    """One line (line breaks become single spaces); ``None`` for an empty value."""
    if value is None:
        return None
    flat = " ".join(value.splitlines())
    return flat or None


def _block_start(lines: list[str]) -> int | None:
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip() == MARKER:
            return index
    return None


def parse(desc: str | None, link_label: str) -> Description:
    """Split a description into free text, managed values and the link marker."""
    lines = (desc or "").split("\n")
    start = _block_start(lines)
    if start is None:
        return Description((desc or "").rstrip())
    values: dict[str, str] = {}
    link: str | None = None
    for raw in lines[start + 1 :]:
        label, sep, value = raw.rstrip("\r").partition(SEPARATOR)
        if not sep:
            label, sep, value = raw.rstrip("\r").rstrip().partition(":")
        label = label.strip()
        if not sep or not label or not value:
            continue
        if label == link_label:
            link = value
        else:
            values[label] = value
    return Description("\n".join(lines[:start]).rstrip(), values, link)


def render(text: str | None, values: Mapping[str, str | None], link: str | None, link_label: str) -> str:
    """The description for this free text, these managed values (in order) and link marker."""
    body = (text or "").rstrip()
    lines = [f"{label}{SEPARATOR}{flat}" for label, value in values.items() if (flat := flatten(value))]
    if (flat_link := flatten(link)) is not None:
        lines.append(f"{link_label}{SEPARATOR}{flat_link}")
    if not lines:
        return body
    block = "\n".join([MARKER, *lines])
    return f"{body}\n\n{block}" if body else block


def apply(
    desc: str | None,
    link_label: str,
    *,
    text: str | None = None,
    set_text: bool = False,
    values: Mapping[str, str | None] | None = None,
    link: str | None = None,
    set_link: bool = False,
) -> str:
    """``desc`` with some parts replaced, the rest (free text, other labels, link) kept.

    New labels go after the existing ones; a value set to ``None`` removes its line.
    """
    current = parse(desc, link_label)
    merged: dict[str, str | None] = dict(current.values)
    merged.update(values or {})
    return render(
        text if set_text else current.text,
        merged,
        link if set_link else current.link,
        link_label,
    )
