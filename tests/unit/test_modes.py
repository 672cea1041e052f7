"""Modes: the ChanSpy routing table, the keymaps, the volume cycle."""

from __future__ import annotations

import pytest

from coachd.core.modes import (
    END_DIGIT,
    KEYMAPS,
    ROUTING,
    TALKING_MODES,
    VOLUME_DIGIT,
    Mode,
    Routing,
    next_volume,
    parse_mode,
)


@pytest.mark.parametrize(
    ("mode", "ear", "agent", "caller"),
    [
        # ChanSpy q: listen only.
        (Mode.MONITOR, True, False, False),
        # ChanSpy qw: listen, and talk to the agent only.
        (Mode.WHISPER, True, True, False),
        # ChanSpy qW: talk to the agent only, without listening.
        (Mode.PRIVATE_WHISPER, False, True, False),
        # ChanSpy qB: listen, and talk to both.
        (Mode.BARGE, True, True, True),
    ],
    ids=str,
)
def test_routing_follows_chanspy(mode: Mode, ear: bool, agent: bool, caller: bool) -> None:
    assert ROUTING[mode] == Routing(ear=ear, agent=agent, caller=caller)


def test_every_mode_has_a_routing() -> None:
    assert set(ROUTING) == set(Mode)


def test_routing_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        ROUTING[Mode.MONITOR] = Routing(ear=True, agent=True, caller=True)  # type: ignore[index]


def test_talking_modes_are_those_where_the_supervisor_is_heard() -> None:
    talking = {mode for mode in Mode if mode in TALKING_MODES}
    assert talking == {Mode.WHISPER, Mode.PRIVATE_WHISPER, Mode.BARGE}


def test_chanspy_keymap_is_4_monitor_5_whisper_6_barge() -> None:
    assert dict(KEYMAPS["chanspy"]) == {"4": Mode.MONITOR, "5": Mode.WHISPER, "6": Mode.BARGE}


def test_vicidial_keymap_swaps_whisper_and_barge() -> None:
    assert dict(KEYMAPS["vicidial"]) == {"4": Mode.MONITOR, "5": Mode.BARGE, "6": Mode.WHISPER}


@pytest.mark.parametrize("keymap", sorted(KEYMAPS))
def test_end_and_volume_digits_are_never_mode_digits(keymap: str) -> None:
    assert END_DIGIT == "*"
    assert VOLUME_DIGIT == "#"
    assert END_DIGIT not in KEYMAPS[keymap]
    assert VOLUME_DIGIT not in KEYMAPS[keymap]


def test_volume_cycles_up_to_4_then_wraps_to_minus_4_like_chanspy() -> None:
    levels = [0]
    for _ in range(10):
        levels.append(next_volume(levels[-1]))
    assert levels == [0, 1, 2, 3, 4, -4, -3, -2, -1, 0, 1]


def test_volume_at_or_above_4_wraps_to_minus_4() -> None:
    assert next_volume(4) == -4
    assert next_volume(7) == -4


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("monitor", Mode.MONITOR),
        ("whisper", Mode.WHISPER),
        ("private_whisper", Mode.PRIVATE_WHISPER),
        ("barge", Mode.BARGE),
        (" Barge ", Mode.BARGE),
        ("WHISPER", Mode.WHISPER),
    ],
)
def test_parse_mode_accepts_mode_names_in_any_case(text: str, mode: Mode) -> None:
    assert parse_mode(text) is mode


@pytest.mark.parametrize("text", ["", "spy", "private whisper", "private-whisper", "4"])
def test_parse_mode_rejects_anything_else(text: str) -> None:
    assert parse_mode(text) is None
