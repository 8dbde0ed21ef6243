"""Reading the cheapest facts about a model: JSON files and a live pipeline's attributes.

Three kinds of reference are understood: a local diffusers folder, a hub repo
id (only JSON files are fetched, with huggingface_hub, so the hub cache, the
revision, the token and offline mode all behave as diffusers users expect) and
a pipeline object already in memory. No weights are read and nothing the
checkpoint names is imported.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import InvalidModelError, ModelNotFoundError, UnsupportedModelError, UntrustedCodeError
from .files import MAX_JSON_BYTES, read_capped, read_json  # MAX_JSON_BYTES, read_json: their names here before they moved
from .options import HUB_OPTIONS  # re-exported: plugins and tests read it here
from .specs import Identity

#: A `_class_name` longer than this is refused (the longest diffusers class name is under 60).
MAX_CLASS_NAME = 200
#: Model cards (README.md) larger than this are refused (real ones are a few KiB; diffusers reads only their front matter).
MAX_CARD_BYTES = 1 << 20

MODEL_INDEX = "model_index.json"

# ASCII only, and \Z (not $, which also matches before a final newline): "Name\n" is no class name or repo id.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9_.-]{1,96})?\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Given the candidate class names, which component configs are worth reading.
Wanted = Callable[[tuple[str, ...]], Iterable[str]]


def card_data(folder: Path) -> dict[str, Any]:
    """The metadata (YAML front matter) of the model card ``README.md`` in `folder`; empty without a card.

    Read whole, but at most MAX_CARD_BYTES, without blocking, and parsed with
    huggingface_hub's ModelCard (as diffusers reads a connected pipeline's
    prior from it). A card that is not valid is an InvalidModelError.
    """
    try:
        text = read_capped(folder / "README.md", "a model card", MAX_CARD_BYTES, f"the model card {folder / 'README.md'}")
    except FileNotFoundError:
        return {}
    import yaml  # huggingface_hub's own YAML reader (a dependency of it)
    from huggingface_hub import ModelCard

    try:
        return ModelCard(text.decode("utf-8"), ignore_metadata_errors=True).data.to_dict()
    except (ValueError, TypeError, yaml.YAMLError) as exc:  # front matter that is not YAML, or metadata of the wrong shape
        raise InvalidModelError(f"the model card {folder / 'README.md'} cannot be read: {str(exc)[:200]}") from None


class ComponentFolderError(UnsupportedModelError):
    """A folder that holds one model (a config.json with its ``_class_name``), not a pipeline. ``class_name`` names it."""

    def __init__(self, message: str, class_name: str):
        super().__init__(message)
        self.class_name = class_name


def modular(index: Mapping[str, Any]) -> bool:
    """Whether model_index.json is diffusers' modular pipeline format: ``_blocks_class_name``, or [library, class, spec] entries."""
    if "_blocks_class_name" in index:
        return True
    return any(isinstance(v, list) and len(v) == 3 and isinstance(v[2], dict) for k, v in index.items() if not k.startswith("_"))


def _class_name(index: Mapping[str, Any], where: str) -> str:
    name = index.get("_class_name")
    if name is None:
        raise InvalidModelError(f"{where} has no '_class_name': it does not say which pipeline it is. Is it a diffusers pipeline folder?")
    if modular(index):
        raise UnsupportedModelError(
            f"{where} is in diffusers' modular pipeline format ({str(name)[:80]}: components with a loading spec, blocks in "
            f"{str(index.get('_blocks_class_name', 'its blocks'))[:80]}). autopipe serves DiffusionPipeline checkpoints; load this one "
            "with diffusers.ModularPipeline.from_pretrained (its blocks are code of the checkpoint's choosing: trust_remote_code=True only if you trust it)."
        )
    if isinstance(name, (list, tuple)) and len(name) == 2 and all(isinstance(v, str) for v in name):
        module, cls = (v[:80] for v in name)
        raise UntrustedCodeError(
            f"{where}: _class_name [{module!r}, {cls!r}] names a custom pipeline: the class {cls} in {module}.py, code shipped with "
            "the checkpoint, which autopipe does not run. If you trust it, load it with "
            "diffusers.DiffusionPipeline.from_pretrained(..., trust_remote_code=True), or use the checkpoint's own instructions."
        )
    if not isinstance(name, str):
        raise InvalidModelError(f"{where}: '_class_name' must be a string, not {type(name).__name__}")
    if len(name) > MAX_CLASS_NAME or not _IDENTIFIER.match(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidModelError(f"{where}: '_class_name' {shown!r} is not a Python class name")
    return name


def components(index: Mapping[str, Any], where: str = MODEL_INDEX) -> dict[str, tuple[str | None, str | None]]:
    """The [library, class] pairs of model_index.json; other keys are pipeline config, not components.

    A list that starts with a string is a component to diffusers, which would
    look its library up (see guard.py): one that is not a pair of strings or
    nulls is refused here rather than silently left out of what is checked.
    """
    out = {}
    for key, value in index.items():
        if key.startswith("_") or not isinstance(value, (list, tuple)):
            continue
        if len(value) == 2 and all(v is None or (isinstance(v, str) and len(v) <= MAX_CLASS_NAME) for v in value):
            out[key] = (value[0], value[1])
        elif value and isinstance(value[0], str):
            shown = json.dumps(value)[:80]
            raise InvalidModelError(
                f"{where}: the component {key[:80]!r} is {shown}, not a [library, class] pair of strings. "
                "Re-save the pipeline with save_pretrained, or correct the entry (e.g. [\"diffusers\", \"UNet2DConditionModel\"])."
            )
    return out


def list_folder(root: Path, needed: Container[str] | None = None) -> tuple[str, ...]:
    """Files at the top and one level down (the component folders): enough to see weight variants and component code.

    Raises OSError when `root` cannot be listed, or a folder in it named in `needed` (default: any), the error's
    filename that folder. A folder not needed that cannot be listed (no permission, a link loop) is left out:
    diffusers reads only the component folders model_index.json names, so nothing in it can be loaded or run.
    """
    files = []
    with os.scandir(root) as top:
        for entry in top:
            try:  # a link's target is looked at: a loop or a target that cannot be read raises here
                if entry.is_file():
                    files.append(entry.name)
                elif entry.is_dir() and not entry.name.startswith("."):
                    with os.scandir(entry.path) as sub:
                        files.extend(f"{entry.name}/{e.name}" for e in sub if _is_file(e))
            except OSError as exc:
                if needed is None or entry.name in needed:
                    raise OSError(exc.errno, exc.strerror, entry.path) from None
    return tuple(sorted(files))


def _is_file(entry: os.DirEntry) -> bool:
    """Whether a component folder's entry is a file; a link that loops or cannot be followed is not one."""
    try:
        return entry.is_file()
    except OSError:
        return False


class FolderFiles(Sequence[str]):
    """A pipeline folder's files as :func:`list_folder` gives them, listed the first time they are asked for.

    An Identity's ``files`` for a folder: resolving needs model_index.json and a few configs, never the listing, which
    at a thousand components costs more than the rest of resolve together (a directory listing per component). Loading
    and planning read it (which components have files, which weight variants exist), and then it is listed whole, once,
    as before. It compares, hashes, prints and pickles as the tuple it stands for; a folder that cannot be listed is a
    :class:`~autopipe_core.errors.ModelNotFoundError` when first read. The guard lists the folder itself
    (:func:`autopipe_core.guard.foreign_in`), so this changes nothing of what it checks.
    """

    __slots__ = ("root", "needed", "_files")

    def __init__(self, root: Path, needed: Container[str] | None = None):
        self.root = root
        self.needed = needed  # the folders that must list (list_folder's `needed`): the components
        self._files: tuple[str, ...] | None = None

    def _listed(self) -> tuple[str, ...]:
        files = self._files
        if files is None:
            try:
                files = self._files = list_folder(self.root, self.needed)
            except OSError as exc:
                raise ModelNotFoundError(f"cannot list {exc.filename or self.root}: {exc.strerror or exc}") from None
        return files

    @property
    def listed(self) -> bool:
        """Whether the folder was listed already (nothing asked for the files yet when False)."""
        return self._files is not None

    def __len__(self) -> int:
        return len(self._listed())

    def __getitem__(self, index: Any) -> Any:
        return self._listed()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())

    def __contains__(self, name: object) -> bool:
        return name in self._listed()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FolderFiles):
            other = other._listed()
        return self._listed() == other if isinstance(other, tuple) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._listed())

    def __repr__(self) -> str:
        return repr(self._listed())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self._listed(),))  # a copy or a pickle is the plain tuple


def _identity(
    origin: str, reference: str, index: dict, where: str, read_config: Callable[[str], dict | None], wanted: Wanted,
    files: tuple[str, ...] | None, commit: str | None = None, passed: Mapping[str, Any] = {},
) -> Identity:
    """The Identity of a model_index.json; the component configs `wanted` are read, or taken from the objects `passed`.

    A component the caller passes (``from_pretrained(folder, unet=unet)``) is
    what will load, so its config is the object's own, and its folder need not
    exist (as diffusers allows); one passed as None is absent.
    """
    name = _class_name(index, where)
    listed = components(index, where)
    configs = {}
    for component in wanted((name,)):
        if component in passed:
            config = getattr(passed[component], "config", None)
            if config is not None:
                configs[component] = config_dict(config)
        elif component in listed and listed[component][1] is not None:
            config = read_config(component)
            if config is not None:
                configs[component] = config
    return Identity(origin, reference, name, listed, configs, files, commit=commit)


def component_class(path: Path) -> str | None:
    """The ``_class_name`` of a model folder's config.json (a ControlNetModel, a UNet saved alone), or None."""
    try:
        name = read_json(path / "config.json", "config.json").get("_class_name")
    except (FileNotFoundError, InvalidModelError, ModelNotFoundError):
        return None
    return name if isinstance(name, str) and _IDENTIFIER.match(name) and len(name) <= MAX_CLASS_NAME else None


def from_folder(path: Path, wanted: Wanted, passed: Mapping[str, Any] = {}) -> Identity:
    index_path = path / MODEL_INDEX
    try:
        os.lstat(index_path)
        present = True
    except FileNotFoundError:
        present = False
    except OSError as exc:  # no permission to look into the folder: not a folder without model_index.json
        raise ModelNotFoundError(f"cannot look into {path} ({exc.strerror or exc}): make it readable, or check the path") from None
    if not present:
        model = component_class(path)
        if model is not None:
            raise ComponentFolderError(
                f"{path} holds one model, a {model} (its config.json), not a pipeline: load it with diffusers.{model}.from_pretrained "
                "and pass it to a pipeline of its family when loading that, or pass the pipeline folder that holds model_index.json.",
                model,
            )
        raise InvalidModelError(
            f"{path} is a folder but has no {MODEL_INDEX}, so it is not a diffusers pipeline folder. "
            "Pass the folder that holds model_index.json (not a component folder such as unet/), "
            "or a single .safetensors checkpoint file."
        )
    try:
        index = read_json(index_path, MODEL_INDEX)
    except FileNotFoundError:
        raise ModelNotFoundError(f"{index_path} is a link to a file that does not exist. Re-download the checkpoint.") from None

    def read_config(component: str) -> dict | None:
        config = path / component / "config.json"
        try:
            return read_json(config, f"{component}/config.json")
        except FileNotFoundError:
            raise InvalidModelError(
                f"{path}: {MODEL_INDEX} lists the component {component!r} but {component}/config.json is missing. "
                f"The checkpoint is incomplete: complete it, or pass {component}=... to from_pretrained."
            ) from None

    # The folders diffusers reads: the components with a library ([null, null] is one it does not load).
    needed = frozenset(k for k, v in index.items() if not k.startswith("_") and not (isinstance(v, list) and v[:1] == [None]))
    return _identity("folder", str(path), index, str(index_path), read_config, wanted, FolderFiles(path, needed), passed=passed)


def is_repo_id(reference: str) -> bool:
    return bool(_REPO_ID.match(reference)) and ".." not in reference


def from_hub(repo_id: str, wanted: Wanted, passed: Mapping[str, Any] = {}, **hub: Any) -> Identity:
    """Fetch model_index.json and the wanted component configs, nothing else, through the hub cache."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    options = {k: v for k, v in hub.items() if k in HUB_OPTIONS and v is not None}
    unreachable = None if options.get("local_files_only") else hub_unreachable()
    if unreachable is not None:  # answer from the cache at once instead of after huggingface_hub's retries
        options["local_files_only"] = True

    def fetch(filename: str) -> Path:
        try:
            return Path(hf_hub_download(repo_id, filename, **options))
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:  # before EntryNotFoundError: a subclass
            if unreachable:
                why = f"the hub cannot be reached ({unreachable})"
                then = "Connect once to download it, or pass a local folder; to work offline on purpose, set HF_HUB_OFFLINE=1."
            else:  # offline on purpose already: setting it is no advice
                why = "offline, or local_files_only=True"
                then = "Download it once without HF_HUB_OFFLINE or local_files_only, or pass a local folder."
            raise ModelNotFoundError(
                f"{repo_id!r} is not a local folder, and its {filename} is not in the hub cache"
                f"{' (' + str(options['cache_dir']) + ')' if 'cache_dir' in options else ''} and cannot be downloaded ({why}). {then}"
            ) from exc
        except EntryNotFoundError:
            raise FileNotFoundError(filename) from None
        except (HfHubHTTPError, OSError, ValueError) as exc:
            raise ModelNotFoundError(f"cannot get {filename} of {repo_id!r} from the hub: {exc}. Check the repo id, revision and token.") from exc

    try:
        index_path = fetch(MODEL_INDEX)
    except FileNotFoundError:
        raise InvalidModelError(f"the hub repo {repo_id!r} has no {MODEL_INDEX}: it is not a diffusers pipeline repo.") from None
    index = read_json(index_path, f"{repo_id}/{MODEL_INDEX}")
    commit = snapshot_commit(index_path)
    if commit is not None:
        options["revision"] = commit  # every further file from the same snapshot as model_index.json

    def read_config(component: str) -> dict | None:
        try:
            return read_json(fetch(f"{component}/config.json"), f"{repo_id}/{component}/config.json")
        except FileNotFoundError:
            raise InvalidModelError(f"{repo_id}: {MODEL_INDEX} lists {component!r} but the repo has no {component}/config.json") from None

    return _identity("hub", repo_id, index, f"{repo_id}/{MODEL_INDEX}", read_config, wanted, None, commit, passed)


#: How long to wait for the hub's host to answer before answering from the cache alone (seconds).
HUB_PROBE_SECONDS = 3.0
_probed: dict[tuple[str, int], str | None] = {}


def hub_unreachable() -> str | None:
    """None when the hub (or the HTTPS proxy in the environment) accepts a connection, else why not; asked once per process.

    huggingface_hub retries a failed connection five times with backoff
    (about 25 s) before it falls back to its cache; a TCP connection attempt
    with a short timeout says the same in at most HUB_PROBE_SECONDS. Offline
    mode (HF_HUB_OFFLINE) is huggingface_hub's own business: no probe then.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlsplit(proxy or constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    key = (host, port)
    if key in _probed:
        return _probed[key]
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection(key, timeout=HUB_PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout of its own
    thread.start()
    thread.join(HUB_PROBE_SECONDS)
    _probed[key] = outcome[0] if outcome else f"{host}:{port} did not answer within {HUB_PROBE_SECONDS:.0f} s"
    return _probed[key]


_COMMIT = re.compile(r"[0-9a-f]{40}\Z")


def with_files(identity: Identity, hub: Mapping[str, Any] = {}) -> Identity:
    """A hub Identity with its repo's file list at the commit read (a metadata call, no download), so a plan sees the
    weight variants; as it was where the list is known already, or cannot be had (offline, gated: the plan says so)."""
    if identity.files is not None or identity.origin != "hub":
        return identity
    from dataclasses import replace

    from huggingface_hub import list_repo_files

    options = {k: v for k, v in hub.items() if k in ("token",) and v is not None}
    try:
        return replace(identity, files=tuple(list_repo_files(identity.reference, revision=identity.commit, **options)))
    except Exception:  # noqa: BLE001 - offline, gated, unreachable: the plan then says it could not see the files
        return identity


def snapshot_commit(path: Path) -> str | None:
    """The commit of a file huggingface_hub put in its cache: ``.../snapshots/<commit>/<file>`` (its documented cache layout)."""
    parts = path.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "snapshots" and _COMMIT.match(parts[i + 1]):
            return parts[i + 1]
    return None


def hub_snapshot(repo_id: str, commit: str, **hub: Any) -> Path:
    """The local snapshot of `commit` holding the repo's JSON and Python files only (what decides what diffusers imports).

    Weights are not fetched: diffusers downloads them into the same snapshot when it loads.
    Offline, what the cache holds of that commit is the snapshot (it is all diffusers, offline too, can
    load): huggingface_hub before 2.2 asks the API for the file list even then, so the cache is read here.
    Raises ModelNotFoundError where the snapshot cannot be had (offline and not cached).
    """
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    options = {k: v for k, v in hub.items() if k in HUB_OPTIONS and k != "revision" and v is not None}
    try:
        if constants.HF_HUB_OFFLINE or options.get("local_files_only"):
            cached = {k: v for k, v in options.items() if k == "cache_dir"}
            return Path(hf_hub_download(repo_id, MODEL_INDEX, revision=commit, local_files_only=True, **cached)).parent
        return Path(snapshot_download(repo_id, revision=commit, allow_patterns=["*.json", "*.py"], **options))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many kinds, all mean "cannot have it"
        raise ModelNotFoundError(
            f"cannot get the JSON files of {repo_id!r} at {commit} to check them before loading ({type(exc).__name__}: {str(exc)[:200]}). "
            "Connect once, or pass a local folder."
        ) from None


def config_dict(config: Any) -> dict[str, Any]:
    """A live component's config as the dict its config.json would hold, through its library's own serialisation.

    diffusers' configs are mappings (a FrozenDict); transformers' are
    ``PretrainedConfig`` objects, which ``dict()`` cannot read: their own
    ``to_dict()`` gives what ``save_pretrained`` writes.
    """
    if isinstance(config, Mapping):
        return dict(config)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
        if isinstance(value, Mapping):
            return dict(value)
    return dict(vars(config))


def _has(obj: Any, name: str) -> bool:
    """``hasattr(obj, name)`` without running a property: diffusers' ``components`` inspects the class's signature
    each time it is read. Looked up on the class and the instance first; only what neither has is asked for."""
    return any(name in vars(k) for k in type(obj).__mro__) or name in getattr(obj, "__dict__", ()) or hasattr(obj, name)


def is_pipeline(model: Any) -> bool:
    """Whether `model` is a live pipeline (it has ``components`` and ``config``), without reading either."""
    return _has(model, "components") and _has(model, "config")


def live_components(model: Any) -> dict[str, Any] | None:
    """A live pipeline's ``components``, read once (from_pipe hands them to the Identity and the switch); None for
    anything that is not a pipeline."""
    return dict(getattr(model, "components", {}) or {}) if is_pipeline(model) else None


def from_pipeline(pipeline: Any, wanted: Wanted, components: Mapping[str, Any] | None = None) -> Identity:
    """Facts about a pipeline in memory: its class (and bases), its components, their configs.

    `components` is ``pipeline.components`` where the caller has read it already (:func:`live_components`).
    """
    klass = type(pipeline)
    bases = tuple(c.__name__ for c in klass.__mro__)
    live = live_components(pipeline) if components is None else components
    components = {}
    for name, component in (live or {}).items():
        components[name] = (type(component).__module__.split(".")[0], type(component).__name__) if component is not None else (None, None)
    configs = {}
    for name in wanted(bases):
        config = getattr(getattr(pipeline, name, None), "config", None)
        if config is not None:
            configs[name] = config_dict(config)
    config = getattr(pipeline, "config", {}) or {}
    reference = config.get("_name_or_path") or klass.__name__
    return Identity("pipeline", str(reference), klass.__name__, components, configs, None, bases)


def local_path(model: str | os.PathLike[str]) -> Path | None:
    """The canonical path of a local reference, or None when nothing exists there (then it may be a hub repo id).

    A leading ``~`` is the user's folder (as the shell reads it: ``./~/sd`` is a
    folder named ``~``); the path is made absolute with every link resolved, so
    what is checked is what diffusers is handed. Raises ModelNotFoundError for
    a path the system cannot follow (a symlink loop, no permission).
    """
    text = os.fspath(model)
    if text == "":  # realpath("") is the working folder; diffusers takes "" for a hub repo id and fails there
        raise ModelNotFoundError("'' is an empty model reference: pass a diffusers folder, a single-file checkpoint or a hub repo id ('org/name').")
    if text.startswith("~"):
        text = os.path.expanduser(text)
    try:
        return Path(os.path.realpath(text, strict=True))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        raise ModelNotFoundError(f"{text[:200]!r} is not a usable path (it holds a NUL character)") from None
    except OSError as exc:
        what = {
            errno.ELOOP: "Check the links in it.",
            errno.ENAMETOOLONG: "A name in it is longer than the system allows: check the path.",
            errno.EACCES: "Check the permissions of the folders on it.",
        }.get(exc.errno, "Check the path.")
        shown = text if len(text) <= 200 else text[:197] + "..."
        raise ModelNotFoundError(f"cannot follow the path {shown}: {exc.strerror or exc}. {what}") from None


def identify(model: Any, wanted: Wanted, passed: Mapping[str, Any] = {}, **hub: Any) -> Identity:
    """Identity of a folder path, a hub repo id or a live pipeline (single files are read by :mod:`autopipe_core.single_file`).

    `passed` are the components the caller hands from_pretrained (``unet=...``): their configs are theirs.
    """
    if not isinstance(model, (str, os.PathLike)):
        if is_pipeline(model):
            return from_pipeline(model, wanted)
        raise TypeError(f"model must be a path, a hub repo id or a diffusers pipeline, not {type(model).__name__}")
    reference = os.fspath(model)
    path = local_path(reference)
    if path is not None:
        if path.is_dir():
            return from_folder(path, wanted, passed)
        raise InvalidModelError(f"{reference} is a file, not a diffusers folder: pass it where a single-file checkpoint is taken (resolve, from_pretrained, from_single_file).")
    if isinstance(model, str) and is_repo_id(reference) and not looks_like_path(reference):
        return from_hub(reference, wanted, passed, **hub)
    if looks_like_path(reference) or not isinstance(model, str):
        raise ModelNotFoundError(f"there is no folder or file at {os.path.abspath(os.path.expanduser(reference))} ({reference!r}). Check the path.")
    raise ModelNotFoundError(f"{reference!r} is neither a local folder nor a hub repo id ('org/name'). Check the path.")


def looks_like_path(reference: str) -> bool:
    """Whether a reference that names nothing on disk was meant as a path, not a hub repo id ('org/name').

    A leading ``/``, ``.``, ``~`` or a backslash, a trailing slash, more than
    one slash, or a first part that is a folder here (``models/sd15`` where
    ``models/`` exists): a typo in a path, to be reported as a missing folder
    rather than sent to the hub.
    """
    if reference.startswith(("/", ".", "~")) or "\\" in reference or reference.endswith("/") or reference.count("/") > 1:
        return True
    head = reference.partition("/")[0]
    return "/" in reference and os.path.isdir(head)
