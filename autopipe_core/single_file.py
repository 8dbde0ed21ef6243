"""Single-file checkpoints: which family and variant a .safetensors file is, from its header alone.

diffusers' AutoPipeline cannot load a single file because "the pipeline class
cannot be inferred from a checkpoint" (diffusers issues 4367, 6863). It can:
the names and shapes of the tensors say what the model is. Every plugin is
shown the checked header (:mod:`autopipe_core.headers`: only the header's
bytes are read, whatever the size of the file) through the ``autopipe_detect``
hook, one plugin at a time; the claims are ranked, and the winner's
:class:`~autopipe_core.specs.Detection` becomes an :class:`Identity` of origin
"file" that resolves through the same tables, variants and modifiers as a
folder. Its component configs are the ones the plugin ships for that variant,
so no hub access is needed to resolve or to load.

Pickle checkpoints (.ckpt, .bin, .pt, .pth, or any file whose bytes are a
pickle or a torch zip archive) are refused unless the caller passes
``allow_pickle=True``: unpickling runs whatever code the file carries.
Nothing here ever unpickles; the opt-in path asks torch to read tensor
shapes with ``weights_only=True``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

from . import sources
from .claims import rank
from .errors import AutopipeError, InvalidModelError, PluginError, UnsafeCheckpointError, UnsupportedModelError
from .headers import PICKLE_SUFFIXES, SafetensorsHeader, TensorInfo, opened, parse_header
from .plugins import describe
from .registry import Registry, ask, get_registry
from .specs import Detection, Identity, class_name

HOOK = "autopipe_detect"
#: How to get a safetensors file from a pickle: said whenever a pickle is refused or cannot be read.
CONVERT = (
    "Convert it to .safetensors once, in an environment where you trust the file, e.g. "
    "`python -c \"import torch, safetensors.torch as st; sd = torch.load('IN.ckpt', weights_only=True); "
    "sd = sd.get('state_dict', sd); st.save_file({k: v.contiguous() for k, v in sd.items()}, 'OUT.safetensors')\"`, "
    "or download the .safetensors version of the checkpoint."
)
#: CONVERT, and the opt-in: said where a pickle is refused, never where allow_pickle was passed already.
CONVERT_HINT = f"{CONVERT} To load it as it is, pass allow_pickle=True (torch then reads it with weights_only=True)."


@dataclass(frozen=True)
class Verdict:
    """One plugin's answer about one file: what it recognised, or nothing, or the error it raised."""

    plugin: str
    detections: tuple[Detection, ...] = ()
    error: str | None = None
    asked: bool = True  # False: the plugin has no autopipe_detect
    keys_absent: bool = False  # True: the file holds none of its autopipe_detect_keys, so its detect was not called

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.plugin}: raised {self.error}"
        if not self.asked:
            return f"{self.plugin}: detects no single files"
        if self.keys_absent:
            return f"{self.plugin}: not one of its families (the file holds none of its autopipe_detect_keys)"
        if not self.detections:
            return f"{self.plugin}: not one of its families"
        return f"{self.plugin}: " + "; ".join(f"{d.family}/{d.variant} ({d.confidence:.2f}: {d.reason})" for d in self.detections)


@dataclass(frozen=True)
class Report:
    """Every plugin's verdict and the claims ranked best first (``ranked[0]`` is what the file is taken for)."""

    header: SafetensorsHeader
    verdicts: tuple[Verdict, ...]
    ranked: tuple[Detection, ...]

    @property
    def best(self) -> Detection | None:
        return self.ranked[0] if self.ranked else None

    def summary(self) -> str:
        """Every verdict in full, one after another (what :class:`Verdict` describes)."""
        return "; ".join(v.describe() for v in self.verdicts) or "no plugin is installed"

    def brief(self) -> str:
        """The verdicts grouped for an error line: the plugins that said no, by name; claims and errors in full; the
        plugins that detect no single files counted."""
        declined = [v.plugin for v in self.verdicts if v.asked and v.error is None and not v.detections]
        unasked = sum(1 for v in self.verdicts if not v.asked)
        parts = [f"{', '.join(declined)}: not one of {'their' if len(declined) > 1 else 'its'} families"] if declined else []
        parts += [v.describe() for v in self.verdicts if v.error is not None or v.detections]
        if unasked:
            parts.append(f"{unasked} other plugin{'s detect' if unasked > 1 else ' detects'} no single files")
        return "; ".join(parts) or "no plugin is installed"


def sniff_pickle(first: bytes, path: Path | BinaryIO) -> str | None:
    """What kind of pickle the file's first bytes show, or None. Reads a zip's directory, never a member's data.

    `path` is the file, or the file already open (then nothing is opened again). Ask only of a file that did
    not parse as safetensors: a valid header length can begin with a pickle's bytes (0x80, then 0x02..0x05).
    """
    if len(first) >= 2 and first[0] == 0x80 and 2 <= first[1] <= 5:
        return f"a pickle (protocol {first[1]})"
    if first[:4] == b"PK\x03\x04":
        import zipfile  # here, not at the top: only a file that is no safetensors gets this far

        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "a torch.save zip archive with a pickle inside (data.pkl)"
    return None


def _refuse(path: Path, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"{path} is {what}. Loading a pickle runs whatever code it carries, so autopipe does not open it "
        f"unless you opt in. {CONVERT_HINT}"
    )


_TORCH_DTYPES = {
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def pickle_header(path: Path) -> SafetensorsHeader:
    """The opt-in path: tensor names, dtypes and shapes of a pickle checkpoint, through torch with weights_only=True.

    Imports torch and reads the whole pickle (not the tensor data: it is mapped
    onto the meta device). Only reached with ``allow_pickle=True``.
    """
    import torch

    try:
        obj = torch.load(path, map_location="meta", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; all mean "cannot read it safely"
        raise InvalidModelError(f"{path}: torch could not read it with weights_only=True ({type(exc).__name__}: {str(exc)[:200]}). {CONVERT}") from exc
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise InvalidModelError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    tensors = {}
    for name, value in state.items():
        if isinstance(name, str) and isinstance(value, torch.Tensor):
            dtype = _TORCH_DTYPES.get(str(value.dtype).removeprefix("torch."))
            if dtype is not None:
                tensors[name] = TensorInfo(dtype, tuple(value.shape))
    return SafetensorsHeader(str(path), path.stat().st_size, path.stat().st_size, MappingProxyType(tensors), MappingProxyType({}))


def read(path: str | os.PathLike[str], allow_pickle: bool = False) -> SafetensorsHeader:
    """The header of a single-file checkpoint, refusing pickles unless `allow_pickle`.

    A file is taken for a pickle only when it does not parse as safetensors:
    then its first bytes are sniffed (a pickle's opcodes, a torch zip's
    ``data.pkl``), and a pickle suffix on a file that is not JSON counts too.
    A safetensors file costs ``8 + header length`` bytes, never a byte of
    tensor data; a pickle is refused after reading 8 bytes twice (a zip
    after its directory; a file taken for one by its suffix alone, 4 KiB
    more, to tell it from JSON). The file is opened without blocking and
    must be a regular file: a FIFO fails at once.
    """
    path = Path(path)
    with opened(path, "a checkpoint file") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            return parse_header(f, size, str(path))
        except InvalidModelError:
            if size == 0 and path.suffix.lower() in PICKLE_SUFFIXES:  # nothing in it: neither a pickle to refuse nor to read
                raise InvalidModelError(f"{path} is empty (0 bytes): a download or copy that did not finish leaves such a file. Fetch it again.") from None
            f.seek(0)
            first = f.read(8)
            what = sniff_pickle(first, f)
            # JSON as the header reader tells it (its first non-blank byte within 8 + 4096): blanks may pad more than 8 bytes
            if what is None and path.suffix.lower() in PICKLE_SUFFIXES and not (first + f.read(4096)).lstrip(b" \t\n\r").startswith((b"{", b"[")):
                what = f"a {path.suffix} file, the suffix of pickle checkpoints"
            if what is None:
                raise
    if not allow_pickle:
        raise _refuse(path, what)
    return pickle_header(path)


def detect(header: SafetensorsHeader, registry: Registry | None = None) -> Report:
    """Ask every plugin what the file is, one at a time; rank the claims.

    Ranking, best first: distributions named in AUTOPIPE_PREFER, then the
    higher confidence, then a claim made by the plugin that owns the family,
    then the family's higher priority, then the distribution name. A plugin
    that raises is reported in its verdict and the others still answer. A
    plugin that gave ``autopipe_detect_keys`` is asked only when the header
    holds one of them; else its verdict is "not one of its families", as it
    declared (``keys_absent``), and its detection module is not imported.
    """
    registry = registry or get_registry()
    prefer = registry.prefer
    tensors = header.tensors
    verdicts = []
    claims: list[tuple[tuple, Detection]] = []
    for info in registry.plugins:
        if not info.ok:
            continue
        if HOOK not in info.hooks:
            verdicts.append(Verdict(info.distribution, asked=False))
            continue
        if not registry.shows(info.distribution, tensors):
            verdicts.append(Verdict(info.distribution, keys_absent=True))
            continue
        try:
            found = registry.ask(info.distribution, HOOK, header=header)
        except AutopipeError as exc:  # pinned on the plugin, not fatal for the others (KeyboardInterrupt alone propagates)
            cause = exc.__cause__ if isinstance(exc, PluginError) and exc.__cause__ is not None else None
            verdicts.append(Verdict(info.distribution, error=describe(cause) if cause is not None else str(exc)))
            continue
        found = tuple(d._replace(plugin=info.distribution) for d in found)
        verdicts.append(Verdict(info.distribution, found))
        for d in found:
            spec, owner = registry.families.get(d.family, (None, None))
            claims.append((rank(info.distribution, d.confidence, owner, spec.priority if spec else 0, prefer), d))
    claims.sort(key=lambda c: c[0])
    return Report(header, tuple(verdicts), tuple(d for _, d in claims))


def _config_identity(path: Path, detection: Detection, registry: Registry) -> Identity:
    """The Identity of a detected pipeline file: the class it is, and the component configs its plugin ships."""
    assert detection.pipeline_class is not None
    name = class_name(detection.pipeline_class)
    components: dict[str, tuple[str | None, str | None]] = {}
    configs: dict[str, dict] = {}
    if detection.config is not None:
        folder = Path(detection.config)
        index_path = folder / sources.MODEL_INDEX
        if not index_path.is_file():
            raise InvalidModelError(f"{detection.plugin} detected {path} as {detection.family}/{detection.variant} but its config folder {folder} has no {sources.MODEL_INDEX}: reinstall {detection.plugin}")
        components = sources.components(sources.read_json(index_path, f"{detection.plugin}'s {sources.MODEL_INDEX}"))
        entry = registry.identify((name,))
        wanted = registry.families[entry.family][0].config_components if entry else ()
        for component in wanted:
            config = folder / component / "config.json"
            if component in components and config.is_file():
                configs[component] = sources.read_json(config, f"{detection.plugin}'s {component}/config.json")
    return Identity("file", str(path), name, components, configs, (path.name,), (), detection)


#: Tensor names only diffusers' and transformers' own layouts use at the top of a file: a UNet's first convolution
#: and time embedding, a VAE's encoder, a CLIP text model; also under a pipeline component's name (a whole pipeline's
#: state dict saved as one file). No original single-file layout starts its names so.
DIFFUSERS_NAMES = ("conv_in.weight", "time_embedding.linear_1.weight", "encoder.conv_in.weight", "text_model.embeddings.token_embedding.weight")
DIFFUSERS_PREFIXES = ("", "unet.", "vae.", "text_encoder.")


def diffusers_layout(header: SafetensorsHeader) -> str | None:
    """A tensor name that shows the file is in diffusers' or transformers' own layout, or None."""
    for prefix in DIFFUSERS_PREFIXES:
        for name in DIFFUSERS_NAMES:
            if prefix + name in header.tensors:
                return prefix + name
    return None


def identify_file(path: str | os.PathLike[str], registry: Registry | None = None, allow_pickle: bool = False) -> Identity:
    """The Identity of a single-file checkpoint: read its header, ask the plugins, take the best claim."""
    registry = registry or get_registry()
    path = Path(path)
    return identify_detection(path, detect(read(path, allow_pickle), registry), registry)


def identify_detection(path: Path, report: Report, registry: Registry) -> Identity:
    """The Identity of a checkpoint whose header the plugins have judged (`report`): the best claim, or why none fits."""
    best = report.best
    if best is None:
        said = f"{path}: no installed plugin recognises this checkpoint ({len(report.header.tensors)} tensors). What each said: {report.brief()}. "
        seen = diffusers_layout(report.header)
        if seen is not None:
            raise UnsupportedModelError(
                said + f"Its tensor names are in diffusers' or transformers' own layout ({seen}, ...): a model or pipeline saved "
                "that way, which single-file loading does not read (a single file holds the original layout its family "
                "published, e.g. model.diffusion_model.* for Stable Diffusion). Load the model from its folder with its "
                "class's from_pretrained, or the pipeline from its folder."
            )
        raise UnsupportedModelError(
            said + "If it is a diffusers pipeline saved as one file of a family not listed, "
            "install that family's plugin; `autopipe inspect FILE` shows what its header holds."
        )
    if not best.is_pipeline:
        raise UnsupportedModelError(
            f"{path} is {best.family}/{best.variant} ({best.reason}; {best.plugin}): one model, {class_name(best.component or '')}, "
            f"not a pipeline. {best.use}"
        )
    return _config_identity(path, best, registry)
