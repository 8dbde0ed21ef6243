"""The checkpoints a deployment serves, each resolved from its JSON before Ray places a replica.

A checkpoint no installed plugin serves fails here, where the deployment is
built (``autopipe serve`` says so in one line and starts nothing); a task a
checkpoint cannot do (text2img on an inpainting-only UNet) is kept with its
reason, so that a request for it is refused with that reason before loading.
Reading a checkpoint here costs what ``autopipe resolve`` costs: JSON, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import UnsupportedTaskError
from ..registry import Registry, get_registry
from ..resolve import Resolution, identify, resolve_identity
from ..tasks import Task


@dataclass(frozen=True)
class ModelEntry:
    """One served checkpoint: its model id, where it loads from, and what it does.

    `source` is the checkpoint as resolved (a local path made canonical, or
    the hub repo id), which every replica loads. `pipelines` holds (task,
    pipeline class name, "module:Class") for each task it serves, in Task
    order; `refused` (task, reason) for each it does not. Tuples, not
    mappings: the entry travels to the replicas pickled.
    """

    id: str
    source: str
    family: str
    plugin: str
    pipelines: tuple[tuple[Task, str, str], ...]
    refused: tuple[tuple[Task, str], ...] = ()

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(task for task, _, _ in self.pipelines)

    @property
    def loads_with(self) -> Task:
        """The task whose AutoPipeline loads the weights (text2img where it can); the others come from it by from_pipe."""
        return self.pipelines[0][0]

    def pipeline_class(self, task: Task) -> str | None:
        return next((name for t, name, _ in self.pipelines if t is task), None)

    def class_ref(self, task: Task) -> str | None:
        return next((ref for t, _, ref in self.pipelines if t is task), None)

    def refusal(self, task: Task) -> str | None:
        """Why this checkpoint cannot do `task` (None when it can)."""
        if task in self.tasks:
            return None
        return next((reason for t, reason in self.refused if t is task), f"{self.id} does not serve {task.value}")

    def to_json(self) -> dict[str, Any]:
        """What GET /models answers (not `source`: a path on the server is not the caller's business)."""
        return {
            "id": self.id,
            "family": self.family,
            "plugin": self.plugin,
            "pipelines": {t.value: self.pipeline_class(t) for t in Task},
            **({"refused": {t.value: reason for t, reason in self.refused}} if self.refused else {}),
        }


def entry(model_id: str, model: str, registry: Registry | None = None) -> ModelEntry:
    """Resolve `model` for every task (JSON only). Raises the resolver's typed error when no task can be served."""
    registry = registry or get_registry()
    identity = identify(model, registry)
    served: list[Resolution] = []
    refused: list[tuple[Task, str]] = []
    first_refusal: UnsupportedTaskError | None = None
    for task in Task:
        try:
            served.append(resolve_identity(identity, task, {}, registry))
        except UnsupportedTaskError as exc:
            refused.append((task, str(exc).replace(identity.reference, model_id)))  # said to HTTP callers: the id, not a server path
            first_refusal = first_refusal or exc
    if not served:
        assert first_refusal is not None
        raise first_refusal
    return ModelEntry(
        id=model_id,
        source=identity.reference,
        family=served[0].family,
        plugin=served[0].plugin,
        pipelines=tuple((r.task, r.pipeline_class, r.class_ref) for r in served),
        refused=tuple(refused),
    )


def catalog(models: Iterable[tuple[str, str]], registry: Registry | None = None) -> tuple[ModelEntry, ...]:
    """Every (model id, checkpoint) resolved, in order; the first checkpoint that cannot be served raises."""
    registry = registry or get_registry()
    return tuple(entry(model_id, model, registry) for model_id, model in models)


def resolution(model: ModelEntry, registry: Registry | None = None) -> Resolution:
    """The Resolution of the task `model` loads with (for planning its resources); JSON again, no weights."""
    registry = registry or get_registry()
    return resolve_identity(identify(model.source, registry), model.loads_with, {}, registry)
