"""What the planner counted against what loading gave: a footprint's bytes, component by component, checked on the
pipeline loaded in the plan's dtypes.

The planner counts each component from its weight files' headers (and what
the family's ``autopipe_footprint`` adds: float32-kept modules, weights of
another folder); the truth is the tensors the loaded module holds. A
family's own tests load its tiny checkpoint as the plan says and compare.
Sizes in bytes.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..specs import Footprint


def loaded_bytes(module: Any, state_dict: bool = False) -> int:
    """The bytes a loaded torch module holds: its parameters, or with `state_dict` every tensor of its state dict
    (persistent buffers too: batch-norm statistics, which weight files carry), each counted in its own dtype."""
    tensors = module.state_dict().values() if state_dict else module.parameters()
    return sum(t.numel() * t.element_size() for t in tensors)


def check_counted_as_loaded(footprint: Footprint, pipeline: Any, names: Iterable[str], state_dict: bool = False) -> None:
    """Check that `footprint` counts each component of `names` at exactly the bytes `pipeline` holds in it
    (:func:`loaded_bytes`). Raises AssertionError naming each component counted otherwise, with both figures,
    and ValueError when `names` is empty."""
    names = list(names)
    if not names:
        raise ValueError("check_counted_as_loaded needs the components to compare")
    wrong = {}
    for name in names:
        counted = footprint.component(name)
        held = loaded_bytes(getattr(pipeline, name), state_dict)
        if counted is None or counted.nbytes != held:
            wrong[name] = (None if counted is None else counted.nbytes, held)
    if wrong:
        said = ", ".join(f"{n}: counted {c} bytes, loaded {h}" for n, (c, h) in wrong.items())
        raise AssertionError(f"the footprint does not count what loading gives: {said}")
