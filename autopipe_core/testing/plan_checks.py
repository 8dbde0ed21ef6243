"""A family's load plan checked on the machines that decide it: bfloat16 where the device has it, float32 elsewhere.

Most families that run in bfloat16 plan alike (the toolkit's half-precision
plan): float32 on a CPU, bfloat16 on a GPU that has it (weights from the
``bf16`` variant files where a checkpoint has them), and float32, never
float16, on a GPU without bfloat16 (a T4), saying why. A family's test checks
that with one call and then what its own plan says (the RAM it needs, its
reasons), on the plans returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..specs import DeviceFacts, LoadPlan
from ..units import GiB
from .machines import LARGE_GPU

#: A GPU with bfloat16: 70 GiB free of 80 (an A100, an H100).
WITH_BFLOAT16: DeviceFacts = LARGE_GPU
#: A GPU without bfloat16: 14 GiB free of 15 (a T4).
WITHOUT_BFLOAT16 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
CPU = DeviceFacts("cpu")


@dataclass(frozen=True)
class BFloat16Plans:
    """The plans :func:`check_bfloat16_plan` checked, for the test's own further checks."""

    cpu: LoadPlan  # on a CPU
    plain_files: LoadPlan  # on a GPU with bfloat16, plain weight files
    bf16_files: LoadPlan | None  # on a GPU with bfloat16, bf16 variant files (None: not asked)
    without_bf16: LoadPlan  # on a GPU without bfloat16


def check_bfloat16_plan(
    plan_on: Callable[[Any, DeviceFacts], LoadPlan], plain: Any, bf16: Any = None, float32: Any = None
) -> BFloat16Plans:
    """Check a bfloat16 family's plan: `plan_on(identity, device)` is the family's plan (its ``autopipe_load_plan``
    with the family bound), `plain` an Identity whose weight files have no variant, `bf16` one with ``bf16`` variant
    files (None: the family's checkpoints have none), `float32` the Identity planned on the machines that load
    float32 (default `plain`; one with bf16 files beside plain ones shows that float32 takes the plain ones).

    - on a CPU: float32, no variant, no per-component dtype;
    - on a GPU with bfloat16: bfloat16, no per-component dtype, nothing left
      out; variant ``bf16`` from `bf16`, None from `plain`;
    - on a GPU without bfloat16: float32, no variant, no per-component dtype,
      the reason saying the device has no bfloat16.

    Raises AssertionError naming the machine, the files and the plan.
    """
    float32 = plain if float32 is None else float32
    cpu = _planned(plan_on, float32, CPU, "a CPU", ("float32", None, {}))
    plain_files = _planned(plan_on, plain, WITH_BFLOAT16, "a GPU with bfloat16, plain files", ("bfloat16", None, {}))
    bf16_files = None if bf16 is None else _planned(plan_on, bf16, WITH_BFLOAT16, "a GPU with bfloat16, bf16 files", ("bfloat16", "bf16", {}))
    for gpu in (plain_files, bf16_files):
        if gpu is not None and gpu.skip:
            raise AssertionError(f"on a GPU with bfloat16 the plan leaves out {sorted(gpu.skip)}: {gpu}")
    old = _planned(plan_on, float32, WITHOUT_BFLOAT16, "a GPU without bfloat16", ("float32", None, {}))
    if "has no bfloat16" not in old.reason:
        raise AssertionError(f"on a GPU without bfloat16 the reason does not say the device has no bfloat16: {old.reason!r}")
    return BFloat16Plans(cpu, plain_files, bf16_files, old)


def _planned(plan_on: Callable[[Any, DeviceFacts], LoadPlan], identity: Any, device: DeviceFacts, where: str, expected: tuple) -> LoadPlan:
    plan = plan_on(identity, device)
    if not isinstance(plan, LoadPlan):
        raise AssertionError(f"on {where} the family's plan is {type(plan).__name__}, not a LoadPlan")
    got = (plan.dtype, plan.variant, dict(plan.component_dtypes))
    if got != expected:
        raise AssertionError(f"on {where} the plan loads (dtype, variant, component dtypes) {got}, not {expected}: {plan.reason}")
    return plan
