"""Made-up machines the kit asks a family's loading code and the planner about."""

from __future__ import annotations

from ..specs import DeviceFacts, Footprint
from ..units import GiB

#: Every family's ``autopipe_load_plan`` must answer each of these with a valid plan.
KIT_DEVICES: tuple[DeviceFacts, ...] = (
    DeviceFacts("cpu"),
    DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True),
    DeviceFacts("cuda", 1, 2 * GiB, 8 * GiB, False),
    DeviceFacts("mps", 1),
)

def gpu(gib: int | float, count: int = 1, bf16: bool = True) -> DeviceFacts:
    """`count` CUDA GPUs with `gib` GiB (2**30 bytes) free and in all each, with bfloat16 unless `bf16` is False (a T4).

    Raises ValueError for no memory or no GPU.
    """
    if not gib > 0 or count < 1:
        raise ValueError(f"a GPU needs memory and a count: {gib} GiB x {count}")
    return DeviceFacts("cuda", count, int(gib * GiB), int(gib * GiB), bf16)


#: The machine a footprint is first planned on: room for anything a tiny checkpoint needs.
LARGE_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)


def placement_machines(footprint: Footprint) -> dict[str, DeviceFacts]:
    """Machines sized to `footprint` (as planned on :data:`LARGE_GPU`) so that the planner's rules all come up.

    A CPU and the large GPU (the whole pipeline on the device), a GPU that
    holds the largest component with the activation allowance but not
    everything (one model at a time), one that holds less (layer by layer),
    and four such small GPUs, among which diffusers' balanced assignment may
    spread the components. The family's ``autopipe_placement`` may choose
    otherwise on any of them; the kit checks that what comes back is a
    placement of the rules', explained.
    """
    act = footprint.activation.nbytes
    largest = footprint.largest.nbytes if footprint.largest is not None and footprint.largest.nbytes else 0
    weights = footprint.weights
    machines = {"a CPU": DeviceFacts("cpu"), "a large CUDA GPU": LARGE_GPU}
    if weights > largest:  # one component alone fits, all of them do not
        small = act + (largest + weights) // 2
        machines["a small CUDA GPU"] = DeviceFacts("cuda", 1, small, small, True)
        machines["four small CUDA GPUs"] = DeviceFacts("cuda", 4, small, small, True)
    if act + largest > 1:
        tiny = act + largest - 1
        machines["a CUDA GPU smaller than the largest component"] = DeviceFacts("cuda", 1, tiny, tiny, False)
    return machines
