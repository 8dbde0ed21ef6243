"""Memory-aware placement: where a pipeline goes, planned from weight-file headers before a byte of weight is read.

Users of diffusers choose by hand between ``.to("cuda")``,
``enable_model_cpu_offload()``, ``enable_sequential_cpu_offload()`` and
``device_map="balanced"``, usually after an out-of-memory error. autopipe
knows the checkpoint's family and files before loading, so it plans:

1. the family's loading code (``autopipe_load_plan``, else the core's
   default, :func:`autopipe_core.toolkit.plans.half_precision_plan`) picks
   dtype, weight variant, per-component dtypes and the components left out;
2. the core counts each component's bytes in that dtype from the headers of
   the weight files that variant would load (:func:`footprint`): parameters
   x itemsize, from the safetensors header alone (:mod:`autopipe_core.headers`);
3. the family's ``autopipe_footprint`` adds its activation allowance at the
   image size, and anything the core cannot see (Kandinsky's prior, kept in
   another folder; T5's feed-forward output kept in float32);
4. the rules below pick the placement (:func:`choose`);
5. the family's ``autopipe_placement`` may override it, for reasons of its own.

The rules, with the activation allowance added on each side:

- everything fits on the device: ``"device"``;
- several CUDA devices, and diffusers' ``device_map="balanced"`` would put
  every component on one of them (checked with diffusers' own assignment,
  mirrored in :func:`balanced_assignment`): ``"balanced"``;
- the largest component fits, with the activations: ``"model_cpu_offload"``;
- less: ``"sequential_cpu_offload"``.

On the CPU there is nothing to plan: weights stay in RAM ("device"). Where
the budget is unknown (no ``memory=``, and the device reports none) or a
component's size could not be read, the rules are not applied and the
reason says so. This module imports nothing heavy: ``autopipe plan`` answers
from JSON and headers.
"""

from __future__ import annotations

__all__ = ['Activation', 'CHOICES', 'ComponentBytes', 'FLOATING', 'Footprint', 'GiB', 'ITEMSIZE', 'KiB', 'MiB', 'NO_ACTIVATION', 'Placement', 'PlacementError', 'Rule', 'WEIGHT_VARIANTS', 'balanced_assignment', 'choose', 'component_dtype', 'count_component', 'count_folder', 'count_hub', 'count_tensors', 'dtype_name', 'family_plan', 'file_footprint', 'file_sizes', 'fit_variant', 'folder_reader', 'footprint', 'format_plan', 'gib', 'hub_reader', 'list_folder', 'live_bytes', 'parse_memory', 'plan', 'recount', 'scaled', 'stored_variants', 'user_plan', 'weight_files']

import json
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .errors import InvalidModelError, PlacementError  # noqa: F401 - PlacementError re-exported
from .headers import DTYPE_BYTES, SafetensorsHeader, TensorInfo, read_header
from .options import hub_options
from .registry import Registry, get_registry
from .resolve import Resolution
from .sources import with_files
from .units import GiB, KiB, MiB, gib, parse_memory  # noqa: F401 - re-exported for plugins written against them
from .specs import DTYPES, NO_ACTIVATION, PLACEMENTS, Activation, ComponentBytes, DeviceFacts, Footprint, Identity, LoadPlan  # noqa: F401 - the hook types, re-exported
from .weight_variants import WEIGHT_VARIANTS, stored_variants, weight_files  # noqa: F401 - re-exported, planning's names before weight_variants

#: Bytes per element of each dtype a LoadPlan can choose.
ITEMSIZE: Mapping[str, int] = MappingProxyType({"float32": 4, "float16": 2, "bfloat16": 2})

#: Safetensors dtypes that ``torch_dtype=`` casts; integer and bool tensors keep their own size.
FLOATING = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F6_E2M3", "F6_E3M2", "F4"})

#: What from_pretrained(placement=...) accepts: "auto" plans; a placement name forces it.
CHOICES = ("auto", *PLACEMENTS)

#: Component classes that hold no weights, by the libraries' naming (where a checkpoint's files cannot be listed).
_NOT_A_MODEL = re.compile(r"(Scheduler|Tokenizer|TokenizerFast|Processor|ProcessorPil|FeatureExtractor)$")


@dataclass(frozen=True)
class Placement:
    """The whole answer: the LoadPlan to apply and the figures it was chosen from.

    `rule` is what the rules chose, `plan.placement` what will be done (they
    differ when the family's ``autopipe_placement`` overrode the rules,
    `overridden_by` then names its plugin, or the caller forced one).
    `max_memory` is the per-GPU budget handed to diffusers with
    ``device_map="balanced"``, `device_map` the assignment diffusers will make.
    """

    plan: LoadPlan
    footprint: Footprint
    budget: int | None
    devices: int
    rule: str
    overridden_by: str | None = None
    max_memory: Mapping[int, int] | None = None
    device_map: Mapping[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``autopipe plan --json``."""
        return {
            "dtype": self.plan.dtype,
            "variant": self.plan.variant,
            "placement": self.plan.placement,
            "device": self.plan.device,
            "estimated_bytes": self.footprint.weights,
            "activation_bytes": self.footprint.activation.nbytes,
            "activation_size": [self.footprint.activation.width, self.footprint.activation.height],
            "budget_bytes": self.budget,
            "devices": self.devices,
            "rule": self.rule,
            "overridden_by": self.overridden_by,
            "component_dtypes": dict(self.plan.component_dtypes),
            "skipped_components": sorted(self.plan.skip),
            "extra_keywords": {k: _jsonable(v) for k, v in self.plan.extra.items()},
            "components": {
                c.name: {"bytes": c.nbytes, "parameters": c.parameters, "dtype": c.dtype, "source": c.source}
                for c in self.footprint.components
            },
            "unknown_components": [c.name for c in self.footprint.unknown],
            "max_memory": None if self.max_memory is None else {str(k): v for k, v in self.max_memory.items()},
            "device_map": None if self.device_map is None else dict(self.device_map),
            "reason": self.plan.reason,
        }


def _jsonable(value: Any) -> Any:
    """`value` as JSON holds it (numbers, strings, booleans, None, lists and dicts of them), else its repr."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


# --- counting bytes from headers -------------------------------------------------------------------------------


def count_tensors(tensors: Iterable[tuple[str, str, Sequence[int]]], dtype: str, keep_float32: Iterable[str] = ()) -> tuple[int, int]:
    """(parameters, bytes) of (name, safetensors dtype, shape) triples loaded with ``torch_dtype=dtype``.

    Floating tensors take `dtype`'s itemsize, except those whose dotted name
    has a part in `keep_float32` (transformers' ``_keep_in_fp32_modules``:
    T5 keeps its ``wo`` layers in float32 when loaded in float16); integer
    and bool tensors keep their own.
    """
    keep = frozenset(keep_float32)
    parameters = nbytes = 0
    for name, stored, shape in tensors:
        numel = 1
        for d in shape:
            numel *= d
        parameters += numel
        if stored in FLOATING:
            size = 4 if keep and dtype != "float32" and keep.intersection(name.split(".")) else ITEMSIZE[dtype]
        else:
            size = DTYPE_BYTES[stored]
        nbytes += numel * size
    return parameters, nbytes


def fit_variant(plan: LoadPlan, identity: Identity) -> LoadPlan:
    """The plan's weight variant checked against the files: one every weighted component can load.

    diffusers loads, with ``variant=v``, each component's ``*.v.*`` files
    where it has them and its plain files where not; without a variant, the
    plain files only. So a checkpoint saved only as fp16 (or only as bf16)
    files needs that variant whatever the device, and a variant no file has is
    no use. The plan's own choice is kept when it works; otherwise the one
    variant that covers every component, with the reason said.
    """
    files = identity.files
    if files is None or identity.origin not in ("folder", "hub"):
        return plan
    stored = {name: stored_variants(files, name) for name in identity.components}
    stored = {name: kinds for name, kinds in stored.items() if kinds}
    if not stored:
        return plan

    def covers(variant: str | None) -> bool:
        return all(None in kinds or variant in kinds for kinds in stored.values())

    if covers(plan.variant):
        return plan
    candidates = [v for v in (*WEIGHT_VARIANTS, *sorted({k for kinds in stored.values() for k in kinds if k})) if covers(v)]
    if not candidates:
        return plan  # no single variant loads every component: counting says which, and the rules are not applied
    chosen = candidates[0]
    only = sorted(name for name, kinds in stored.items() if None not in kinds)
    why = f"the {chosen} files, as {', '.join(only)} {'has' if len(only) == 1 else 'have'} no other weights" if only else f"the {chosen} files"
    return replace(plan, variant=chosen, reason=f"{plan.reason}; variant {chosen}: {why}")


Reader = Callable[[str], Iterable[tuple[str, str, Sequence[int]]]]


def folder_reader(root: str | os.PathLike[str]) -> Reader:
    """Reads (name, dtype, shape) of every tensor of a file under `root`, from its checked header."""

    def read(relpath: str) -> list[tuple[str, str, Sequence[int]]]:
        header = read_header(Path(root) / relpath)
        return [(name, t.dtype, t.shape) for name, t in header.tensors.items()]

    return read


def hub_reader(repo_id: str, revision: str | None = None, token: Any = None) -> Reader:
    """Reads a hub file's safetensors header with huggingface_hub (HTTP range requests: the header, never the weights)."""

    def read(relpath: str) -> list[tuple[str, str, Sequence[int]]]:
        from huggingface_hub import parse_safetensors_file_metadata

        meta = parse_safetensors_file_metadata(repo_id, relpath, revision=revision, token=token)
        return [(name, t.dtype, tuple(t.shape)) for name, t in meta.tensors.items()]

    return read


def file_sizes(root: str | os.PathLike[str]) -> Callable[[str], int]:
    """A file's size under `root`: all that is known of a pickle file, which is never opened."""
    return lambda relpath: os.stat(Path(root) / relpath).st_size


def count_component(
    name: str,
    files: Iterable[str],
    variant: str | None,
    dtype: str,
    read: Reader,
    size_of: Callable[[str], int] | None = None,
    keep_float32: Iterable[str] = (),
    label: str | None = None,
) -> ComponentBytes | None:
    """The bytes of the component stored in the folder `name` (named `label`, default `name`), or None if it holds no weights.

    Pickle weights are never opened: their size is estimated from the file
    size (assumed float32, or float16 for a variant file named so), and the
    source says so. A header that cannot be read makes the component unknown.
    """
    files = tuple(files)
    chosen, kind, tagged = weight_files(files, name, variant)
    label = label or name
    if not chosen:
        other = sorted(v or "plain" for v in stored_variants(files, name))
        if not other:
            return None  # no weights at all: a tokenizer, a scheduler
        return ComponentBytes(
            label, None, None, dtype,
            f"unknown: diffusers would look for its {variant or 'plain'} weight files and it has only {', '.join(other)} ones", (),
        )
    if kind == "pickle":
        if size_of is None:
            return ComponentBytes(label, None, None, dtype, "pickle weights (.bin) only, and their size is not known here", chosen)
        stored = 2 if tagged and variant in ("fp16", "bf16") else 4
        total = sum(size_of(f) for f in chosen)
        return ComponentBytes(
            label, total * ITEMSIZE[dtype] // stored, total // stored, dtype,
            f"estimated from the size of pickle weights (.bin, not opened; assumed {'16' if stored == 2 else '32'}-bit)", chosen,
        )
    tensors: list[tuple[str, str, Sequence[int]]] = []
    try:
        for f in chosen:
            tensors.extend(read(f))
    except InvalidModelError as exc:  # a truncated file: the plan says so; loading it will fail as diffusers fails
        return ComponentBytes(label, None, None, dtype, f"unreadable: {exc}", chosen)
    except Exception as exc:  # offline hub, permissions: say so, plan without it
        return ComponentBytes(label, None, None, dtype, f"could not read the header of {f}: {type(exc).__name__}: {exc}", chosen)
    parameters, nbytes = count_tensors(tensors, dtype, keep_float32)
    note = "" if tagged or not variant else f" (no {variant} files: the plain ones)"
    return ComponentBytes(label, nbytes, parameters, dtype, f"safetensors headers{note}", chosen)


def list_folder(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """Every file under `root` up to two levels down (relative paths), enough for a pipeline's component folders."""
    root = Path(root)
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if len(rel.parts) <= 3 and not any(p.startswith(".") for p in rel.parts) and path.is_file():
            out.append(rel.as_posix())
    return tuple(sorted(out))


def component_dtype(plan: LoadPlan, name: str) -> str:
    """The dtype `name` loads in: its own in ``plan.component_dtypes`` (SDXL's float32 VAE), else the plan's."""
    return plan.component_dtypes.get(name, plan.dtype)


def count_folder(root: str | os.PathLike[str], plan: LoadPlan, components: Iterable[str], label_prefix: str = "") -> list[ComponentBytes]:
    """The bytes of each named component of the pipeline folder at `root`, named `label_prefix + name`.

    For weights a pipeline takes from another folder: Kandinsky's combined
    pipelines count their prior's components as ``prior_<name>``.
    """
    files = list_folder(root)
    read, size_of = folder_reader(root), file_sizes(root)
    out = []
    for name in components:
        label = label_prefix + name
        c = count_component(name, files, plan.variant, component_dtype(plan, label), read, size_of, label=label)
        if c is not None:
            out.append(c)
    return out


def count_hub(repo_id: str, plan: LoadPlan, components: Iterable[str], label_prefix: str = "", revision: str | None = None, token: Any = None) -> list[ComponentBytes]:
    """:func:`count_folder` for a hub repo: its file list and each header through huggingface_hub, no weights.

    Raises what huggingface_hub raises (offline, not found): the caller says
    why the figure is missing.
    """
    from huggingface_hub import list_repo_files

    files = tuple(list_repo_files(repo_id, revision=revision, token=token))
    read = hub_reader(repo_id, revision, token)
    out = []
    for name in components:
        label = label_prefix + name
        c = count_component(name, files, plan.variant, component_dtype(plan, label), read, label=label)
        if c is not None:
            out.append(c)
    return out


def recount(identity: Identity, component: ComponentBytes, keep_float32: Iterable[str], hub: Mapping[str, Any] = {}) -> ComponentBytes:
    """`component` counted again from its headers with some tensors kept in float32 (see :func:`count_tensors`).

    For a family whose library keeps part of a model in float32 whatever
    ``torch_dtype`` says (transformers' T5 keeps ``wo``): the plugin knows,
    the core does not.
    """
    if component.nbytes is None or not component.files or not component.source.startswith("safetensors"):
        return component
    if identity.origin == "folder":
        read = folder_reader(identity.reference)
    elif identity.origin == "hub":
        read = hub_reader(identity.reference, hub.get("revision"), hub.get("token"))
    else:
        return component
    tensors = [t for f in component.files for t in read(f)]
    parameters, nbytes = count_tensors(tensors, component.dtype, keep_float32)
    kept = ", ".join(sorted(keep_float32))
    return replace(component, nbytes=nbytes, parameters=parameters, source=f"{component.source}; {kept} kept in float32")


def live_bytes(name: str, value: Any) -> ComponentBytes | None:
    """The bytes of a component passed as an object (``controlnet=model``): its parameters as they are, it is not cast."""
    models = list(value) if isinstance(value, (list, tuple)) else [value]
    if not models or not all(callable(getattr(m, "parameters", None)) for m in models):
        return None
    parameters = nbytes = 0
    dtypes = set()
    for m in models:
        for p in m.parameters():
            parameters += p.numel()
            nbytes += p.numel() * p.element_size()
            dtypes.add(str(p.dtype).replace("torch.", ""))
    dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
    return ComponentBytes(name, nbytes, parameters, dtype, "the object passed in, as it is (passed components are not cast)")


def footprint(identity: Identity, plan: LoadPlan, passed: Mapping[str, Any] = {}, hub: Mapping[str, Any] = {}, allow_pickle: bool = False) -> Footprint:
    """Each weighted component's bytes in the plan's dtype and variant, from headers alone; no activation yet.

    Folders are read from disk; hub repos through huggingface_hub (the file
    list and each header, no weights), which offline leaves the components
    unknown. Components passed as objects (`passed`) count as they are; those
    the plan skips (``plan.skip``, handed to diffusers as None) are not counted.
    """
    if identity.origin == "file":
        return file_footprint(identity, plan, passed, allow_pickle)
    names = list(identity.components)
    out: list[ComponentBytes] = []
    files = identity.files
    read: Reader | None = None
    size_of = None
    if identity.origin == "folder":
        files = files if files is not None else list_folder(identity.reference)
        read, size_of = folder_reader(identity.reference), file_sizes(identity.reference)
    elif identity.origin == "hub" and files is not None:
        read = hub_reader(identity.reference, hub.get("revision"), hub.get("token"))
    for name in names:
        if name in passed:
            live = live_bytes(name, passed[name])
            if live is not None:
                out.append(live)
            continue
        if name in plan.skip:
            continue  # not loaded: diffusers is handed None for it
        lib, cls = identity.components[name]
        if lib is None or cls is None:
            continue
        dtype = component_dtype(plan, name)
        if read is None or files is None:
            if not _NOT_A_MODEL.search(cls) and (files is None or any(f.startswith(name + "/") for f in files)):
                out.append(ComponentBytes(name, None, None, dtype, "unknown: the checkpoint's files could not be listed (offline, or not a folder)"))
            continue
        c = count_component(name, files, plan.variant, dtype, read, size_of)
        if c is None and f"{name}/config.json" in files:
            # A model's folder (config.json: a tokenizer, scheduler or processor has none) with no weight files in it: an
            # incomplete download, or a copy of the JSON alone. Its size is not known, never 0 bytes that "fit".
            c = ComponentBytes(name, None, None, dtype, f"unknown: {name}/ has a config.json but no weight files (an incomplete download?)")
        if c is not None:
            out.append(c)
    for name, value in passed.items():
        if name not in identity.components:
            live = live_bytes(name, value)
            if live is not None:
                out.append(live)
    return Footprint(tuple(out))


#: The header a caller has read, for file_footprint to take instead of reading its file again (see header_known).
_KNOWN: ContextVar[SafetensorsHeader | None] = ContextVar("autopipe_known_header", default=None)


@contextmanager
def header_known(header: SafetensorsHeader) -> Iterator[None]:
    """Within the block, :func:`file_footprint` of the file `header` was read from takes it instead of reading again.

    ``autopipe scan`` reads each file once, then asks the family's plan, which may count the file itself through
    :func:`footprint` (SD 3's does, to decide about T5): that count takes the header already read. Scoped to the
    block and to the thread or task (a context variable): nothing outlives the file's classification.
    """
    token = _KNOWN.set(header)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def file_footprint(identity: Identity, plan: LoadPlan, passed: Mapping[str, Any] = {}, allow_pickle: bool = False,
                   header: SafetensorsHeader | None = None) -> Footprint:
    """A single-file checkpoint's bytes per component, from its header: the tensors under each component's key prefix.

    The prefixes are the detecting plugin's (``Detection.prefixes``: SD's UNet
    is ``model.diffusion_model.*``); a tensor counts for the longest prefix it
    starts with, and tensors under none of them (EMA copies, buffers diffusers
    does not load) are not counted. A plugin that gives no prefixes gets the
    whole file as one component, "checkpoint" (the rules then treat it as one
    model). A component the pipeline takes that the file lacks (an SD file
    without its text encoder) is unknown, and says so. `header` is the file's,
    when the caller read it already (``autopipe scan`` reads each file once).
    """
    from collections import Counter

    from .single_file import read

    if header is None:
        known = _KNOWN.get()
        header = known if known is not None and known.path == identity.reference else read(identity.reference, allow_pickle)
    detection = identity.detection
    prefixes = dict(detection.prefixes) if detection is not None else {}
    where = (identity.reference.rpartition("/")[2],)
    tensors = header.tensors
    if not prefixes:
        infos = list(tensors.values())
        parameters, nbytes = _count_infos(Counter(map(id, infos)), dict(zip(map(id, infos), infos)), plan.dtype)
        return Footprint((ComponentBytes("checkpoint", nbytes, parameters, plan.dtype, "the whole file's header (no per-component prefixes from the plugin)", where),))
    # Each tensor's component, by sorted-name ranges (SafetensorsHeader.with_prefix) rather than a test of every
    # prefix on every name. A header shares one TensorInfo among tensors of one dtype and shape: each component's
    # tensors are counted as {id of a TensorInfo: how many}.
    infos = list(tensors.values())
    by_id = dict(zip(map(id, infos), infos))
    values = list(prefixes.values())
    counted: dict[str, Counter[int]] = {}
    if not any(i != j and b.startswith(a) for i, a in enumerate(values) for j, b in enumerate(values)):
        for component, prefix in prefixes.items():  # no prefix within another (the usual case): the ranges are apart
            counted[component] = Counter(map(id, map(tensors.__getitem__, header.with_prefix(prefix))))
    else:  # shortest prefixes first, so a longer one that also matches overwrites them; among equal ones the first wins
        owner: dict[str, str] = {}
        for component, prefix in reversed(sorted(prefixes.items(), key=lambda item: -len(item[1]))):
            owner.update(dict.fromkeys(header.with_prefix(prefix), component))
        pairs = Counter(zip(owner.values(), map(id, map(tensors.__getitem__, owner))))
        for component in prefixes:
            counted[component] = Counter({info: n for (c, info), n in pairs.items() if c == component})
    out: list[ComponentBytes] = []
    for component in prefixes:
        if component in passed or component in plan.skip:
            continue
        dtype = component_dtype(plan, component)
        mine = counted[component]
        if not mine:
            out.append(ComponentBytes(component, None, None, dtype, f"unknown: the file has no {prefixes[component]}* tensors; pass {component}= when loading"))
            continue
        parameters, nbytes = _count_infos(mine, by_id, dtype)
        out.append(ComponentBytes(component, nbytes, parameters, dtype, f"the file's header ({prefixes[component]}*)", where))
    for name, value in passed.items():
        live = live_bytes(name, value)
        if live is not None:
            out.append(live)
    return Footprint(tuple(out))


def _count_infos(counts: Mapping[int, int], by_id: Mapping[int, TensorInfo], dtype: str) -> tuple[int, int]:
    """count_tensors over tensors given as {id(TensorInfo): how many}: a header shares one TensorInfo between the
    tensors of one dtype and shape, so each distinct one is counted once and multiplied (no keep_float32 here)."""
    parameters = nbytes = 0
    for key, n in counts.items():
        info = by_id[key]
        p, b = count_tensors((("", info.dtype, info.shape),), dtype)
        parameters, nbytes = parameters + n * p, nbytes + n * b
    return parameters, nbytes


# --- the rules --------------------------------------------------------------------------------------------------


def balanced_assignment(sizes: Mapping[str, int], budgets: Mapping[int, int]) -> dict[str, int] | None:
    """Where diffusers' ``device_map="balanced"`` puts each component, or None if it would put one on the CPU.

    Mirrors diffusers' ``_assign_components_to_devices`` (diffusers 0.42.1,
    pipelines/pipeline_loading_utils.py): components largest first, devices
    visited 0, 1, ..., n-1, n-1, ..., 0 and around again; a component larger
    than its turn's device's room goes to the CPU. The mirror lets the plan
    say "balanced" only when diffusers will keep everything on GPUs;
    tests/test_placement.py checks it against diffusers' own function.
    """
    order = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    devices = sorted(budgets, key=lambda d: budgets[d], reverse=True)
    if not devices:
        return None
    cycle = devices + devices[::-1]
    room = dict(budgets)
    out: dict[str, int] = {}
    turn = 0
    for name, size in order:
        device = cycle[turn % len(cycle)]
        if size > room[device]:
            return None
        out[name] = device
        room[device] -= size
        turn += 1
    return out


@dataclass(frozen=True)
class Rule:
    """What the rules chose, and the figures that say why."""

    placement: str
    reason: str
    max_memory: Mapping[int, int] | None = None
    device_map: Mapping[str, int] | None = None


def choose(fp: Footprint, device: DeviceFacts) -> Rule:
    """The placement the rules give this footprint on this device (see the module's docstring)."""
    if not device.accelerated:
        return Rule("device", "on the CPU weights stay in RAM; offloading is for accelerators")
    budget = device.free_bytes if device.free_bytes is not None else device.total_bytes
    if budget is None:
        return Rule("device", f"free memory on {device.type} unknown, so the whole pipeline goes on it (pass memory= to plan)")
    if fp.unknown:
        names = ", ".join(f"{c.name} ({c.source})" for c in fp.unknown)
        return Rule("device", f"the size of {names} is not known, so the memory rules were not applied: whole pipeline on {device.type}")
    act = fp.activation
    allowance = f"activations {gib(act.nbytes)} at {act.width}x{act.height}" if act.nbytes else "no activation allowance"
    need = fp.weights + act.nbytes
    if need <= budget:
        return Rule("device", f"weights {gib(fp.weights)} + {allowance} = {gib(need)} fit in {gib(budget)}: whole pipeline on {device.type}")
    lack = f"weights {gib(fp.weights)} + {allowance} = {gib(need)} exceed {gib(budget)}"
    count = max(device.count, 1)
    if device.type == "cuda" and count > 1 and budget > act.nbytes:
        max_memory = {i: budget - act.nbytes for i in range(count)}
        sizes = {c.name: c.nbytes for c in fp.components if c.nbytes}
        assignment = balanced_assignment(sizes, max_memory)
        if assignment is not None:
            return Rule(
                "balanced",
                f"{lack} on one device, but across {count} devices ({gib(budget)} each, {gib(act.nbytes)} of it kept for activations) "
                "device_map='balanced' puts each component on a GPU: " + ", ".join(f"{n} -> cuda:{d}" for n, d in assignment.items()),
                MappingProxyType(max_memory),
                MappingProxyType(assignment),
            )
        lack += f" and do not spread over {count} devices component by component"
    largest = fp.largest
    assert largest is not None and largest.nbytes is not None
    one = largest.nbytes + act.nbytes
    if one <= budget:
        return Rule("model_cpu_offload", f"{lack}; the largest component, {largest.name} ({gib(largest.nbytes)}), fits with the activations "
                    f"({gib(one)}): models go to the GPU one at a time")
    return Rule("sequential_cpu_offload", f"{lack}; even the largest component, {largest.name} ({gib(largest.nbytes)}), does not fit with the "
                f"activations ({gib(one)}): weights are streamed to the GPU layer by layer (slow)")


# --- the whole plan ----------------------------------------------------------------------------------------------


def dtype_name(value: Any) -> str | None:
    """A LoadPlan dtype name from a user's ``torch_dtype`` (a torch.dtype or its name); None if it is none of ours."""
    name = str(value).replace("torch.", "")
    return name if name in DTYPES else None


def user_plan(plan: LoadPlan, kwargs: Mapping[str, Any]) -> LoadPlan:
    """The plan with the caller's own torch_dtype and variant, which always win, so the estimate is of what will load;
    a component or keyword the caller passes is no longer the plan's to skip or add."""
    changes: dict[str, Any] = {}
    if "variant" in kwargs:
        changes["variant"] = kwargs["variant"]
    given = "dtype" if "dtype" in kwargs else "torch_dtype" if "torch_dtype" in kwargs else None
    if given is not None:
        value = kwargs[given]
        if isinstance(value, Mapping):
            default = dtype_name(value.get("default", "float32")) or "float32"
            changes["dtype"] = default
            changes["component_dtypes"] = {k: n for k, v in value.items() if k != "default" and (n := dtype_name(v))}
        elif dtype_name(value):
            changes["dtype"] = dtype_name(value)
            changes["component_dtypes"] = {}
    if not changes:
        return _own_keywords_win(plan, kwargs)
    said = ", ".join(f"{k}={kwargs[k]!r}" for k in ("dtype", "torch_dtype", "variant") if k in kwargs)
    return _own_keywords_win(replace(plan, reason=f"{said} as the caller asked; " + plan.reason, **changes), kwargs)


def _own_keywords_win(plan: LoadPlan, kwargs: Mapping[str, Any]) -> LoadPlan:
    """The plan less the skipped components and extra keywords the caller gives themselves (theirs win, so the
    plan shows and counts what will load: ``text_encoder_3=model`` loads that model, which the planner counts)."""
    mine = set(kwargs)
    if not (plan.skip & mine or set(plan.extra) & mine):
        return plan
    return replace(plan, skip=plan.skip - mine, extra={k: v for k, v in plan.extra.items() if k not in mine})


def family_plan(resolution: Resolution, device: DeviceFacts, registry: Registry | None = None) -> LoadPlan:
    """The family's LoadPlan for this checkpoint on this device, before memory is counted.

    A family whose plugin gives no ``autopipe_load_plan`` (or whose hook returns
    None) gets the core's default, :func:`autopipe_core.toolkit.plans.half_precision_plan`:
    float32 on a CPU, float16 on an accelerator from the half-precision files
    the checkpoint has; the reason says it is the default.
    """
    from .toolkit.plans import half_precision_plan  # same layer; plans.py reads planning's file rules at its top

    registry = registry or get_registry()
    identity = resolution.identity or Identity("unknown", "", resolution.pipeline_class)
    owner = registry.families[resolution.family][1]
    result = registry.ask(owner, "autopipe_load_plan", family=resolution.family, identity=identity, device=device)
    if result is None:
        default = half_precision_plan(identity, device)
        return replace(default, reason=f"{owner} gives no loading code for {resolution.family}, so the core's default: {default.reason}")
    return result


def plan(
    resolution: Any,
    device: DeviceFacts,
    width: int | None = None,
    height: int | None = None,
    kwargs: Mapping[str, Any] = {},
    force: str | None = None,
    registry: Any = None,
    device_name: str | None = None,
    allow_pickle: bool = False,
) -> Placement:
    """Plan the placement of a resolved checkpoint on `device`, in the order the module's docstring gives.

    `kwargs` are the caller's from_pretrained keywords: their torch_dtype and
    variant win over the family's, and components passed as objects count as
    they are. `force` names a placement to use whatever the rules say (the
    figures are still computed and reported).
    """
    if force is not None and force not in CHOICES:
        raise PlacementError(f"placement {force!r} is not one of {', '.join(CHOICES)}")
    registry = registry or get_registry()
    identity = with_files(resolution.identity, hub_options(kwargs)) if resolution.identity else Identity("unknown", "", resolution.pipeline_class)
    resolution = replace(resolution, identity=identity)
    family = family_plan(resolution, device, registry)
    if device_name is not None:
        family = replace(family, device=device_name)
    load_plan = user_plan(family if "variant" in kwargs else fit_variant(family, identity), kwargs)
    passed = {k: v for k, v in kwargs.items() if k in identity.components or callable(getattr(v, "parameters", None))}
    fp = footprint(identity, load_plan, passed, hub_options(kwargs), allow_pickle)
    owner = registry.families[resolution.family][1]
    family = resolution.family
    adjusted = registry.ask(owner, "autopipe_footprint", family=family, identity=identity, plan=load_plan,
                            footprint=fp, width=width, height=height)
    fp = adjusted or fp
    rule = choose(fp, device)
    placed = replace(load_plan, placement=rule.placement, reason=f"{load_plan.reason}; {rule.reason}")
    overridden_by = None
    override = registry.ask(owner, "autopipe_placement", family=family, identity=identity, device=device,
                            footprint=fp, plan=placed)
    if override is not None and override != placed:
        placed, overridden_by = override, owner
    max_memory, device_map = rule.max_memory, rule.device_map
    if force not in (None, "auto") and force != placed.placement:
        placed = replace(placed, placement=force, reason=f"placement {force!r} as the caller asked (the rules said {placed.placement}); {placed.reason}")
    if placed.placement != "balanced":
        max_memory = device_map = None
    return Placement(placed, fp, device.free_bytes if device.free_bytes is not None else device.total_bytes,
                     max(device.count, 1) if device.accelerated else 0, rule.placement, overridden_by, max_memory, device_map)


def scaled(nbytes_at: int, fixed: int, width: int, height: int, reference: int, dtype: str) -> int:
    """An allowance that grows with the pixels and the dtype's itemsize: `fixed` + `nbytes_at` at reference x reference in float16.

    Activations scale with the number of pixels (latents, attention at
    linear cost with SDPA, the VAE decode's feature maps) and with the
    itemsize; the fixed part (cuBLAS workspace, allocator slack) does not.
    Plugins use it to declare their allowance (``autopipe_footprint``).
    """
    return fixed + nbytes_at * (width * height) // (reference * reference) * ITEMSIZE[dtype] // 2


def format_plan(placed: Placement, model: str, pipeline_class: str) -> str:
    """The text of ``autopipe plan``: the choices, then the figures, then why."""
    p, fp = placed.plan, placed.footprint
    dtypes = "".join(f", {name} in {d}" for name, d in p.component_dtypes.items())
    budget = "unknown" if placed.budget is None else gib(placed.budget) + (f" x {placed.devices} devices" if placed.devices > 1 else "")
    act = fp.activation
    lines = [
        f"model:       {model} ({pipeline_class})",
        f"dtype:       {p.dtype}{dtypes}",
        f"variant:     {p.variant or 'none (the default files)'}",
        f"placement:   {p.placement} on {p.device}" + (f" (the rules said {placed.rule}; overridden by {placed.overridden_by})" if placed.overridden_by else ""),
        f"budget:      {budget}",
        f"weights:     {gib(fp.weights)} ({fp.weights} bytes) in the chosen dtype"
        + (f", and {len(fp.unknown)} component(s) of unknown size" if fp.unknown else ""),
        f"activations: {gib(act.nbytes)} ({act.nbytes} bytes)" + (f" at {act.width}x{act.height}: {act.reason}" if act.nbytes else f": {act.reason}"),
    ]
    if p.skip:
        lines.append(f"left out:    {', '.join(sorted(p.skip))} (not loaded: passed to diffusers as None, not counted)")
    if p.extra:
        lines.append("keywords:    " + ", ".join(f"{k}={v!r}" for k, v in p.extra.items()) + " (more from_pretrained keywords)")
    lines.append("components:")
    for c in sorted(fp.components, key=lambda c: -(c.nbytes or 0)):
        size = "unknown" if c.nbytes is None else gib(c.nbytes)
        lines.append(f"  {c.name:<22}{size:>12}  {c.dtype:<9} {c.source}")
    if placed.device_map:
        lines.append("device map:  " + ", ".join(f"{n} -> cuda:{d}" for n, d in placed.device_map.items()))
    lines.append(f"why:         {p.reason}")
    return "\n".join(lines)
