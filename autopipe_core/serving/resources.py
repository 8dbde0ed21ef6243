"""A replica's resource request, from the planner's figures for the checkpoints it will hold.

Ray places a replica on a node that has the CPUs, GPUs and memory it asks
for, and does not look inside it. autopipe knows, before a byte is loaded,
what each checkpoint will hold: its weights in the dtype its family's loading
code picks (from the weight files' headers) and the activation allowance of
a call (:func:`autopipe_core.planning.plan`, the figures ``autopipe plan``
prints). A replica holds up to ``models_per_replica`` checkpoints at once and
runs one call at a time, so it asks for the weights of the largest that many
checkpoints plus the largest allowance, planned at the largest image side
the deployment accepts:

- on the CPU: no GPU, and that much memory (bytes of RAM Ray reserves);
- on GPUs, with each GPU's memory known (``gpu_memory``): the fraction of a
  GPU that sum needs, rounded up to a hundredth (several replicas then share
  a GPU where they fit; a whole GPU where they do not, and ``placement="auto"``
  offloads), and each checkpoint is loaded with ``memory=`` its share of that
  fraction, so that its placement is planned for the replica's slice rather
  than for what the whole GPU reports free; host memory for the weights,
  which diffusers reads into RAM before moving them (and where offloaded
  components live);
- on GPUs of unknown size: a whole GPU, the same host memory, and each load
  plans against what torch reports free.

A weight the headers could not count (a ``.bin`` file) counts as 0 and the
reason says so. The caller's own ``ray_actor_options`` in a config file win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from .. import planning
from ..registry import Registry, get_registry
from ..specs import DeviceFacts
from ..units import MiB, gib
from .catalog import ModelEntry, resolution


@dataclass(frozen=True)
class ModelNeed:
    """One checkpoint as planned on the device: bytes of weights and of the activation allowance, and why."""

    id: str
    weights: int
    activation: int
    dtype: str
    placement: str
    unknown: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ReplicaResources:
    """What one replica asks Ray for. `memory` in bytes of host RAM; `num_gpus` may be a fraction.

    `budgets` holds (model id, bytes) where a replica has a fraction of a GPU:
    the ``memory=`` each checkpoint is loaded with. `needs` are the figures the
    request was computed from, `reason` says how.
    """

    device: str
    num_cpus: float
    num_gpus: float
    memory: int
    budgets: tuple[tuple[str, int], ...]
    needs: tuple[ModelNeed, ...]
    reason: str

    def actor_options(self) -> dict[str, Any]:
        """Ray Serve's ``ray_actor_options`` for the replica."""
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "memory": self.memory}

    def budget(self, model_id: str) -> int | None:
        return next((b for i, b in self.budgets if i == model_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.actor_options(),
            "device": self.device,
            "budgets": dict(self.budgets),
            "models": {n.id: {"weights_bytes": n.weights, "activation_bytes": n.activation, "dtype": n.dtype,
                              "placement": n.placement, "unknown_components": list(n.unknown)} for n in self.needs},
            "reason": self.reason,
        }


def need(model: ModelEntry, device: DeviceFacts, size: int, registry: Registry | None = None) -> ModelNeed:
    """The planner's figures for `model` on `device`, with the allowance at `size` x `size` pixels."""
    registry = registry or get_registry()
    placed = planning.plan(resolution(model, registry), device, size, size, registry=registry, device_name=device.type)
    fp = placed.footprint
    return ModelNeed(model.id, fp.weights, fp.activation.nbytes, placed.plan.dtype, placed.plan.placement,
                     tuple(c.name for c in fp.unknown), placed.plan.reason)


def _round_up(nbytes: int, unit: int = MiB) -> int:
    return max(unit, -(-nbytes // unit) * unit)


def replica_resources(
    models: Iterable[ModelEntry],
    device: str,
    models_per_replica: int,
    max_size: int,
    cpus: float = 1.0,
    gpu_memory: int | None = None,
    registry: Registry | None = None,
) -> ReplicaResources:
    """The resource request of a replica serving `models` on `device` ("cpu" or "cuda"); see the module's docstring."""
    models = tuple(models)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, not {device!r}")
    facts = DeviceFacts("cpu", 0) if device == "cpu" else DeviceFacts("cuda", 1, gpu_memory, gpu_memory, False)
    needs = tuple(need(m, facts, max_size, registry) for m in models)
    held = max(1, min(models_per_replica, len(needs)))
    largest = sorted((n.weights for n in needs), reverse=True)
    weights = sum(largest[:held])
    activation = max(n.activation for n in needs)
    total = weights + activation
    unknown = [f"{n.id}: {', '.join(n.unknown)}" for n in needs if n.unknown]
    counted = (f"weights {gib(weights)} (the {held} largest of {len(needs)} checkpoint(s), held at once) + activations "
               f"{gib(activation)} at {max_size}x{max_size} = {gib(total)}")
    if unknown:
        counted += f" (not counted, their sizes unreadable from headers: {'; '.join(unknown)})"
    budgets: tuple[tuple[str, int], ...] = ()
    if device == "cpu":
        num_gpus, memory = 0.0, _round_up(total)
        reason = f"{counted}: no GPU, {gib(memory)} of RAM"
    elif gpu_memory is None:
        num_gpus, memory = 1.0, _round_up(weights)
        reason = f"{counted}; the GPUs' memory unknown (pass gpu_memory): a whole GPU, and {gib(memory)} of RAM for loading"
    else:
        fraction = min(1.0, math.ceil(total / gpu_memory * 100) / 100)
        num_gpus, memory = fraction, _round_up(weights)
        if fraction < 1.0:
            share = int(fraction * gpu_memory)
            for n in needs:
                others = sorted((o.weights for o in needs if o is not n), reverse=True)[: held - 1]
                budgets += ((n.id, max(1, share - sum(others))),)
            reason = f"{counted} of a {gib(gpu_memory)} GPU: {fraction:g} of it, and {gib(memory)} of RAM for loading"
        else:
            reason = f"{counted} do not fit a {gib(gpu_memory)} GPU beside each other: a whole GPU, each checkpoint placed by placement='auto' (offloaded where it must be), and {gib(memory)} of RAM"
    return ReplicaResources(device, float(cpus), num_gpus, memory, budgets, needs, reason)


def unplaceable(request: ReplicaResources, replicas: int, cluster: dict[str, float]) -> str | None:
    """Why `replicas` replicas of `request` cannot all be placed on a cluster of these resources (Ray's
    ``ray.cluster_resources()``: "CPU", "GPU", "memory" in bytes), or None when they can.

    Ray would otherwise keep the replicas it cannot place pending, and the
    deployment would wait for them without end. Counted over the whole
    cluster, which is exact for one node (``autopipe serve``); fractions of a
    GPU are packed whole replicas to a GPU, as Ray packs them.
    """
    problems = []
    cpus = cluster.get("CPU", 0.0)
    if request.num_cpus * replicas > cpus + 1e-9:
        problems.append(f"{replicas} x {request.num_cpus:g} CPUs, and Ray has {cpus:g} (fewer --replicas, or a fraction with --cpus-per-replica)")
    gpus = int(cluster.get("GPU", 0.0) + 1e-9)
    if request.num_gpus > 0:
        per_gpu = 1 if request.num_gpus >= 1 else int(1 / request.num_gpus + 1e-9)
        fit = gpus * per_gpu if request.num_gpus <= 1 else 0
        if fit < replicas:
            problems.append(f"{replicas} x {request.num_gpus:g} GPU, and Ray has {gpus} GPU(s), room for {fit}"
                            + (" (--gpu-memory lets replicas share a GPU where they fit)" if request.num_gpus == 1 else ""))
    memory = cluster.get("memory", 0.0)
    if request.memory * replicas > memory:
        problems.append(f"{replicas} x {gib(request.memory)} of memory, and Ray has {gib(int(memory))} (fewer --replicas, or a smaller --max-size or --models-per-replica)")
    return "; ".join(problems) or None
