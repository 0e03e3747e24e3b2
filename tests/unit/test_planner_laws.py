"""The merge laws of DESIGN.md §2, checked by hypothesis over one linked lead/card pair.

Each example draws a pair config (per-field directions, a status -> list value map that may be
many-to-one with explicit reverse_values, a conflict policy and tie-breaker, a Notion or
Airtable lead side), a base snapshot, the lead's and the card's native values and their edit
stamps. The pair is planned and applied in `tests.support.world` (which bumps every written
record's stamp as the real systems do), then the laws are checked against an oracle written
from the design table, not from the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leadsync.config import PairConfig
from leadsync.core.mapping import Direction, FieldSpec
from leadsync.core.merge import ConflictPolicy
from leadsync.core.models import Record, Side, Value
from leadsync.core.operations import Plan, Update
from leadsync.core.planner import PlanConfig, plan
from tests.support.world import T0, World

LEAD_STATUSES = ["New", "Contacted", "Qualified", "Won", "Lost"]
LISTS = ["To Do", "Doing", "Done"]
TEXTS = [None, "", "a", "b", " b ", "c", "Line one\r\nline two"]
NATIVE = {"name": ("Name", "name"), "status": ("Status", "list"), "notes": ("Notes", "desc:Notes")}
SAME = object()  # "this side still holds the base value"
LAWS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Scenario:
    config: PairConfig
    base: dict[str, Value]
    lead: dict[str, Value]  # native names and values
    card: dict[str, Value]
    lead_at: datetime
    card_at: datetime
    lead_marked: bool
    card_marked: bool


@st.composite
def value_maps(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str] | None]:
    """A status -> list map; when two statuses share a list, reverse_values says which one it means."""
    statuses = draw(st.lists(st.sampled_from(LEAD_STATUSES), min_size=2, unique=True))
    values = {s: draw(st.sampled_from(LISTS)) for s in statuses}
    image = sorted(set(values.values()))
    if len(image) == len(values):
        return values, None
    reverse = {lst: draw(st.sampled_from(sorted(s for s, v in values.items() if v == lst))) for lst in image}
    return values, reverse


def _case(draw: st.DrawFn, value: str) -> str:
    return draw(st.sampled_from([value, value, value.lower(), value.upper()]))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    values, reverse = draw(value_maps())
    lead_system = draw(st.sampled_from(["notion", "airtable"]))
    lead_side = (
        {"system": "notion", "database_id": "d" * 32}
        if lead_system == "notion"
        else {"system": "airtable", "base_id": "app" + "A" * 14, "table": "Leads"}
    )
    fields = {}
    for name, (lead_native, card_native) in NATIVE.items():
        fields[name] = {"lead": lead_native, "card": card_native, "direction": draw(st.sampled_from(list(Direction)))}
    fields["status"].update(values=values, reverse_values=reverse)
    config = PairConfig.model_validate(
        {
            "id": "pair",
            "lead": lead_side,
            "card": {"system": "trello", "board_id": "b" * 24},
            "fields": fields,
            "skip_statuses": [],
            "conflict_policy": draw(st.sampled_from(list(ConflictPolicy))),
            "tie_breaker": draw(st.sampled_from(list(Side))),
        }
    )
    mapping = config.plan_config().mapping
    base: dict[str, Value] = {}
    lead: dict[str, Value] = {}
    card: dict[str, Value] = {}
    for name, (lead_native, card_native) in NATIVE.items():
        spec = mapping.spec(name)
        if name == "status":
            b = draw(st.sampled_from([SAME, None, *values]))  # SAME here: no base value
            lead_value = draw(st.sampled_from([SAME, None, *values]))
            card_value = draw(st.sampled_from([SAME, None, *values.values()]))
            lead_value = lead_value if lead_value in (SAME, None) else _case(draw, lead_value)
            card_value = card_value if card_value in (SAME, None) else _case(draw, card_value)
        else:
            b = draw(st.sampled_from([SAME, *TEXTS]))
            b = b if b is SAME else spec.normalize(b)
            lead_value = draw(st.sampled_from([SAME, *TEXTS]))
            card_value = draw(st.sampled_from([SAME, *TEXTS]))
        if b is not SAME:
            base[name] = b
        known = base.get(name)
        lead[lead_native] = known if lead_value is SAME else lead_value
        card[card_native] = on_card(spec, known) if card_value is SAME else card_value
    return Scenario(
        config,
        base,
        lead,
        card,
        T0 + timedelta(seconds=draw(st.integers(-300, 300))),
        T0 + timedelta(seconds=draw(st.integers(-300, 300)), microseconds=draw(st.integers(0, 999_999))),
        draw(st.booleans()),
        draw(st.booleans()),
    )


def on_card(spec: FieldSpec, value: Value) -> Value:
    """A canonical value as the card side stores it (value map applied, case-insensitively)."""
    if value is None or spec.to_card is None:
        return value
    folded = {k.casefold(): v for k, v in spec.to_card.items()}
    return spec.to_card.get(value, folded.get(value.casefold(), value))


def build(s: Scenario) -> tuple[World, PlanConfig]:
    cfg = s.config.plan_config()
    world = World(cfg, now=T0 + timedelta(minutes=30))
    world.put(
        Side.LEAD, "L1", s.lead, link="C1" if s.lead_marked else None, updated_at=world.stamp(Side.LEAD, s.lead_at)
    )
    world.put(Side.CARD, "C1", s.card, link="L1" if s.card_marked else None, updated_at=s.card_at)
    world.link("L1", "C1", s.base)
    return world, cfg


def expected_winner(s: Scenario, world: World, cfg: PlanConfig) -> Side:
    if cfg.policy is ConflictPolicy.LEAD:
        return Side.LEAD
    if cfg.policy is ConflictPolicy.CARD:
        return Side.CARD
    lead_at, card_at = world.stamp(Side.LEAD, s.lead_at), s.card_at  # as stored before the cycle
    lead_grain = cfg.granularity.get(Side.LEAD, timedelta(0))
    lead_latest_before_card = lead_at + lead_grain <= card_at if lead_grain else lead_at < card_at
    if lead_latest_before_card:
        return Side.CARD
    if card_at < lead_at:
        return Side.LEAD
    return cfg.tie


def written(the_plan: Plan, side: Side, name: str) -> bool:
    return any(isinstance(op, Update) and op.side is side and name in op.changes for op in the_plan.operations)


@dataclass
class Observed:
    """One field before and after a cycle, in canonical values."""

    base: Value | object
    lead: Value
    card: Value
    lead_after: Value
    card_after: Value
    base_after: Value | object


def run_cycle(s: Scenario) -> tuple[World, PlanConfig, Plan, dict[str, Observed]]:
    world, cfg = build(s)
    before = {side: world.view(side, rid) for side, rid in ((Side.LEAD, "L1"), (Side.CARD, "C1"))}
    the_plan = world.plan()
    world.apply(the_plan)
    lead_after, card_after = world.view(Side.LEAD, "L1"), world.view(Side.CARD, "C1")
    link = world.links["L1"]
    observed = {
        name: Observed(
            s.base.get(name, SAME),
            before[Side.LEAD].fields[name],
            before[Side.CARD].fields[name],
            lead_after.fields[name],
            card_after.fields[name],
            link.base.get(name, SAME),
        )
        for name in NATIVE
    }
    return world, cfg, the_plan, observed


@LAWS
@given(scenarios())
def test_one_cycle_converges_both_sides_and_the_base(s: Scenario) -> None:
    world, cfg, _, observed = run_cycle(s)
    for name, o in observed.items():
        spec = cfg.mapping.spec(name)
        assert on_card(spec, o.lead_after) == on_card(spec, o.card_after), name
        assert o.base_after == o.lead_after, name
    assert world.records[Side.LEAD]["L1"].link == "C1"
    assert world.records[Side.CARD]["C1"].link == "L1"
    assert not world.links["L1"].detached


@LAWS
@given(scenarios())
def test_replanning_after_apply_is_quiet(s: Scenario) -> None:
    world, _, _, _ = run_cycle(s)
    world.tick()
    again = world.plan()
    assert again.operations == []
    assert again.conflicts == []
    assert not any(unit.changes_state for unit in again.units), again.units
    assert again.problems == []


@LAWS
@given(scenarios())
def test_a_change_on_one_side_is_never_overwritten_by_the_unchanged_side(s: Scenario) -> None:
    _, cfg, the_plan, observed = run_cycle(s)
    for name, o in observed.items():
        spec = cfg.mapping.spec(name)
        if o.base is SAME:
            continue
        lead_changed = o.lead != o.base
        card_changed = on_card(spec, o.card) != on_card(spec, o.base)  # type: ignore[arg-type]
        if spec.direction is Direction.LEAD_TO_CARD:
            assert not written(the_plan, Side.LEAD, name)
            assert o.lead_after == o.lead
            assert on_card(spec, o.card_after) == on_card(spec, o.lead)
        elif spec.direction is Direction.CARD_TO_LEAD:
            assert not written(the_plan, Side.CARD, name)
            assert on_card(spec, o.card_after) == on_card(spec, o.card)
            assert on_card(spec, o.lead_after) == on_card(spec, o.card)
        elif lead_changed and not card_changed:
            assert not written(the_plan, Side.LEAD, name), name
            assert o.lead_after == o.lead
            assert on_card(spec, o.card_after) == on_card(spec, o.lead)
        elif card_changed and not lead_changed:
            assert not written(the_plan, Side.CARD, name), name
            assert on_card(spec, o.card_after) == on_card(spec, o.card)
            assert o.lead_after == o.card
        elif not lead_changed and not card_changed:
            assert not written(the_plan, Side.LEAD, name), name
            assert not written(the_plan, Side.CARD, name), name


@LAWS
@given(scenarios())
def test_every_true_conflict_is_reported_and_resolved_by_the_policy(s: Scenario) -> None:
    world, cfg, the_plan, observed = run_cycle(s)
    winner = expected_winner(s, world, cfg)
    reported = {c.field: c for c in the_plan.conflicts}
    for name, o in observed.items():
        spec = cfg.mapping.spec(name)
        differ = on_card(spec, o.lead) != on_card(spec, o.card)
        lead_changed = o.base is SAME or o.lead != o.base
        card_changed = o.base is SAME or on_card(spec, o.card) != on_card(spec, o.base)  # type: ignore[arg-type]
        conflict = spec.direction is Direction.BOTH and differ and lead_changed and card_changed
        if not conflict:
            assert name not in reported, (name, reported)
            continue
        c = reported[name]
        assert (c.lead_value, c.card_value, c.winner) == (o.lead, o.card, winner)
        kept = o.lead if winner is Side.LEAD else o.card
        assert on_card(spec, o.lead_after) == on_card(spec, kept)
        assert on_card(spec, o.card_after) == on_card(spec, kept)
    assert len(the_plan.conflicts) == len(reported)


@LAWS
@given(scenarios())
def test_planning_is_deterministic_whatever_the_input_order(s: Scenario) -> None:
    world, cfg = build(s)
    world.put(Side.LEAD, "L2", {"Name": "x"}, link="C2")
    world.put(Side.CARD, "C2", {"name": "y"}, link="L2")
    world.link("L2", "C2", {"name": "z"})
    leads, cards = world.canonical(Side.LEAD), world.canonical(Side.CARD)
    links = list(world.links.values())
    first = plan(cfg, links, leads, cards)
    second = plan(cfg, links[::-1], _reversed(leads), _reversed(cards))
    assert first == second


def _reversed(records: dict[str, Record]) -> dict[str, Record]:
    return dict(reversed(list(records.items())))


# -- many cycles: a random walk of edits, deletions and syncs -----------------------------------

WALK_PAIR = {
    "id": "walk",
    "lead": {"system": "notion", "database_id": "d" * 32},
    "card": {"system": "trello", "board_id": "b" * 24},
    "fields": {
        "name": {"lead": "Name", "card": "name"},
        "status": {
            "lead": "Status",
            "card": "list",
            "values": {"New": "To Do", "Contacted": "To Do", "Won": "Done", "Lost": "Lost"},
            "reverse_values": {"To Do": "New", "Done": "Won", "Lost": "Lost"},
        },
        "email": {"lead": "Email", "card": "desc:Email", "direction": "lead_to_card"},
    },
}
WALK_LEAD_VALUES = {"Name": ["Ada", "Bob", None], "Status": ["New", "Contacted", "Won", "Lost"], "Email": ["a@x", None]}
WALK_CARD_VALUES = {"name": ["Ada", "Cy", None], "list": ["To Do", "Done", "Lost"], "desc:Email": ["a@x", "b@x", None]}

actions = st.one_of(
    st.tuples(st.just("add_lead"), st.fixed_dictionaries({k: st.sampled_from(v) for k, v in WALK_LEAD_VALUES.items()})),
    st.tuples(st.just("edit_lead"), st.integers(0, 5), st.sampled_from(sorted(WALK_LEAD_VALUES)), st.integers(0, 3)),
    st.tuples(st.just("edit_card"), st.integers(0, 5), st.sampled_from(sorted(WALK_CARD_VALUES)), st.integers(0, 2)),
    st.tuples(st.just("add_card"), st.fixed_dictionaries({k: st.sampled_from(v) for k, v in WALK_CARD_VALUES.items()})),
    st.tuples(
        st.sampled_from(["archive_lead", "restore_lead", "archive_card", "restore_card", "clear_marker"]),
        st.integers(0, 5),
    ),
    st.tuples(st.just("sync")),
    st.tuples(st.just("wait"), st.integers(1, 90)),
)


def _pick(records: dict, index: int) -> str | None:
    ids = sorted(records)
    return ids[index % len(ids)] if ids else None


def _act(w: World, action: tuple) -> None:
    kind = action[0]
    leads, cards = w.records[Side.LEAD], w.records[Side.CARD]
    if kind == "add_lead":
        w.add(Side.LEAD, action[1])
    elif kind == "add_card":
        w.add(Side.CARD, action[1])
    elif kind == "sync":
        w.sync()
    elif kind == "wait":
        w.tick(timedelta(seconds=action[1]))
    elif kind in ("edit_lead", "edit_card"):
        side, values = (Side.LEAD, WALK_LEAD_VALUES) if kind == "edit_lead" else (Side.CARD, WALK_CARD_VALUES)
        target = _pick(w.records[side], action[1])
        if target is not None:
            options = values[action[2]]
            w.edit(side, target, {action[2]: options[action[3] % len(options)]})
    else:
        pool = leads if kind in ("archive_lead", "restore_lead", "clear_marker") else cards
        target = _pick(pool, action[1])
        if target is None:
            return
        if kind == "archive_lead":
            w.archive(Side.LEAD, target)
        elif kind == "restore_lead":
            w.restore(Side.LEAD, target)
        elif kind == "archive_card":
            w.archive(Side.CARD, target)
        elif kind == "restore_card":
            w.restore(Side.CARD, target)
        else:
            w.set_marker(Side.LEAD, target, None)


_ADA = {"Name": "Ada", "Status": "New", "Email": "a@x"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, max_size=40), st.booleans(), st.sampled_from([[], ["email"]]))
@example(  # found by this test: a card archived and its lead's marker gone before one cycle saw either
    history=[("add_lead", _ADA), ("sync",), ("archive_card", 0), ("clear_marker", 0)], create_leads=False, match_on=[]
)
def test_after_any_history_one_clean_cycle_converges_and_the_next_is_quiet(
    history: list[tuple], create_leads: bool, match_on: list[str]
) -> None:
    pair = {**WALK_PAIR, "create_leads_from_cards": create_leads, "match_on": match_on}
    w = World(PairConfig.model_validate(pair).plan_config())
    for action in history:
        _act(w, action)
        w.tick(timedelta(seconds=7))
    w.sync()
    w.tick()
    again = w.sync()
    assert again.operations == [], again.describe()
    assert not any(unit.changes_state for unit in again.units), again.units
    mapping = w.config.mapping
    for link in w.links.values():
        lead, card = w.records[Side.LEAD].get(link.lead_id), w.records[Side.CARD].get(link.card_id)
        if link.detached or lead is None or card is None or lead.deleted or card.deleted:
            continue
        lead_view, card_view = w.view(Side.LEAD, link.lead_id), w.view(Side.CARD, link.card_id)
        for spec in mapping.fields:
            if spec.name in lead_view.fields and spec.name in card_view.fields:
                assert on_card(spec, lead_view.fields[spec.name]) == on_card(spec, card_view.fields[spec.name])
        assert lead.link == link.card_id
        assert card.link == link.lead_id
    claimed = [c.link for c in w.records[Side.CARD].values() if c.link and not c.deleted]
    assert len(claimed) == len(set(claimed)), "two live cards claim one lead"
