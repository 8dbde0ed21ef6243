"""Single files that hold a model's transformer alone (BFL's, Comfy-Org's, fal's, Alibaba's files): reading it, and
loading the pipeline around it from the caller, ``config=`` or a base checkpoint.

Most DiT families publish their transformer as one .safetensors file, bare or
under ComfyUI's ``model.diffusion_model.`` (:data:`~autopipe_core.toolkit.single_file.COMFY_PREFIX`);
diffusers' ``<Transformer>.from_single_file`` converts it with a config, and
the pipeline's other components (text encoders, tokenizers, VAE) come from
elsewhere. Two ways of saying where are in use, each a frozen named tuple of
the family's data and one hook function:

- :class:`TransformerFile` / :func:`load_transformer_file`: the rest from the
  caller's components or ``config=`` (a diffusers folder with weights, or a
  hub repo); refused, saying what to pass, when nothing gives it (AuraFlow,
  Krea 2, Lumina 2, Sana);
- :class:`BaseCheckpoint` / :func:`load_from_base`: the rest from a base
  checkpoint, by default the family's published repository read from the
  local Hugging Face cache; refused when it is not there (FLUX.2,
  Qwen-Image, Z-Image, HiDream).

Both refuse before a byte of the file is read, and both take the tiny
checkpoint as the base of the plugin's own tiny test file. Importing this
module imports no torch, diffusers, transformers or safetensors; the
functions that read or load do.
"""

from __future__ import annotations

from collections import namedtuple

from ..errors import UnsupportedModelError

#: typing.TYPE_CHECKING without importing typing. Plugins' detection modules build their TransformerFile and
#: BaseCheckpoint at import, and a cold ``autopipe resolve FILE`` imports those modules: so this module imports no
#: typing, pathlib, dataclasses or plans at module level, and the two are frozen named tuples, not dataclasses.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

    from ..detection import Detection

__all__ = [
    "BaseCheckpoint", "TransformerFile", "can_give", "component_tensors", "in_hub_cache", "load_from_base", "load_transformer_file",
    "model_from_file", "prefixed_tensors", "save_tensors",
]


def _tiny(family: str) -> Path:
    """The folder of `family`'s tiny checkpoint (built once a session by the core)."""
    from ..tiny import tiny_checkpoint

    return tiny_checkpoint(family)[0]


def prefixed_tensors(path: str | Path, prefix: str, *, strip: bool = True) -> dict[str, Any]:
    """The tensors of the .safetensors file `path` whose names start with `prefix`, read with safetensors (never a pickle).

    Only those tensors are read: a ComfyUI checkpoint's text encoders and VAE
    (gigabytes) beside its diffusion model stay on disk. With `strip` the
    names lose the prefix (diffusers' converters for most transformer files
    read bare names only); without, they keep it. Empty when nothing is
    under `prefix`. Imports torch and safetensors; the library's errors for
    a file it cannot read pass unchanged.
    """
    from safetensors import safe_open

    cut = len(prefix) if strip else 0
    with safe_open(str(path), framework="pt") as f:
        return {n[cut:]: f.get_tensor(n) for n in f.keys() if n.startswith(prefix)}


def component_tensors(folder: str | Path, component: str = "transformer") -> dict[str, Any]:
    """Every tensor of ``folder/component``'s .safetensors files (one, or all shards, in name order): to write it again as one file.

    What a plugin's tiny test file starts from (the tiny checkpoint's
    transformer, renamed to the original layout). FileNotFoundError naming
    the sub-folder when it holds no .safetensors file.
    """
    from pathlib import Path

    from safetensors.torch import load_file

    source = Path(folder) / component
    tensors: dict[str, Any] = {}
    for shard in sorted(source.glob("*.safetensors")):
        tensors.update(load_file(shard))
    if not tensors:
        raise FileNotFoundError(f"{source} holds no .safetensors weights")
    return tensors


def save_tensors(tensors: Mapping[str, Any], path: str | Path, *, prefix: str = "", dtype: str | None = None) -> Path:
    """Write `tensors` to `path` as one .safetensors file (safetensors' own writer), each name behind `prefix`; returns the path.

    What a plugin's tiny test file is: the tiny transformer under the names of
    the family's published files, bare or behind ComfyUI's prefix. `dtype`
    is a torch dtype's name ("bfloat16", "float16", as the published files
    are stored), None to keep each tensor's own. Tensors are made
    contiguous, as safetensors requires. AttributeError for a `dtype` torch
    does not have.
    """
    from pathlib import Path

    import torch
    from safetensors.torch import save_file

    cast = getattr(torch, dtype) if dtype is not None else None
    save_file({prefix + name: (t.to(cast) if cast is not None else t).contiguous() for name, t in tensors.items()}, str(path))
    return Path(path)


def model_from_file(
    model_class: type, weights: str | Mapping[str, Any], folder: str | Path, dtype: Any = None, local_files_only: bool = True,
    subfolder: str = "transformer", **extra: Any,
) -> Any:
    """``model_class.from_single_file(weights, config=folder, subfolder=subfolder, ...)``: one model of a single file, with
    the config of a shipped (or the caller's) diffusers folder.

    `weights` is the file's path, or a state dict already read
    (:func:`prefixed_tensors`); `dtype` a torch dtype, or None for the
    class's default (not passed at all); `local_files_only` True keeps the
    load offline, as every shipped config folder allows; `extra` goes to
    ``from_single_file`` as it is (AuraFlow's ``pos_embed_max_size``).
    diffusers' errors pass unchanged.
    """
    return model_class.from_single_file(
        weights, config=str(folder), subfolder=subfolder, local_files_only=local_files_only,
        **({"torch_dtype": dtype} if dtype is not None else {}), **extra,
    )


def can_give(source: str | Path, component: str, names: tuple[str, ...] = ("tokenizer",)) -> bool:
    """Whether ``from_pretrained(source)`` can give `component`: a hub repo id (diffusers finds it), or a folder whose
    sub-folder `component` holds a weight file (.safetensors, .bin) or a file whose name starts with one of `names`
    (a tokenizer's files). A shipped config folder (JSON only) gives nothing."""
    from pathlib import Path

    folder = Path(source)
    if not folder.is_dir():
        return True
    sub = folder / component
    return sub.is_dir() and any(f.suffix in (".safetensors", ".bin") or f.name.startswith(names) for f in sub.iterdir())


_TRANSFORMER_FILE = ("folders", "family", "tiny_variant", "holds", "supplies", "checkpoint", "example", "load_transformer", "others",
                     "tokenizer_files", "config_from_source")


class TransformerFile(namedtuple("TransformerFile", _TRANSFORMER_FILE, defaults=(("text_encoder", "tokenizer", "vae"), ("tokenizer",), False))):
    """What a family whose single files hold the transformer alone says to load one: the data of :func:`load_transformer_file`.

    - `folders`: the plugin's shipped config folders; a detection's variant names the one its transformer's config is read from;
    - `family`: the family whose tiny checkpoint gives the rest for `tiny_variant`'s files (the kit's test files);
    - `tiny_variant`: the detection variant of the plugin's tiny test layout;
    - `holds`: what the file holds, for the refusal ("an AuraFlow transformer");
    - `supplies`: what the caller could pass, in words ("Pile-T5-XL, its tokenizer and SDXL's VAE, e.g. ...");
    - `checkpoint`: what a config= folder or repo must be ("an AuraFlow diffusers folder or repo id");
    - `example`: a hub repo that has the rest ("fal/AuraFlow-v0.3");
    - `load_transformer(path, folder, prefix, dtype, local_files_only)`: the family's transformer loader;
    - `others`: the components the file gives nothing of, which the caller or config= supplies;
    - `tokenizer_files`: file-name starts that count as a tokenizer's files (see :func:`can_give`);
    - `config_from_source`: the transformer's config read from config= when it has ``transformer/config.json`` (else from the shipped folder).
    """

    __slots__ = ()


def load_transformer_file(spec: TransformerFile, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """An ``autopipe_from_single_file`` hook for a file that holds the transformer alone: the transformer from the file,
    the rest from the caller or ``config=``.

    The components of ``spec.others`` are the caller's (``text_encoder=``
    ...), else loaded from ``config=`` when it names a diffusers folder that
    has them (:func:`can_give`) or a hub repo (``local_files_only=True``
    unless the caller says otherwise); the scheduler and the pipeline's
    config come from there too, else from the shipped folder
    (``spec.folders``' folder of the detection's variant; ValueError naming
    those shipped for a variant it has none of). For the
    plugin's tiny test layout they come from the family's tiny checkpoint.
    What is still missing is an :class:`~autopipe_core.UnsupportedModelError`
    that names it and says what to pass, raised before a byte of the file is
    read. The transformer is the caller's ``transformer=``, else
    ``spec.load_transformer`` of the file under ``detection.prefixes["transformer"]``
    in the dtype the keywords ask (:func:`~autopipe_core.toolkit.plans.asked_dtype`).
    """
    from pathlib import Path

    from .plans import asked_dtype

    kwargs = dict(kwargs)
    shipped = str(spec.folders.folder(detection.variant))
    source = str(kwargs.pop("config", None) or shipped)
    missing = [c for c in spec.others if c not in kwargs and not can_give(source, c, spec.tokenizer_files)]
    if missing and detection.variant == spec.tiny_variant:
        source, missing = str(_tiny(spec.family)), []
    if missing:
        raise UnsupportedModelError(
            f"{path} holds {spec.holds} ({detection.variant}), and nothing gives its {', '.join(missing)}: pass "
            + ", ".join(f"{c}=" for c in missing)
            + f" ({spec.supplies}), or config=<{spec.checkpoint} that has them> (such as {spec.example!r}, from the cache unless "
            "local_files_only=False)"
        )
    if "transformer" not in kwargs:
        folder = source if spec.config_from_source and Path(source, "transformer", "config.json").is_file() else shipped
        kwargs["transformer"] = spec.load_transformer(
            path, folder, detection.prefixes.get("transformer", ""), asked_dtype(kwargs, "transformer"), kwargs.get("local_files_only", True),
        )
    return pipeline_class.from_pretrained(source, **kwargs)


def in_hub_cache(repo: str) -> bool:
    """Whether the local Hugging Face cache holds `repo`'s model_index.json: whether an offline ``from_pretrained(repo)`` can start."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "model_index.json"), str)


class BaseCheckpoint(namedtuple("BaseCheckpoint", ("holds", "others", "repo", "load_transformer", "passing", "check", "choose"), defaults=(None, None, None))):
    """What a family whose single files hold the transformer alone says to load the rest from a base checkpoint.

    - `holds`: what the file holds, for the refusal, ``{family}`` standing for the detection's family ("Z-Image's transformer");
    - `others`: family -> the components the file lacks (text encoders, tokenizers, VAE), which the caller may pass;
    - `repo`: detection variant -> the hub repository that gives the rest (its model_index.json, the others' weights), or
      None for the plugin's tiny test layout, whose rest is the family's tiny checkpoint;
    - `load_transformer(path, detection, config, local_files_only, dtype)`: the family's transformer loader; `config` is the
      caller's ``config=`` (None when not given or the shipped folder);
    - `passing`: family -> the words of the refusal after "or pass" (default: "text_encoder=, tokenizer=, vae=");
    - `check(path, base, passed)`: the family's own refusal of a base before the file is read (None: none);
    - `choose(family, detection, config, passed)`: the family's own choice of the base, where :meth:`base`'s rule is
      not its (HiDream counts a component passed as None as given); None: :meth:`base`.
    """

    __slots__ = ()

    def refusal(self, path: str, family: str, base: Any, why: str) -> UnsupportedModelError:
        """The error of a base that cannot give the rest: what the file holds, where the rest was sought, why not, what to do."""
        passing = self.passing(family) if self.passing else ", ".join(f"{name}=" for name in self.others(family))
        return UnsupportedModelError(
            f"{path}: the file holds {self.holds.format(family=family)} only, and the rest of the pipeline cannot be had from {base} "
            f"({why}). Download {base} once (huggingface-cli download {base}), or pass config= a local diffusers folder of the model, "
            f"or pass {passing} yourself"
        )

    def base(self, family: str, detection: Detection, config: Any, passed: Mapping[str, Any]) -> Any:
        """Where the rest comes from: the caller's `config` (unless it is the shipped folder); the shipped folder when every
        component it lacks is passed (not None); the tiny checkpoint for the tiny test layout; else the family's repository.
        ``choose``, when given, decides instead."""
        if self.choose is not None:
            return self.choose(family, detection, config, passed)
        shipped = str(detection.config)
        if config is not None and str(config) != shipped:
            return config
        if all(passed.get(name) is not None for name in self.others(family)):
            return shipped  # every component is passed: the shipped model_index and scheduler config do the rest
        repo = self.repo(detection.variant)
        return _tiny(family) if repo is None else repo


def load_from_base(spec: BaseCheckpoint, family: str, pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """An ``autopipe_from_single_file`` hook for a transformer file whose pipeline's rest comes from a base checkpoint.

    The base is :meth:`BaseCheckpoint.base`'s. Loading is offline unless the
    caller passes ``local_files_only=False``: a base that is a hub repo not in
    the local cache (:func:`in_hub_cache`), or that ``spec.check`` refuses,
    is an :class:`~autopipe_core.UnsupportedModelError` raised before the file
    is read, and so is an OSError of diffusers' loading of the base. The
    caller's ``transformer=`` wins (the file is then not read); else
    ``spec.load_transformer`` in the dtype the keywords ask (:func:`~autopipe_core.toolkit.plans.asked_dtype`).
    """
    from pathlib import Path

    from .plans import asked_dtype

    kwargs = dict(kwargs)
    config = kwargs.pop("config", None)
    config = None if config is not None and str(config) == str(detection.config) else config  # the core hands the shipped one
    local = kwargs.pop("local_files_only", True)
    base = spec.base(family, detection, config, kwargs)
    if isinstance(base, str) and not Path(base).is_dir() and local and not in_hub_cache(base):
        raise spec.refusal(path, family, base, "not in the local Hugging Face cache, and single files load offline")
    if spec.check is not None:
        spec.check(path, base, kwargs)
    if kwargs.get("transformer") is None:
        kwargs["transformer"] = spec.load_transformer(path, detection, config, local, asked_dtype(kwargs, "transformer"))
    try:
        return pipeline_class.from_pretrained(base, local_files_only=local, **kwargs)
    except OSError as error:
        raise spec.refusal(path, family, base, f"{type(error).__name__}: {str(error)[:200]}") from error
