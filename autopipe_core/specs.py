"""The data plugins hand to the core, and the core hands back.

All frozen: a registration, once made, cannot be changed by whoever holds it.
Class references are strings ("module:Class") so that registering a family
imports nothing; the class is imported only when a pipeline is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from .detection import Detection, check_name, check_ref  # Detection: its name here too, where it was defined before
from .errors import PlacementError
from .tasks import Task


#: Placements a LoadPlan can choose, in order of decreasing device memory.
PLACEMENTS = ("device", "balanced", "model_cpu_offload", "sequential_cpu_offload")
DTYPES = ("float32", "float16", "bfloat16")


def class_name(ref: str) -> str:
    """The bare class name of a "module:Class" reference."""
    return ref.rpartition(":")[2]


def import_class(ref: str) -> type:
    """Import "module:Class" (the first point at which diffusers is imported).

    It once paused the cyclic garbage collector for the import, to save the collector's passes over a first
    import of torch and diffusers; make bench measured that with and without it in the same rounds (SD 1.5 and
    SDXL, ten rounds each): no faster (time ratios 1.015 and 0.990) and more peak memory (+5.7 and +0.4 MiB),
    so it went.
    """
    module_name, _, name = ref.partition(":")
    return getattr(importlib.import_module(module_name), name)


def _frozen_tasks(mapping: Mapping[Any, Any] | None, where: str) -> Mapping[Task, Any]:
    return MappingProxyType({Task.parse(k): v for k, v in (mapping or {}).items()})


@dataclass(frozen=True)
class PipelineRow:
    """One row of a family's table: with these modifiers, this class does that task.

    `modifiers` is empty for the family's plain pipelines; {"pag"} for the PAG
    ones, {"controlnet"} for ControlNet and so on. A task left out of `classes`
    cannot be done with these modifiers; `missing` may say why, and the error
    the user gets repeats it.

    `on_disk`, when set, is the modifiers a checkpoint read from disk resolves
    with when its model_index.json names one of this row's classes, where a
    live pipeline of the class keeps the row's own. Kandinsky uses it: a
    decoder folder loads as the combined pipeline (diffusers finds the prior),
    while from_pipe of a decoder-only pipeline stays decoder-only.
    """

    family: str
    classes: Mapping[Task, str]
    modifiers: frozenset[str] = frozenset()
    missing: Mapping[Task, str] = field(default_factory=dict)
    on_disk: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_name(self.family, "family name")
        where = f"pipelines of {self.family!r}"
        classes = _frozen_tasks(self.classes, where)
        for ref in classes.values():
            check_ref(ref, where)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "missing", _frozen_tasks(self.missing, where))
        mods = self.modifiers
        if isinstance(mods, str) or not isinstance(mods, Iterable):
            raise ValueError(f"{where}: modifiers must be a set of names, not {mods!r}")
        object.__setattr__(self, "modifiers", frozenset(check_name(m, "modifier") for m in mods))
        if self.on_disk is not None:
            if isinstance(self.on_disk, str):
                raise ValueError(f"{where}: on_disk must be a set of modifier names, not {self.on_disk!r}")
            object.__setattr__(self, "on_disk", frozenset(check_name(m, "modifier") for m in self.on_disk))


class _Present:
    """The value of :data:`PRESENT`."""

    def __repr__(self) -> str:
        return "PRESENT"


#: A Variant's or Requirement's value meaning "the key is set, to anything but null".
PRESENT = _Present()


def config_value(configs: Mapping[str, Mapping[str, Any]], component: str, key: str) -> Any:
    """``configs[component][key]``, or None where the config or the key is absent."""
    config = configs.get(component)
    return config.get(key) if isinstance(config, Mapping) else None


def _holds(value: Any, expected: Any) -> bool:
    return value is not None if expected is PRESENT else value == expected


@dataclass(frozen=True)
class Variant:
    """A kind of checkpoint within a family, told apart by one value in one component config.

    Example: an SD UNet with `in_channels == 9` is an inpainting-only
    checkpoint; `tasks` is what such a checkpoint can do, and `reason` is
    quoted when it is asked for anything else.
    """

    name: str
    component: str
    key: str
    value: Any
    tasks: frozenset[Task]
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", frozenset(Task.parse(t) for t in self.tasks))

    def matches(self, configs: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether the component's config has this value at this key (:data:`PRESENT`: any value but null)."""
        return self.component in configs and _holds(config_value(configs, self.component, self.key), self.value)


@dataclass(frozen=True)
class Requirement:
    """A fact every checkpoint of a family shows in one component config; a checkpoint that lacks it is not the family.

    `key` of `component`'s config must be one of `values` (None: absent or
    null; :data:`PRESENT`: set). `otherwise` says what a checkpoint that fails
    it is instead, with ``{value}`` for what it has: SDXL requires a UNet with
    no ``encoder_hid_dim``; the original Kolors repo names an SDXL class, but
    its UNet projects ChatGLM's 4096-wide embeddings there. Resolution refuses
    such a checkpoint with that sentence, or gives it to another family that
    claims the class and whose requirements it meets.
    """

    component: str
    key: str
    values: frozenset[Any]
    otherwise: str

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = (values,)
        object.__setattr__(self, "values", frozenset(values))

    def met(self, configs: Mapping[str, Mapping[str, Any]]) -> bool:
        """Met, or not decidable (the component's config was not read): a requirement only refuses on evidence."""
        if self.component not in configs:
            return True
        value = config_value(configs, self.component, self.key)
        return any(_holds(value, v) for v in self.values)

    def reason(self, configs: Mapping[str, Mapping[str, Any]]) -> str:
        value = config_value(configs, self.component, self.key)
        return self.otherwise.replace("{value}", str(value)[:80])


@dataclass(frozen=True)
class FamilySpec:
    """A model family: what the core needs to know besides its pipeline table.

    `recognised` maps class names that belong to the family but cannot be
    loaded for a task (a prior, a super-resolution stage) to the sentence that
    says what to load instead. `priority` decides between two plugins that
    claim the same class: the higher wins.
    """

    name: str
    description: str = ""
    variants: tuple[Variant, ...] = ()
    recognised: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    configs: tuple[str, ...] = ()  # more component configs the loading code wants (e.g. "vae"), beyond the variants'
    requires: tuple[Requirement, ...] = ()  # facts every checkpoint of the family shows (see Requirement)
    example: str = ""  # a hub repo id of a real checkpoint of the family, for hints ("stable-diffusion-v1-5/stable-diffusion-v1-5")
    #: Constructor arguments the family's pipelines keep outside their config, and how to read each back from a
    #: live pipeline (SDXL: add_watermarker -> ``pipeline.watermark is not None``), so that from_pipe carries them.
    #: An argument kept as an attribute of its own name (PAG's pag_applied_layers) needs no reader.
    init_readers: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: Class names checkpoints of this family write in model_index.json although another family registers them
    #: (the original Kolors repository names StableDiffusionXLPipeline): this family claims such a checkpoint when
    #: its `requires` hold and those of the class's own family do not. Resolution stays a table look-up.
    also_named: frozenset[str] = frozenset()
    #: Component entries of model_index.json, as (library, class name), that the family's own loading code builds
    #: from a fixed table of its own classes, importing nothing the entry names, and hands diffusers as objects
    #: (Würstchen's models, whose old ``["wuerstchen", ...]`` entries diffusers 0.42.1 cannot load): the guard lets
    #: exactly these pass for checkpoints resolved to this family. The loading code must load every one of them.
    loads_itself: frozenset[tuple[str, str]] = frozenset()
    #: Keywords the command line adds to its calls of this family's built-in tiny checkpoint (``autopipe demo``,
    #: ``generate --family``), where the pipeline's defaults would make a tiny call slow: a video family under
    #: text2img (Helios) draws one frame, not 132. Only the keywords a pipeline's call takes are passed.
    tiny_call: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "family name")
        object.__setattr__(self, "tiny_call", MappingProxyType(dict(self.tiny_call)))
        if not all(isinstance(k, str) and k.isidentifier() for k in self.tiny_call):
            raise ValueError(f"family {self.name!r}: tiny_call's keys must be keyword names")
        object.__setattr__(self, "loads_itself", frozenset(tuple(e) if isinstance(e, list) else e for e in self.loads_itself))
        for entry in self.loads_itself:
            if not (isinstance(entry, tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
                raise ValueError(f"family {self.name!r}: loads_itself holds (library, class name) pairs, not {entry!r}")
        if isinstance(self.also_named, str):
            raise ValueError(f"family {self.name!r}: also_named must be a set of class names, not a string")
        object.__setattr__(self, "also_named", frozenset(self.also_named))
        if self.also_named and not self.requires:
            raise ValueError(f"family {self.name!r}: also_named needs requires, the facts that tell its checkpoints from the class's own family's")
        object.__setattr__(self, "variants", tuple(self.variants))
        for v in self.variants:
            if not isinstance(v, Variant):
                raise ValueError(f"family {self.name!r}: variants must be Variant, not {type(v).__name__}")
        object.__setattr__(self, "recognised", MappingProxyType(dict(self.recognised)))
        if isinstance(self.configs, str):
            raise ValueError(f"family {self.name!r}: configs must be a tuple of component names, not a string")
        object.__setattr__(self, "configs", tuple(self.configs))
        object.__setattr__(self, "requires", tuple(self.requires))
        for r in self.requires:
            if not isinstance(r, Requirement):
                raise ValueError(f"family {self.name!r}: requires must be Requirement, not {type(r).__name__}")
        object.__setattr__(self, "init_readers", MappingProxyType(dict(self.init_readers)))
        for name, reader in self.init_readers.items():
            if not callable(reader):
                raise ValueError(f"family {self.name!r}: the reader of {name!r} must be callable")

    @property
    def config_components(self) -> tuple[str, ...]:
        """The component configs worth reading for this family: its variants' and the ones it asked for."""
        return tuple(dict.fromkeys([*(v.component for v in self.variants), *(r.component for r in self.requires), *self.configs]))

    def unmet(self, configs: Mapping[str, Mapping[str, Any]]) -> Requirement | None:
        """The first requirement these component configs fail, or None."""
        return next((r for r in self.requires if not r.met(configs)), None)


@dataclass(frozen=True)
class ModifierSpec:
    """A keyword argument that changes the class rather than (only) the pipeline.

    `choose` maps the argument's value to one of `modifiers`, or to None to
    remove them all (``enable_pag=False``, ``controlnet=None``). `consume`
    says whether the argument is taken away before the class is called
    (``enable_pag`` is not an argument of any pipeline; ``controlnet`` is).
    """

    kwarg: str
    modifiers: frozenset[str]
    choose: Callable[[Any], str | None]
    consume: bool = False
    description: str = ""  # one line for ``--help``: a switch (consumed, chosen by True) becomes a command-line flag
    #: Class names of the models the keyword takes ("ControlNetModel"): a folder or file holding one is told to pass it so.
    components: frozenset[str] = frozenset()
    #: fits(value, identity) -> None, or why the value cannot work with this checkpoint (a ControlNet for another UNet).
    fits: Callable[[Any, Any], str | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "modifiers", frozenset(check_name(m, "modifier") for m in self.modifiers))
        object.__setattr__(self, "components", frozenset(self.components))
        if not callable(self.choose):
            raise ValueError(f"modifier {self.kwarg!r}: choose must be callable")
        if self.fits is not None and not callable(self.fits):
            raise ValueError(f"modifier {self.kwarg!r}: fits must be callable")

    def apply(self, current: frozenset[str], value: Any) -> frozenset[str]:
        chosen = self.choose(value)
        if chosen is not None and chosen not in self.modifiers:
            raise ValueError(f"modifier {self.kwarg!r} chose {chosen!r}, which it did not declare")
        rest = current - self.modifiers
        return rest | {chosen} if chosen else rest


@dataclass(frozen=True)
class Identity:
    """What the cheap reads found out about a checkpoint or a live pipeline.

    `reference` is canonical: an absolute path with links resolved for a folder
    or a file, the repo id for the hub. `configs` holds only the component
    configs that some family asked for; `files` lists the checkpoint's files
    (relative paths) where they are known without downloading anything, else None
    (a folder's, :class:`autopipe_core.sources.FolderFiles`, is a sequence that
    lists the folder the first time it is read, and compares equal to that tuple).
    """

    origin: str  # "folder", "hub", "pipeline" or "file" (a single-file checkpoint)
    reference: str
    class_name: str
    components: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    files: Sequence[str] | None = None  # a tuple, or a folder's FolderFiles
    bases: tuple[str, ...] = ()  # a live pipeline's class names along its MRO, own first
    detection: Detection | None = None  # origin "file": what the header was recognised as, and by whom
    commit: str | None = None  # origin "hub": the commit whose files were read (loading pins it as the revision)

    def has_weight_variant(self, variant: str) -> bool:
        """True when the checkpoint is known to ship weight files of this variant (e.g. "fp16"), sharded or not."""
        markers = (f".{variant}.", f".{variant}-")  # model.fp16.safetensors, model.fp16-00001-of-00002.safetensors
        return bool(self.files) and any(m in f.rpartition("/")[2] for f in self.files for m in markers)


#: The torch device types autopipe places pipelines on (the planner's DeviceFacts.type).
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def device_type(name: str) -> str:
    """The type of a device name autopipe places pipelines on: "cuda" for "cuda" or "cuda:1", read without torch.

    torch's own spelling (``torch.device``): a type from DEVICE_TYPES, lower case, optionally ``:`` and a device
    index. Raises PlacementError for anything else ("gpu", "CUDA", "cuda:x", "meta"), naming what works, so a
    mistyped name is refused before a plan is made or torch imported.
    """
    kind, sep, index = name.partition(":")
    if kind not in DEVICE_TYPES or (sep and not (index.isascii() and index.isdigit())):
        raise PlacementError(f"device {name!r} is not one autopipe places pipelines on: pass cpu, cuda, cuda:1 (a device index), mps or xpu")
    return kind


@dataclass(frozen=True)
class DeviceFacts:
    """The machine as the loading code sees it. Tests inject these; `loading.detect` reads them from torch."""

    type: str = "cpu"  # "cpu", "cuda", "mps", "xpu"
    count: int = 0
    free_bytes: int | None = None
    total_bytes: int | None = None
    bf16: bool = False

    @property
    def accelerated(self) -> bool:
        return self.type != "cpu"


@dataclass(frozen=True)
class LoadPlan:
    """How to load a pipeline on a device: dtype, weight variant, placement, and why.

    `component_dtypes` overrides `dtype` for named components, e.g. {"vae":
    "float32"} for a VAE that overflows in float16.

    `skip` names components not loaded at all: diffusers is handed
    ``name=None`` for each (SD3's ``text_encoder_3``, 9 GiB of T5 the pipeline
    can do without), and the planner does not count them. `extra` holds more
    ``from_pretrained`` keywords (``{"use_safetensors": True}``). The caller's
    own keywords win over both. Neither may name what the other fields say
    (dtype, variant, the device map).
    """

    dtype: str
    variant: str | None
    placement: str
    device: str
    reason: str
    component_dtypes: Mapping[str, str] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "component_dtypes", MappingProxyType(dict(self.component_dtypes)))
        for dtype in (self.dtype, *self.component_dtypes.values()):
            if dtype not in DTYPES:
                raise ValueError(f"load plan dtype {dtype!r} is not one of {DTYPES}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"load plan placement {self.placement!r} is not one of {PLACEMENTS}")
        wrong = f"load plan skip must be a set of component names, not {str(self.skip)[:80]}"
        if isinstance(self.skip, str) or not isinstance(self.skip, Iterable):
            raise ValueError(wrong)
        skip = frozenset(s if isinstance(s, str) and s.isidentifier() else "" for s in self.skip)  # once: a generator is read a single time
        if "" in skip:
            raise ValueError(wrong)
        object.__setattr__(self, "skip", skip)
        if not isinstance(self.extra, Mapping):
            raise ValueError(f"load plan extra must be a mapping of from_pretrained keywords, not {type(self.extra).__name__}")
        extra = MappingProxyType(dict(self.extra))
        for key in extra:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"load plan extra: {str(key)[:40]!r} is not a keyword name")
            if key in PLAN_KEYWORDS:
                raise ValueError(f"load plan extra: {key!r} is the plan's own to say (its dtype, variant, component_dtypes or placement fields)")
        clash = sorted(self.skip & set(extra))
        if clash:
            raise ValueError(f"load plan: {', '.join(clash)} both skipped and given in extra")
        object.__setattr__(self, "extra", extra)


#: from_pretrained keywords a LoadPlan's own fields decide, which its `extra` may not name.
PLAN_KEYWORDS = frozenset({"dtype", "torch_dtype", "variant", "device_map", "max_memory"})


#: The largest byte count or image side a plan believes: beyond these a figure is a bug or an absurd config
#: (a sample_size of 10**300), refused before it reaches arithmetic that would overflow a float.
MAX_PLAN_BYTES = 1 << 60  # 1 EiB
MAX_IMAGE_SIDE = 1 << 20  # pixels


def _check_count(value: object, what: str, limit: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"{what} must be an integer from 0 to {limit}, not {str(value)[:40]}")


@dataclass(frozen=True)
class ComponentBytes:
    """One component's device memory in the dtype it will load in; `nbytes` None when it could not be read.

    `nbytes` and `parameters` are counts (bytes, elements) in the dtype `dtype`
    (a torch dtype name, "float16"). `source` says where the figure comes from
    (the safetensors headers, a pickle file's size, a live object passed in, or
    why it is unknown) and `files` which files were read, so that a doubtful
    figure can be checked.
    """

    name: str
    nbytes: int | None
    parameters: int | None
    dtype: str
    source: str
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_count(self.nbytes, f"component {self.name!r}: nbytes", MAX_PLAN_BYTES, optional=True)
        _check_count(self.parameters, f"component {self.name!r}: parameters", MAX_PLAN_BYTES, optional=True)


@dataclass(frozen=True)
class Activation:
    """The family's allowance for everything besides weights during a call at `width` x `height` pixels.

    `nbytes` covers activations, workspaces and allocator slack (bytes); `reason` says how it was estimated.
    """

    nbytes: int
    width: int
    height: int
    reason: str

    def __post_init__(self) -> None:
        _check_count(self.nbytes, "activation nbytes", MAX_PLAN_BYTES)
        _check_count(self.width, "activation width", MAX_IMAGE_SIDE)
        _check_count(self.height, "activation height", MAX_IMAGE_SIDE)


NO_ACTIVATION = Activation(0, 0, 0, "the family declares no activation allowance")


@dataclass(frozen=True)
class Footprint:
    """What a pipeline will hold on the device: its components' weights and the family's activation allowance.

    The core counts `components` from weight-file headers; a family's
    ``autopipe_footprint`` hook adds its `activation` and what the core could not see.
    """

    components: tuple[ComponentBytes, ...]
    activation: Activation = NO_ACTIVATION

    def __post_init__(self) -> None:
        object.__setattr__(self, "components", tuple(self.components))
        for c in self.components:
            if not isinstance(c, ComponentBytes):
                raise ValueError(f"a Footprint holds ComponentBytes, not {type(c).__name__}")
        if not isinstance(self.activation, Activation):
            raise ValueError(f"a Footprint's activation is an Activation, not {type(self.activation).__name__}")

    @property
    def weights(self) -> int:
        """The known weight bytes, all components together."""
        return sum(c.nbytes for c in self.components if c.nbytes is not None)

    @property
    def unknown(self) -> tuple[ComponentBytes, ...]:
        return tuple(c for c in self.components if c.nbytes is None)

    @property
    def largest(self) -> ComponentBytes | None:
        known = [c for c in self.components if c.nbytes is not None]
        return max(known, key=lambda c: c.nbytes) if known else None

    def component(self, name: str) -> ComponentBytes | None:
        return next((c for c in self.components if c.name == name), None)

    def with_component(self, component: ComponentBytes) -> "Footprint":
        """This footprint with `component` added, or replacing the one of the same name."""
        if self.component(component.name) is None:
            return replace(self, components=(*self.components, component))
        return replace(self, components=tuple(component if c.name == component.name else c for c in self.components))

    def with_activation(self, activation: Activation) -> "Footprint":
        return replace(self, activation=activation)
