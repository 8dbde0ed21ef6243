"""What a serving deployment is told: the checkpoints and their model ids, the replicas, the limits of a request.

The same options come from ``autopipe serve``'s command line and from the
``args:`` of a Ray Serve config file (:meth:`ServeOptions.from_args`); every
value is checked here, with a :class:`ServeConfigError` that names it, before
Ray is asked for anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping

from ..errors import AutopipeError
from ..units import MiB, parse_memory

#: A model id: what a request names in the ``serve_multiplexed_model_id`` header (or its ``"model"`` field).
#: Letters, digits and ``._-/`` (a hub repo id is one), so that it travels in an HTTP header as it is.
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")

#: The largest image side a request may ask for, whatever --max-size says (as the command line's MAX_SIDE).
MAX_SIDE = 16384
#: The most denoising steps a deployment may allow (as the command line's MAX_STEPS).
MAX_STEPS = 1000


class ServeConfigError(AutopipeError, ValueError):
    """A serving option that cannot work: a malformed model id, two checkpoints under one id, a limit out of range."""


@dataclass(frozen=True)
class ServeOptions:
    """A deployment's settings. Sizes in pixels, memory in bytes.

    `models` are (model id, checkpoint) pairs: a diffusers folder, a
    ``.safetensors`` file or a hub repo id each. `models_per_replica` is how
    many checkpoints one replica holds at once (Ray Serve's multiplexing
    unloads the least recently used beyond it). `device` is "auto" (GPUs when
    the Ray cluster has them), "cpu" or "cuda"; `gpu_memory` the memory of each
    of the cluster's GPUs, which lets replicas ask for the fraction of a GPU
    their checkpoints need rather than a whole one. `max_size` bounds the image
    side a request may ask for, and the activation allowance of the resource
    request is planned at it; `max_steps` bounds the denoising steps.
    """

    models: tuple[tuple[str, str], ...]
    replicas: int = 1
    models_per_replica: int = 3
    device: str = "auto"
    gpu_memory: int | None = None
    max_size: int = 1024
    max_steps: int = 150
    default_steps: int = 20
    cpus_per_replica: float = 1.0
    max_ongoing_requests: int = 4
    max_body_bytes: int = 32 * MiB

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple((str(i), str(m)) for i, m in self.models))
        if not self.models:
            raise ServeConfigError("no checkpoint to serve: name at least one (a folder, a .safetensors file or a hub repo id)")
        seen: dict[str, str] = {}
        for model_id, model in self.models:
            if not MODEL_ID.match(model_id):
                raise ServeConfigError(
                    f"model id {model_id[:60]!r} (for {model}) is not usable in an HTTP header: use letters, digits and ._-/ "
                    "(at most 200), starting with a letter or digit; choose one with NAME=MODEL"
                )
            if model_id in seen:
                raise ServeConfigError(
                    f"two checkpoints would be served as {model_id!r} ({seen[model_id]} and {model}): name them apart with NAME=MODEL, e.g. a={seen[model_id]} b={model}"
                )
            seen[model_id] = model
        _whole("replicas", self.replicas, 1, 1024)
        _whole("models_per_replica", self.models_per_replica, 1, 1024)
        _whole("max_size", self.max_size, 8, MAX_SIDE)
        if self.max_size % 8:
            raise ServeConfigError(f"max_size must be a multiple of 8 (the VAE works in blocks of 8 pixels), not {self.max_size}")
        _whole("max_steps", self.max_steps, 1, MAX_STEPS)
        _whole("default_steps", self.default_steps, 1, self.max_steps)
        _whole("max_ongoing_requests", self.max_ongoing_requests, 1, 10_000)
        _whole("max_body_bytes", self.max_body_bytes, 1024, 1 << 32)
        if self.device not in ("auto", "cpu", "cuda"):
            raise ServeConfigError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.gpu_memory is not None:
            _whole("gpu_memory", self.gpu_memory, 1, 1 << 60)
            if self.device == "cpu":
                raise ServeConfigError("gpu_memory was given with device cpu: leave it out, or serve on cuda")
        if isinstance(self.cpus_per_replica, bool) or not isinstance(self.cpus_per_replica, (int, float)) or not 0 < self.cpus_per_replica <= 1024:
            raise ServeConfigError(f"cpus_per_replica must be a number above 0 (a fraction shares a core), not {self.cpus_per_replica!r}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(model_id for model_id, _ in self.models)

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "ServeOptions":
        """The options of a Ray Serve config file's ``args:``.

        ``models`` is a list of checkpoints (each may be ``NAME=MODEL``) or a
        mapping ``{model id: checkpoint}``; ``gpu_memory`` takes ``"80GiB"``;
        every other key is a field of this class. An unknown key is refused,
        so that a misspelt one is not ignored.
        """
        if not isinstance(args, Mapping):
            raise ServeConfigError(f"the application's args must be a mapping, not {type(args).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ServeConfigError(f"unknown option(s) {', '.join(map(repr, unknown))} in args: the options are {', '.join(sorted(known))}")
        if "models" not in args:
            raise ServeConfigError("args must name the checkpoints to serve: models: [path-or-repo-id, ...] or {model-id: path-or-repo-id}")
        values = dict(args)
        raw = values.pop("models")
        if isinstance(raw, Mapping):
            models = tuple((str(k), str(v)) for k, v in raw.items())
        elif isinstance(raw, (list, tuple)):
            models = model_ids(raw)
        elif isinstance(raw, str):
            models = model_ids([raw])
        else:
            raise ServeConfigError(f"models must be a list or a mapping, not {type(raw).__name__}")
        if values.get("gpu_memory") is not None:
            try:
                values["gpu_memory"] = parse_memory(values["gpu_memory"])
            except AutopipeError as exc:
                raise ServeConfigError(f"gpu_memory: {exc}") from None
        for name in ("max_body_bytes",):
            if isinstance(values.get(name), str):
                try:
                    values[name] = parse_memory(values[name])
                except AutopipeError as exc:
                    raise ServeConfigError(f"{name}: {exc}") from None
        return cls(models=models, **values)


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ServeConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


def default_id(model: str) -> str:
    """The model id of a checkpoint named without one: a local folder's or file's name, else the string (a hub repo id)."""
    path = os.path.expanduser(model)
    if os.path.exists(path):
        return os.path.basename(os.path.normpath(path)) or model
    return model


def model_ids(specs: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(model id, checkpoint) for each of ``MODEL`` or ``NAME=MODEL``.

    ``NAME=`` counts only where NAME is a model id without a slash, so a path
    or a repo id that holds an ``=`` is read whole.
    """
    out = []
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip():
            raise ServeConfigError(f"a checkpoint must be a path or a hub repo id, not {spec!r}")
        name, eq, rest = spec.partition("=")
        if eq and rest and "/" not in name and MODEL_ID.match(name):
            out.append((name, rest))
        else:
            out.append((default_id(spec), spec))
    return tuple(out)
