"""A cold ``autopipe resolve FOLDER`` or ``resolve FILE`` answered from the registration snapshot, no plugin discovered or registered.

The command line tries this before anything else (``autopipe_core.cli.main``
with no argument list, i.e. a real process). It answers only what it can
answer exactly as the full path would, byte for byte:

- the command ``resolve`` of a local diffusers folder or ``.safetensors``
  file, with ``--task`` and ``--json`` and nothing else;
- a snapshot saved for this environment and still valid
  (:mod:`autopipe_core.snapshot`);
- a checkpoint every step of whose resolution is a look-up in that data: its
  model_index.json and the component configs read cleanly, a candidate
  family that is not opaque fits, and every task either resolves or is
  refused by the rules of :mod:`autopipe_core.refusals`;
- for a file, a header that reads cleanly, shown to each plugin the snapshot
  says detects and whose ``autopipe_detect_keys`` it holds, as
  :func:`autopipe_core.single_file.detect` shows it: each such plugin's own
  detection runs (importing its detection module alone), its answer checked
  as the registry checks it, the claims ranked by the same rules, and the
  best one a pipeline whose shipped config folder reads cleanly.

Anything else (an error to report, a hub repo id, a pickle, a plugin whose
detect raises, a modifier flag, a snapshot missing or stale) returns None and
the full command line runs, which also saves a fresh snapshot. So the full
path stays the one source of every message, and a test compares the two on
every checkpoint there is (tests/test_quick.py).

Imports for a folder: ``os``, ``sys``, ``json``, ``stat``, the settings and the snapshot; no typing, no
dataclasses, no argparse, no pluggy, no plugin. For a file, also the header reader, :class:`~autopipe_core.detection.Detection`
and the detection modules of the plugins the header's names point to (a lazy hook's target, with its package):
still no typing, pathlib, dataclasses, specs or pluggy, which would cost more than half of the run
(tests/test_quick.py probes a file of each layout for them).
"""

from __future__ import annotations

import json
import os
import stat

from . import settings, snapshot
from .refusals import label, no_pipeline, variant_cannot
from .tasks import Task

#: As autopipe_core.sources reads a diffusers JSON file and a class name (a test keeps them equal).
MAX_JSON_BYTES = 1 << 20
MAX_CLASS_NAME = 200
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class _Miss(Exception):
    """This run needs the full path."""


def answer(argv: list[str]) -> int | None:
    """Run ``autopipe resolve`` from the snapshot and return its exit status, or None to run the full command line."""
    if not argv or argv[0] != "resolve":
        return None
    try:
        model, task, as_json = _arguments(argv[1:])
        data = snapshot.load()
        if data is None or (data["broken"] and settings.strict()):
            return None
        lines = _resolve(data, model, task, as_json)
    except _Miss:
        return None
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # the reader went away (`autopipe resolve F | head -0`): quietly, as the full path does
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return 0


def _arguments(args: list[str]) -> tuple[str, Task | None, bool]:
    model, task, as_json = None, None, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--json" and not as_json:
            as_json = True
        elif arg == "--task" and task is None and i + 1 < len(args) and not args[i + 1].startswith("-"):
            i += 1
            task = _task(args[i])
        elif arg.startswith("--task=") and task is None:
            task = _task(arg[len("--task="):])
        elif not arg.startswith("-") and model is None and arg:
            model = arg
        else:
            raise _Miss  # an option argparse must read (abbreviations, -v, --enable-pag, hub options ...), or a mistake
        i += 1
    if model is None:
        raise _Miss
    return model, task, as_json


def _task(text: str) -> Task:
    try:
        return Task.parse(text)
    except ValueError:
        raise _Miss from None


def _local(model: str) -> str:
    """The canonical path, as sources.local_path makes it; a miss for anything but a folder or file that exists."""
    text = os.path.expanduser(model) if model.startswith("~") else model
    try:
        return os.path.realpath(text, strict=True)
    except (OSError, ValueError):
        raise _Miss from None


def _read(path: str) -> dict:
    """A small JSON object read as files.read_json reads it (without importing files and its contextlib: a folder imports neither); a miss wherever that would refuse it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        raise _Miss from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_JSON_BYTES:
            raise _Miss
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_JSON_BYTES:
        raise _Miss
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _Miss from None
    if type(value) is not dict:
        raise _Miss
    return value


def _class_name(index: dict) -> str:
    name = index.get("_class_name")
    if type(name) is not str or not name or len(name) > MAX_CLASS_NAME or not set(name) <= _ASCII_WORD or name[0].isdigit():
        raise _Miss  # absent, a custom [module, class] pair, not a Python name: the full path says which
    if "_blocks_class_name" in index:
        raise _Miss
    return name


def _components(index: dict) -> dict:
    """The [library, class] pairs, as sources.components reads them (JSON has no tuples: a list or not a component)."""
    listed = {}
    for key, value in index.items():
        if key.startswith("_") or type(value) is not list:
            continue
        if len(value) == 2 and all(v is None or (type(v) is str and len(v) <= MAX_CLASS_NAME) for v in value):
            listed[key] = value
        elif value and type(value[0]) is str:
            raise _Miss  # a malformed entry: the full path words the error
        # else pipeline config, not a component (Krea 2's "text_encoder_select_layers": [1, 2])
    return listed


def _holds(value: object, expected: object) -> bool:
    return value is not None if expected is snapshot.PRESENT_MARK else value == expected


def _config_value(configs: dict, component: str, key: str) -> object:
    config = configs.get(component)
    return config.get(key) if type(config) is dict else None


def _unmet(family: tuple, configs: dict) -> bool:
    for component, key, values in family[3]:
        if component in configs and not any(_holds(_config_value(configs, component, key), v) for v in values):
            return True
    return False


def _resolve(data: dict, model: str, task: Task | None, as_json: bool) -> list[str]:
    path = _local(model)
    detection = None
    if os.path.isdir(path):
        name, configs = _folder_facts(data, path)
    else:
        name, configs, detection = _file_facts(data, path)
    family, results = _results(data, path, name, configs, task)
    return _report(data, path, name, family, task, results, as_json, detection)


def _folder_facts(data: dict, folder: str) -> tuple[str, dict]:
    """The class a diffusers folder names and the component configs its candidate families read (resolve.identify's)."""
    index = _read(os.path.join(folder, "model_index.json"))
    name = _class_name(index)
    listed = _components(index)
    entries = data["claimants"].get(name)
    if not entries:
        raise _Miss
    families = data["families"]
    wanted: dict[str, None] = {}
    for family, *_ in entries:
        spec = families.get(family)
        if spec is None or spec[1]:
            raise _Miss  # a family whose rules are code, not data
        wanted.update(dict.fromkeys(spec[2]))
    configs = {}
    for component in wanted:
        if component in listed and listed[component][1] is not None:
            configs[component] = _read(os.path.join(folder, component, "config.json"))
    return name, configs


def _file_facts(data: dict, path: str) -> tuple[str, dict, object]:
    """What single_file.identify_file finds in a .safetensors file: the class the best claim names, the configs of the
    folder its plugin ships, and the claim. Each plugin's own autopipe_detect runs, as the snapshot names it."""
    detectors = data.get("detectors")
    if detectors is None or not path.endswith(".safetensors"):
        raise _Miss  # a pickle or another kind of file: the full path says what it is
    import importlib

    from . import headers
    from .answer_lists import detections
    from .claims import rank, shown

    try:
        with headers.opened(path, "a checkpoint file") as f:
            header = headers.parse_header(f, os.fstat(f.fileno()).st_size, path)
    except (OSError, ValueError):  # AutopipeError is a ValueError: the full path reads again and says what is wrong
        raise _Miss from None
    arguments = {"header": header}
    prefer, families, priorities = data["prefer"], data["families"], data["priorities"]
    claims = []
    for plugin, keys, ref, argnames in detectors:  # as single_file.detect asks them, and ranks the claims
        if not shown(keys, header.tensors):
            continue
        if ref is None:
            raise _Miss
        module, _, attribute = ref.partition(":")
        try:
            function = importlib.import_module(module)
            for part in attribute.split("."):  # as a lazy hook looks up its target, at every call
                function = getattr(function, part)
            found = detections(function(**{a: arguments[a] for a in argnames}), arguments)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - the full path reports the plugin's error in its verdict
            raise _Miss from None
        for detection in found:
            detection = detection._replace(plugin=plugin)
            owner = families[detection.family][0] if detection.family in families else None
            claims.append((rank(plugin, detection.confidence, owner, priorities.get(detection.family, 0), prefer), detection))
    claims.sort(key=lambda c: c[0])
    if not claims or not claims[0][1].is_pipeline:
        raise _Miss  # no plugin recognises it, or one model and not a pipeline: the full path words the refusal
    best = claims[0][1]
    name = best.pipeline_class.rpartition(":")[2]
    configs = {}
    if best.config is not None:
        listed = _components(_read(os.path.join(best.config, "model_index.json")))
        family = data["classes"].get(name)
        spec = families.get(family) if family is not None else None
        if family is not None and (spec is None or spec[1]):
            raise _Miss
        for component in spec[2] if spec is not None else ():
            config = os.path.join(best.config, component, "config.json")
            if component in listed and os.path.isfile(config):
                configs[component] = _read(config)
    return name, configs, best


def _results(data: dict, reference: str, name: str, configs: dict, task: Task | None) -> tuple[str, dict]:
    """The family, and each task's (class reference, plugin) or refusal, as resolve_identity gives them."""
    entries = data["claimants"].get(name)
    if not entries:
        raise _Miss
    families = data["families"]
    for family, *_ in entries:
        spec = families.get(family)
        if spec is None or spec[1]:
            raise _Miss
    entry = None
    for candidate in entries:
        spec = families[candidate[0]]
        if not _unmet(spec, configs) and (not candidate[3] or all(c in configs for c, _, _ in spec[3])):
            entry = candidate
            break
    if entry is None:
        raise _Miss
    family, mods, on_disk, _ = entry
    modifiers = on_disk if on_disk is not None else mods
    key = (family, modifiers)
    row = data["table"].get(key, {})
    if not row and key not in data["missing"]:
        raise _Miss
    spec = families[family]
    matching = [v for v in spec[4] if v[1] in configs and _holds(_config_value(configs, v[1], v[2]), v[3])]
    results: dict[Task, tuple[str, str] | str] = {}
    for t in Task if task is None else (task,):
        can = [c for c in Task if c.value in row and all(c.value in v[4] for v in matching)]
        if t.value not in row:
            results[t] = no_pipeline(label(family, modifiers), t, data["missing"].get(key, {}).get(t.value), can)
            continue
        refusal = next((v for v in matching if t.value not in v[4]), None)
        if refusal is not None:
            results[t] = variant_cannot(reference, refusal[0], refusal[5], family, t, can)
            continue
        results[t] = row[t.value]
    return family, results


def _report(data: dict, reference: str, name: str, family: str, task: Task | None, results: dict, as_json: bool,
            detection: object = None) -> list[str]:
    """The lines autopipe_core.cli.reports.resolve prints for these results (`detection`: a single file's claim)."""
    if task is not None:
        found = results[task]
        if type(found) is str:
            raise _Miss  # an error to report: the full path words it
        ref, plugin = found
        pipeline_class = ref.rpartition(":")[2]
        if as_json:
            return [json.dumps({"family": family, "plugin": plugin, "task": task.value, "pipeline_class": pipeline_class})]
        return [pipeline_class]
    if all(type(r) is str for r in results.values()):
        raise _Miss
    owner = data["families"][family][0]
    if any(type(r) is str for r in results.values()):
        from .advice import as_said_here
    if as_json:
        pipelines = {t.value: (None if type(r) is str else r[0].rpartition(":")[2]) for t, r in results.items()}
        refused = {t.value: as_said_here(r) for t, r in results.items() if type(r) is str}
        detected = {"variant": detection.variant, "detected_by": detection.plugin} if detection is not None else {}
        return [json.dumps({"family": family, "plugin": owner, "pipelines": pipelines, **({"refused": refused} if refused else {}), **detected})]
    lines = [f"model:   {reference} ({name})", f"family:  {family} (plugin {owner})"]
    if detection is not None:
        lines.append(f"file:    {detection.variant}, detected by {detection.plugin} ({detection.confidence:.2f}): {detection.reason}")
    for t, r in results.items():
        lines.append(f"  {t.value:<9} {('cannot: ' + as_said_here(r)) if type(r) is str else r[0].rpartition(':')[2]}")
    return lines
