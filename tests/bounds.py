"""The bound every hostile input is held to, and how it is measured (issue 13: under 2 s and under 200 MB).

CPU time of this process (``time.process_time``), not wall-clock time, so that
other work on the machine cannot make a test fail; memory as the tracemalloc
peak of a second run (tracemalloc slows the code it traces, so the time comes
from an untraced run).
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, Callable

CPU_SECONDS, PEAK_BYTES = 2.0, 200 * 10**6


def costs(run: Callable[[], Any], expected: type[BaseException] | tuple[type[BaseException], ...] = ()) -> tuple[Any, float, int]:
    """(outcome, CPU seconds, peak bytes) of `run`: its return value, or the `expected` exception it raised."""

    def once() -> Any:
        try:
            return run()
        except expected as exc:  # type: ignore[misc]
            return exc

    start = time.process_time()
    outcome = once()
    seconds = time.process_time() - start
    tracemalloc.start()
    try:
        once()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, seconds, peak


def bounded(run: Callable[[], Any], expected: type[BaseException] | tuple[type[BaseException], ...] = ()) -> Any:
    """The outcome of `run`, asserting it took under CPU_SECONDS and PEAK_BYTES."""
    outcome, seconds, peak = costs(run, expected)
    assert seconds < CPU_SECONDS, f"{seconds:.2f} s of CPU"
    assert peak < PEAK_BYTES, f"{peak / 1e6:.0f} MB at the peak"
    return outcome
