"""Every event type survives ``to_dict`` -> JSON -> ``from_dict`` unchanged.

Values are generated from each dataclass's own type hints, so a new event type (or a field of a
type nobody thought of) is covered, or fails here, without editing this file.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xnai_edge import events as ev

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), finite, st.text())


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is str:
        return st.text()
    if hint is float:
        return finite
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-2**53, 2**53)
    if hint is Any:
        return json_scalar
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=4)
    raise AssertionError(f"no strategy for field type {hint!r}: extend test_events.py")


def event_strategy(cls: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


EVENT_TYPES = sorted(ev.REGISTRY.items())


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_every_event_class_is_registered_under_a_unique_type() -> None:
    assert set(ev.REGISTRY.values()) == all_subclasses(ev.Event)
    assert len({cls.TYPE for cls in ev.REGISTRY.values()}) == len(ev.REGISTRY)
    assert {"wake-detected", "vad-start", "vad-end", "stt-start", "stt-end", "retrieve-end",
            "llm-token", "tts-start", "audio-out", "answer-end", "interrupted",
            "output-stopped", "state-changed", "tier-changed", "breaker-opened",
            "error"} <= set(ev.REGISTRY)


@pytest.mark.parametrize(("name", "cls"), EVENT_TYPES, ids=[n for n, _ in EVENT_TYPES])
def test_round_trip_through_json(name: str, cls: type[ev.Event]) -> None:
    @settings(max_examples=40, deadline=None)
    @given(event_strategy(cls))
    def check(event: ev.Event) -> None:
        data = event.to_dict()
        assert data["type"] == name
        wire = json.loads(json.dumps(data))
        back = ev.from_dict(wire)
        assert type(back) is cls and back == event
        assert back.to_dict() == data

    check()


def test_from_dict_refuses_unknown_or_missing_types_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown event type 'nope'"):
        ev.from_dict({"type": "nope"})
    with pytest.raises(ValueError, match="unknown event type None"):
        ev.from_dict({"text": "x"})
    with pytest.raises(TypeError):
        ev.from_dict({"type": "stt-end", "text": "x", "surprise": 1})
    with pytest.raises(TypeError):
        ev.from_dict({"type": "wake-detected", "score": 0.9})  # audio_s missing


def test_from_dict_does_not_mutate_its_input() -> None:
    data = {"type": "stt-end", "text": "hello", "rejected": "", "t": 1.5}
    ev.from_dict(data)
    assert data["type"] == "stt-end"
