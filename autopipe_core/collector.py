"""The cyclic garbage collector while a pipeline loads: what survives a full collection is frozen until the load ends.

Why: loading a pipeline imports diffusers' pipeline module, transformers'
models and their dependencies and builds the components, about 300,000 new
objects for SD 1.5. CPython's collector makes a full pass over every tracked
object whenever the objects that survived the young passes since the last
full one reach a quarter of those it left, so a load pays for rescanning the
same imported heap again and again. Counted with ``gc.callbacks`` in cold
processes on this project's machine (CPython 3.11), after ``import torch``:
``StableDiffusionPipeline``'s import and ``from_pretrained`` of the benchmark's
float16 SD 1.5 folder took 3.5-3.9 s, 0.9 s of it in 6 full passes over up to
420,000 objects; the same load through autopipe spent 0.3 s in 7. Freezing
the survivors of each full pass (``gc.freeze`` moves them to the permanent
generation, which no pass scans) leaves each later pass only what is new.
docs/performance.md (cases 3 and 7) sets the whole load beside the concrete
class's, time and peak memory, in the same rounds.

What it changes: reference counting frees everything as before; only a cycle
among objects that were alive at a full pass and died later waits for the load
to end (``gc.unfreeze`` puts every frozen object back in the oldest generation,
where the next full pass finds it). Nothing is collected that would not have
been, and what waited is the first full pass's after the load.

When it stays out of the way: if the collector is off, or the process has
frozen objects of its own (``gc.get_freeze_count()`` above 0 when the first
load starts: a server that froze its heap before forking workers), loads run
under the collector exactly as the caller set it, since ``gc.unfreeze`` would
unfreeze the caller's objects too. Nested and concurrent loads share one
window; the last to finish closes it.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Iterator

_lock = threading.Lock()
_holders = 0
_installed = False


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    """A ``gc.callbacks`` entry: after a full collection (the oldest generation, 2), freeze what survived it."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


@contextmanager
def survivors_frozen() -> Iterator[None]:
    """Freeze what survives each full collection until the outermost of the nested or concurrent loads ends.

    Opens nothing when the collector is off or the process holds frozen objects of its own (see the module's
    docstring); closing removes the callback and unfreezes, however the load ends.
    """
    global _holders, _installed
    with _lock:
        if _holders == 0:
            _installed = gc.isenabled() and gc.get_freeze_count() == 0
            if _installed:
                gc.callbacks.append(_freeze_survivors)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _installed:
                gc.callbacks.remove(_freeze_survivors)
                gc.unfreeze()
                _installed = False
