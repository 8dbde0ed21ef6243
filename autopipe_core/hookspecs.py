"""The protocol between the core and its plugins.

A plugin is a module (or object) named by an entry point in the group
``autopipe.plugins``; its functions decorated with :data:`hookimpl` answer the
hooks below. Every hook is optional. Hooks that take ``family`` are asked of
the plugin that registered that family only, so a plugin never has to check
whose family it is being asked about.

The registration hooks return plain data (see :mod:`autopipe_core.specs`).
Nothing in them may import torch, diffusers or transformers: resolution runs
them, and resolution must stay cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pluggy

from .headers import SafetensorsHeader
from .specs import Detection, DeviceFacts, FamilySpec, Footprint, Identity, LoadPlan, ModifierSpec, PipelineRow

PROJECT = "autopipe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def autopipe_families() -> Sequence[FamilySpec]:
    """Register model families: their names, their variants, the classes they recognise but cannot load.

    Called once per process, when the registry is built.
    """


@hookspec
def autopipe_pipelines() -> Sequence[PipelineRow]:
    """Register pipeline table rows: (family, modifiers) -> {task: "module:Class"}.

    A row may name a family of another plugin: this is how a modifier plugin
    (ControlNet, say) adds its classes to families it does not own. The
    reverse index (class name -> family and modifiers) that from_pipe and
    resolution use is built from these rows.
    """


@hookspec
def autopipe_modifiers() -> Sequence[ModifierSpec]:
    """Register keyword arguments that change the pipeline class (``enable_pag``, ``controlnet``)."""


@hookspec
def autopipe_load_plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan | None:
    """The family's loading code: dtype, weight variant and placement for this checkpoint on this device.

    ``identity.files`` says which weight files exist (use
    ``identity.has_weight_variant("fp16")`` before choosing a variant).
    ``device`` holds the facts of the machine; tests pass made-up ones.
    Return None to take the core's default, ``autopipe_core.toolkit.plans.half_precision_plan``:
    float32 on a CPU; on an accelerator bfloat16 where it has it, else float16,
    from the weight variant the files offer.
    The placement is the core's to plan from the weights' sizes (see
    ``autopipe_footprint`` and ``autopipe_placement``): return "device".
    """


@hookspec
def autopipe_footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint | None:
    """The family's memory needs: its activation allowance, and weights the core could not count.

    ``footprint`` holds the bytes of each component the core counted from
    the headers of the weight files ``plan`` (dtype, variant) would load.
    Return it with ``footprint.with_activation(Activation(...))``: the bytes a
    call at ``width`` x ``height`` needs besides the weights (None: the
    family's usual size, which the Activation then states), and with
    ``with_component`` for weights kept elsewhere (a prior in another
    folder) or counted differently (tensors a library keeps in float32).
    Return None to keep it as it is (no activation allowance).
    """


@hookspec
def autopipe_placement(family: str, identity: Identity, device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """Override the placement the core's rules chose (``plan.placement``, with its reason).

    Asked last, with the figures the rules saw. Return None to keep the
    rules' choice, or the plan with another placement and a reason that says
    why (Kandinsky's combined pipelines cannot take device_map="balanced").
    """


@hookspec
def autopipe_from_pretrained(family: str, pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """Load `model` as `pipeline_class` when the family needs more than ``pipeline_class.from_pretrained``.

    Return None to let the core call ``pipeline_class.from_pretrained(model,
    **kwargs)`` (almost every family). A family whose pipelines assemble
    several checkpoints (Kandinsky's decoder finds its prior) does it here.
    ``kwargs`` are the caller's, less the modifier keywords that only chose
    the class; pass them on.
    """


@hookspec
def autopipe_detect(header: SafetensorsHeader) -> Sequence[Detection] | Detection | None:
    """Recognise a single-file checkpoint of your families from its header alone.

    ``header`` holds the tensor names, dtypes and shapes and the metadata of
    a .safetensors file, never its data (see :mod:`autopipe_core.headers`).
    Return a :class:`~autopipe_core.specs.Detection` (or several, or None
    when the file is none of yours) saying which family and variant it is,
    how sure you are and from which tensors, with the class and the shipped
    config folder that load it. Asked of every plugin, one at a time; a
    plugin that raises is reported by name and the others still answer.
    Must import nothing heavy and read nothing but ``header``.
    """


@hookspec
def autopipe_detect_keys() -> Sequence[str]:
    """Tensor names one of which every file your ``autopipe_detect`` claims holds: it is shown only such files.

    Called once per process, when the registry is built, like the other
    registration hooks: return constants, written in the plugin's package
    (not its detection module, which this hook exists to leave unimported).
    Give each name as a file holds it, once per prefix your layouts put
    before it (``"model.diffusion_model.img_in.weight"`` and
    ``"img_in.weight"``). A file that holds none of them is answered "not one
    of its families" without calling ``autopipe_detect`` or importing the
    module it lives in, so a file is read by the one or two plugins whose
    layout it is, not by every plugin installed (``autopipe scan``'s and a
    cold ``autopipe resolve FILE``'s time). Return nothing (or leave the hook
    out) to be shown every file. The conformance kit checks that each tiny
    single file of yours holds one.
    """


@hookspec
def autopipe_from_single_file(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """Load the single-file checkpoint at `path` as `pipeline_class` when the default is not enough.

    Return None to let the core load it (``autopipe_core.toolkit.single_file.default_load``):
    ``pipeline_class.from_single_file(path, config=detection.config,
    local_files_only=True, **kwargs)``, with the CLIP tokenizers the config
    folder names but has no vocabulary for built from the merges the core
    ships; ``kwargs`` already hold that ``config`` and ``local_files_only``
    (the caller's own win). A family that needs more (SD's zero-terminal-SNR
    files need a scheduler that can rescale) adds it to ``kwargs`` and calls
    ``default_load`` itself. Asked of the plugin that made the detection.
    """


@hookspec
def autopipe_build_tiny(family: str, path: Path, variant: str | None) -> None:
    """Write a tiny random-weight diffusers checkpoint of ``family`` to ``path`` with ``save_pretrained``.

    ``variant`` is None for the family's ordinary checkpoint or one of its
    :class:`~autopipe_core.specs.Variant` names (e.g. "inpainting"). Used by
    tests, ``autopipe demo`` and the plugin conformance kit; it must work
    offline (build tokenizers in memory) and in seconds on a CPU.
    """


#: The hooks asked once per process, when the registry is built: a plugin failing any of them is left out whole.
REGISTRATION_HOOKS: tuple[str, ...] = ("autopipe_families", "autopipe_pipelines", "autopipe_modifiers", "autopipe_detect_keys")

HOOKS: tuple[str, ...] = tuple(
    name for name, value in list(globals().items()) if name.startswith("autopipe_") and callable(value)
)
