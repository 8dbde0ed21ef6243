"""One process-wide lock for every load through diffusers, and the decorator plugins put on their own loaders.

Loads run one at a time; resolution and planning do not wait for them.
diffusers, accelerate and transformers load by patching torch's process-wide
functions for the length of a load (accelerate's ``init_empty_weights``
replaces ``nn.Module.register_parameter`` so new parameters land on the meta
device; transformers' ``no_init_weights`` replaces the ``torch.nn.init``
functions with no-ops) and restore what they saw on entry. Two loads in two
threads restore each other's patches, and the process is left creating every
new module on the meta device (found by tests/test_threads.py).

What the lock cannot do: a thread that creates torch modules *outside*
autopipe while a load runs still sees the patched functions for that time
(its new parameters may be on the meta device, its initialisers no-ops).
Build your own modules before or after a load, or take :data:`LOAD_LOCK`
around that code too.
"""

from __future__ import annotations

import functools
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: detection modules import serialized
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`serialized` sets on the functions it wraps (the conformance kit looks for it).
MARK = "__autopipe_serialized__"


class LoadLock:
    """A reentrant lock that knows whether the current thread holds it (``with LOAD_LOCK:``)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()

    def __enter__(self) -> "LoadLock":
        self._lock.acquire()
        self._depth.value = getattr(self._depth, "value", 0) + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth.value -= 1
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread is inside ``with LOAD_LOCK`` now."""
        return getattr(self._depth, "value", 0) > 0


#: The lock every diffusers load in the process takes: the core's from_pretrained and from_single_file,
#: and every plugin's public loader (through :func:`serialized`).
LOAD_LOCK = LoadLock()


def serialized(function: F) -> F:
    """Run `function` under :data:`LOAD_LOCK`: put it on every public function of a plugin that loads weights.

    Example: ``autopipe_controlnet.from_single_file`` loads a ControlNetModel
    through diffusers, so it is decorated; the conformance kit checks that a
    plugin's public loaders are.
    """

    @functools.wraps(function)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with LOAD_LOCK:
            return function(*args, **kwargs)

    setattr(locked, MARK, True)
    return locked  # type: ignore[return-value]
