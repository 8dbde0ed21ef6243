"""Each hostile checkpoint of tests/hostile_cases.py is refused with its typed error, in bounded time and memory."""

import pytest
from bounds import bounded
from hostile_cases import CASES

import autopipe_core


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_checkpoint_is_refused_fast_and_in_bounded_memory(name, tmp_path, tiny_sd):
    build, call, error, fragment = CASES[name]
    argument = build(tmp_path, tiny_sd)
    expected = getattr(autopipe_core, error)
    outcome = bounded(lambda: call(argument), expected)
    assert isinstance(outcome, expected), f"{name}: {outcome!r}"
    assert fragment in str(outcome), str(outcome)
