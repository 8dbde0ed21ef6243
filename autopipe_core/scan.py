"""Classify every checkpoint under a folder tree, from JSON and headers alone, in one process.

A model manager (the kind of tool InvokeAI and ComfyUI are) sorts a user's
library at start-up: which files and folders are pipelines of which family,
what each can do, what it weighs. :func:`scan` answers that for every
diffusers folder (a ``model_index.json``), single ``.safetensors`` file and
sharded single-file checkpoint (a ``*.safetensors.index.json`` with its shards)
under a root, with the class for each task, the bytes the family's half
precision plan would load, or the typed reason a checkpoint cannot be used.
A broken or hostile entry is reported and the scan goes on; entries are read
one at a time, so memory is bounded by the largest header, not the sum.
Nothing is imported but the plugins' registrations: no torch, no diffusers.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .errors import AutopipeError, InvalidModelError
from .headers import PICKLE_SUFFIXES, SafetensorsHeader
from .planning import family_plan, file_footprint, footprint, header_known
from .registry import Registry, get_registry
from .resolve import Resolution, identify, resolve_identity
from .single_file import identify_detection
from .sources import component_class, local_path, read_json
from .specs import Detection, DeviceFacts, Identity
from .tasks import Task

#: The machine a scan's byte counts are planned for: an accelerator with bfloat16, so the figure is the family's
#: half-precision weights (what a GPU would hold), not float32 on the CPU.
SCAN_DEVICE = DeviceFacts("cuda", 1, None, None, True)

INDEX_SUFFIX = ".safetensors.index.json"


@dataclass(frozen=True)
class Scanned:
    """One checkpoint found by a scan, classified, or the reason it cannot be used.

    `kind` is "folder" (a diffusers folder, or a folder the scan could not list, with the reason in `error`), "file"
    (a single .safetensors or pickle file) or "sharded" (an index and its shards). `pipelines` maps each task to the
    class autopipe would load, or None with the reason in `refused`.
    `variant` is the family's kind of checkpoint (Resolution.variant: "inpainting-only"), `detected_as` what a
    file's header was recognised as (Detection.variant: "sd1").
    `weights_bytes` is what the family's plan on an accelerator would load (None: not counted). `error` is
    "TypeName: message" of the typed error when the checkpoint cannot be used at all, and then the rest is empty.
    """

    path: str
    kind: str
    family: str | None = None
    variant: str | None = None
    plugin: str | None = None
    pipelines: Mapping[str, str | None] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)
    weights_bytes: int | None = None
    error: str | None = None
    detected_as: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "family": self.family, "variant": self.variant, "plugin": self.plugin,
            "pipelines": dict(self.pipelines), "refused": dict(self.refused), "weights_bytes": self.weights_bytes, "error": self.error,
            "detected_as": self.detected_as,
        }


def candidates(root: Path) -> Iterator[tuple[Path, str]]:
    """(path, kind) of every checkpoint under `root`, in a stable order: folders with a model_index.json (not
    entered further: their files are their components), sharded indexes, single files. Links are not followed."""
    unlisted: list[OSError] = []  # os.walk's errors: a folder it cannot list is reported, not skipped in silence
    for folder, dirs, files in os.walk(root, onerror=unlisted.append, followlinks=False):
        while unlisted:
            yield Path(unlisted.pop(0).filename), "unlisted"
        dirs.sort()
        here = Path(folder)
        if "model_index.json" in files:
            dirs.clear()  # the components of this pipeline, not checkpoints of their own
            yield here, "folder"
            continue
        if "config.json" in files and component_class(here) is not None:
            dirs.clear()  # one diffusers model saved alone (a ControlNet, a UNet): its files are its weights
            yield here, "folder"  # classified as a folder, it is refused with what to do with it
            continue
        shards: set[str] = set()
        for name in sorted(files):
            if name.endswith(INDEX_SUFFIX):
                yield here / name, "sharded"
                shards |= _shard_names(here / name)
        for name in sorted(files):
            lower = name.lower()
            if name in shards or name.endswith(INDEX_SUFFIX):
                continue
            if lower.endswith(".safetensors") or lower.endswith(PICKLE_SUFFIXES):
                yield here / name, "file"
    for error in unlisted:
        yield Path(error.filename), "unlisted"


def _shard_names(index: Path) -> set[str]:
    try:
        return set(_read_index(index).values())
    except (AutopipeError, OSError):
        return set()


def _read_index(index: Path) -> dict[str, str]:
    """A sharded checkpoint's weight_map (tensor -> shard file name), read capped and without blocking."""
    weight_map = read_json(index, index.name).get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise InvalidModelError(f"{index} has no weight_map of tensor names to shard files: it is not a sharded checkpoint's index")
    for shard in set(weight_map.values()):
        if "/" in shard or "\\" in shard or shard.startswith("."):
            raise InvalidModelError(f"{index} names the shard {shard[:80]!r}, outside its own folder")
    return weight_map


def sharded_header(index: Path) -> SafetensorsHeader:
    """The shards' headers as one: the tensors of every shard the index names (each header checked as a file's)."""
    from types import MappingProxyType

    from .headers import read_header

    weight_map = _read_index(index)
    tensors: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    size = read = 0
    for shard in sorted(set(weight_map.values())):
        header = read_header(index.parent / shard)
        tensors.update(header.tensors)
        metadata.update(header.metadata)
        size, read = size + header.file_size, read + header.header_bytes
    return SafetensorsHeader(str(index), size, read, MappingProxyType(tensors), MappingProxyType(metadata))


def classify(path: Path, kind: str, registry: Registry | None = None, allow_pickle: bool = False) -> Scanned:
    """One checkpoint: its Identity, the class for each task, its planned bytes; a typed error becomes `error`."""
    return _Classifier(registry or get_registry(), allow_pickle).classify(path, kind)


#: The reference of the Identity a detection's answers are worked out on once (see _Classifier): no path holds it.
_ANY_FILE = "\0autopipe-scan: this file\0"


class _Classifier:
    """One scan's classifying: every file's header read and parsed once, and what depends only on a file's detection
    (its Identity but for the path, the class per task or the refusals) worked out once per distinct detection. A
    library holds many files of few kinds; each costs its header, its family's plan and the count of its bytes.

    A refusal names the checkpoint; the once-worked-out one names :data:`_ANY_FILE`, replaced by each file's path.
    tests/test_scan.py checks a scan's answers against each file classified on its own.
    """

    def __init__(self, registry: Registry, allow_pickle: bool):
        self.registry, self.allow_pickle = registry, allow_pickle
        self.identities: dict[tuple[Any, ...], Identity] = {}
        self.answers: dict[tuple[Any, ...], tuple[dict[str, str | None], dict[str, str], Resolution | None]] = {}

    def classify(self, path: Path, kind: str) -> Scanned:
        if kind == "unlisted":
            return Scanned(str(path), "folder", error=f"ModelNotFoundError: {_unlisted(path)}")
        try:
            if kind == "folder":
                return self._folder(path, identify(path, self.registry, self.allow_pickle))
            identity, header = self._file_identity(path, kind)
        except AutopipeError as exc:
            return Scanned(str(path), kind, error=f"{type(exc).__name__}: {exc}")
        if identity.detection is None:
            return self._folder(path, identity, kind)
        # The answers are worked out on an Identity whose files hold what follows this name's first dot, where any
        # weight-variant marker lies (Identity.has_weight_variant: ".bf16."): that part is in the key too.
        name = Path(identity.reference).name
        tail = name[name.index("."):] if "." in name else ""
        key = (_detection_key(identity.detection), tail)
        if key not in self.answers:
            self.answers[key] = self._answers(replace(identity, reference=_ANY_FILE, files=("\0" + tail,)))
        pipelines, refused, resolved = self.answers[key]
        if resolved is None:
            return Scanned(str(path), kind, error=next(iter(refused.values())).replace(_ANY_FILE, identity.reference))
        weights = None
        try:  # the plan is the file's own: a plugin's may count the file (SD 3's, to decide about T5), from this header
            if header is None:
                plan = family_plan(replace(resolved, identity=identity), SCAN_DEVICE, self.registry)
            else:
                with header_known(header):
                    plan = family_plan(replace(resolved, identity=identity), SCAN_DEVICE, self.registry)
            counted = file_footprint(identity, plan, allow_pickle=self.allow_pickle, header=header)
            weights = None if counted.unknown else counted.weights
        except AutopipeError:
            pass
        refused = {task: why.replace(_ANY_FILE, identity.reference) for task, why in refused.items()}
        return Scanned(str(path), kind, resolved.family, resolved.variant, resolved.plugin, dict(pipelines), refused, weights, None,
                       identity.detection.variant)

    def _file_identity(self, path: Path, kind: str) -> tuple[Identity, SafetensorsHeader | None]:
        """The Identity of a single file (as resolve.identify reads one) or a sharded one, and the header read."""
        from .single_file import detect, read

        registry = self.registry
        if kind == "sharded":
            return identify_detection(path, detect(sharded_header(path), registry), registry), None
        local = local_path(path)
        if local is None or local.is_dir():
            return identify(path, registry, self.allow_pickle), None
        header = read(local, self.allow_pickle)
        report = detect(header, registry)
        best = report.best
        if best is None or not best.is_pipeline:
            return identify_detection(local, report, registry), header  # the refusal, naming this file
        key = _detection_key(best)
        known = self.identities.get(key)
        if known is None:
            known = self.identities[key] = identify_detection(local, report, registry)
            return known, header
        # The Identity identify_detection builds: the plugin's shipped configs (the same folder, so the same files),
        # this file's path and name, this file's Detection.
        return replace(known, reference=str(local), files=(local.name,), detection=best), header

    def _answers(self, identity: Identity) -> tuple[dict[str, str | None], dict[str, str], Resolution | None]:
        """The class per task (None: refused, with why) and the first resolution for `identity`.

        From the tables, the family's requirements and variants and the Identity's configs: no plugin code that could
        read the file runs here (resolve_identity asks a modifier's fits only for keywords passed, and none are).
        """
        pipelines: dict[str, str | None] = {}
        refused: dict[str, str] = {}
        resolved = None
        for task in Task:
            try:
                resolution = resolve_identity(identity, task, {}, self.registry)
            except AutopipeError as exc:
                pipelines[task.value], refused[task.value] = None, f"{type(exc).__name__}: {exc}"
                continue
            pipelines[task.value] = resolution.pipeline_class
            resolved = resolved or resolution
        return pipelines, refused, resolved

    def _folder(self, path: Path, identity: Identity, kind: str = "folder") -> Scanned:
        pipelines, refused, resolved = self._answers(identity)
        if resolved is None:
            return Scanned(str(path), kind, error=next(iter(refused.values())))
        detected = identity.detection.variant if identity.detection is not None else None
        weights = _weights(resolved, self.registry, self.allow_pickle)
        return Scanned(str(path), kind, resolved.family, resolved.variant, resolved.plugin, pipelines, refused, weights, None, detected)


def _unlisted(path: Path) -> str:
    """Why a folder the walk could not list was left out (asked again, for the system's own words)."""
    try:
        with os.scandir(path):
            why = "it could not be listed during the scan"
    except OSError as exc:
        why = exc.strerror or str(exc)
    return f"cannot list {path} ({why}): the checkpoints in it were not scanned; make it readable"


def _detection_key(detection: Detection) -> tuple[Any, ...]:
    """A Detection as a dict key: every field (its mappings as items; a scheduler entry's value by its repr)."""
    return (
        detection.family, detection.variant, detection.confidence, detection.reason, detection.pipeline_class, detection.config,
        detection.component, detection.use, detection.plugin, tuple(detection.prefixes.items()),
        tuple((k, repr(v)) for k, v in detection.scheduler.items()),
    )


def _weights(resolution: Any, registry: Registry, allow_pickle: bool) -> int | None:
    """The weight bytes of the family's own plan on an accelerator, None when a component could not be counted."""
    identity = resolution.identity
    if identity is None or identity.origin not in ("folder", "file"):
        return None
    try:
        plan = family_plan(resolution, SCAN_DEVICE, registry)
        counted = footprint(identity, plan, allow_pickle=allow_pickle)
    except AutopipeError:
        return None
    return None if counted.unknown else counted.weights


def scan(root: str | os.PathLike[str], registry: Registry | None = None, allow_pickle: bool = False,
         progress: Callable[[Iterator[Any]], Iterator[Any]] | None = None) -> list[Scanned]:
    """Every checkpoint under `root`, classified (see :class:`Scanned`); the typed reason for each that cannot be used.

    `root` may also be one file or one diffusers folder. `progress` wraps the iteration (the command line passes a
    tqdm bar on a terminal). Raises ModelNotFoundError when `root` does not exist.
    """
    from .errors import ModelNotFoundError

    if os.fspath(root) == "":  # Path("") is the working folder: scanning it unasked could take long
        raise ModelNotFoundError("'' is an empty path: pass the folder to scan ('.' for the working folder).")
    registry = registry or get_registry()
    start = Path(os.path.expanduser(os.fspath(root)))
    try:
        mode = os.stat(start).st_mode
        if stat.S_ISDIR(mode):
            with os.scandir(start):  # a folder it may not list: said here, not by pathlib's PermissionError below
                pass
    except OSError as exc:
        raise ModelNotFoundError(f"cannot scan {start}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        found: Iterator[tuple[Path, str]] = iter([(start, "folder")]) if (start / "model_index.json").exists() else candidates(start)
    else:
        found = iter([(start, "sharded" if start.name.endswith(INDEX_SUFFIX) else "file")])
    items = list(found)
    iterator: Iterator[tuple[Path, str]] = iter(items)
    if progress is not None:
        iterator = progress(iterator)
    classifier = _Classifier(registry, allow_pickle)
    return [classifier.classify(path, kind) for path, kind in iterator]


def dumps(results: list[Scanned]) -> str:
    return json.dumps([r.to_json() for r in results], indent=2)
