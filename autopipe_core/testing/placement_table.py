"""docs/placement.md's table, row by row: where a full-size checkpoint goes on GPUs of each size, as a plugin's
full-size tests pin it.

The budgets and words are those of ``bench/placement_table.py``, which
writes the table: free GPU memory of 4 to 80 GiB, and each placement in the
table's words. A row reads "| title | weights | largest component |
activations | placement at each budget |", sizes in GiB (2**30 bytes) to
two decimals, activations with the size they were counted at.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..planning import plan
from ..units import GiB
from .machines import gpu

#: The free GPU memory (GiB) of each column of the table.
BUDGETS_GIB: tuple[int, ...] = (4, 8, 12, 16, 24, 40, 80)
#: Each placement as the table words it.
WORDS: Mapping[str, str] = {
    "device": "device", "balanced": "balanced", "model_cpu_offload": "model offload", "sequential_cpu_offload": "sequential offload",
}
#: The GPU a whole row's sizes are planned on: room for anything.
LARGE_GIB = 80


def placements(model: Any, count: int = 1, budgets: Iterable[int] = BUDGETS_GIB, **asked: Any) -> list[str]:
    """The table's words for where `model` (a resolution, or what ``planning.plan`` takes) goes on `count` GPUs of each
    of `budgets` GiB; `asked` goes to ``planning.plan`` (``kwargs=``, ``width=``)."""
    return [WORDS[plan(model, gpu(gib, count), **asked).plan.placement] for gib in budgets]


def placement_row(model: Any, title: str, budgets: Iterable[int] = BUDGETS_GIB) -> str:
    """docs/placement.md's row for `model` under `title`: its weights, largest component and activations as planned on
    a large GPU, then its placement on one GPU of each of `budgets` GiB."""
    whole = plan(model, gpu(LARGE_GIB)).footprint
    act = whole.activation
    largest = whole.largest
    if largest is None:
        raise ValueError(f"{title}: the footprint counts no component, so the table has no row for it")
    return (
        f"| {title} | {whole.weights / GiB:.2f} GiB | {largest.name} {largest.nbytes / GiB:.2f} GiB "
        f"| {act.nbytes / GiB:.2f} GiB at {act.width}x{act.height} | " + " | ".join(placements(model, 1, budgets)) + " |"
    )
