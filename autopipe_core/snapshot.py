"""The registration snapshot: the part of the registry that resolving a folder or a file reads, saved per environment.

A cold ``autopipe resolve FOLDER`` spent most of its time before reading a
byte of the checkpoint: discovering the plugins' entry points, importing each
plugin, registering its hooks with pluggy and building the tables. What
resolving a folder then reads from all that is plain data: the reverse index
of class names, each family's requirements and variants (component, key,
value), and the class table. A single file reads a little more: which plugins
detect, with their ``autopipe_detect_keys`` and where their detect function
is ("module:name"), each family's priority and ``AUTOPIPE_PREFER`` (how claims
are ranked), and the family of each class name. The command line saves that
data here after it built a registry, and :mod:`autopipe_core.quick` answers
the next cold run from it, so the number of plugins installed costs almost
nothing, and a file imports only the plugins its tensor names point to. A
load (from_pretrained of a folder, from_pipe) reads which plugin owns each
family and serves each row, and which registers each modifier keyword: from
that, :mod:`autopipe_core.scope` imports only the plugins the load reads, and
saves the snapshot where none is valid.

**Keyed on the installed distributions.** A snapshot is used only when
everything it was built from is as it was: the interpreter, ``sys.path`` and
the ``AUTOPIPE_PLUGINS`` / ``AUTOPIPE_PREFER`` / ``AUTOPIPE_STRICT`` settings
(the file's key), the modification time of every ``sys.path`` folder (pip
adds or removes a ``.dist-info`` folder there to install, upgrade or remove
a distribution), and the modification time and size of every module file
the core and the plugins had imported when it was saved (an editable
plugin's code edited in place). Anything else is a miss, and the command
line builds the registry as before and saves a new snapshot.

**Only data.** A family whose requirements or variants are not the core's
plain Requirement and Variant, or hold values beyond Python's literals, is
saved as opaque: a checkpoint naming its classes is resolved the full way.
The file is written with :mod:`marshal` (it keeps tuples, frozensets and
numbers apart, as the comparisons need them), atomically, in autopipe's
cache folder (``$AUTOPIPE_CACHE``, else ``$XDG_CACHE_HOME/autopipe``, else
``~/.cache/autopipe``), under ``registry/``. It is written and read only by
autopipe; nothing a checkpoint says goes into it.

This module imports only ``os``, ``stat``, ``sys``, ``marshal``, ``zlib`` and the settings' names: reading
a snapshot must cost less than what it saves.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import zlib

from . import settings

#: A lazy hook's `target` when it is one "module:attribute" reference (``lazy_hooks`` of toolkit.rows).
_ONE_TARGET = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"

#: Bumped whenever what is saved changes meaning; a snapshot of another format is a miss.
FORMAT = 4
ENV_CACHE = "AUTOPIPE_CACHE"
#: How many snapshots the folder keeps, the most recently saved: one per environment and settings, so without a bound
#: every virtual environment and AUTOPIPE_PLUGINS value ever used would stay. One pruned costs its environment one slow run.
KEEP = 32
#: The largest snapshot file read (a snapshot of every shipped plugin is tens of KiB).
MAX_BYTES = 16 << 20
#: What stands for :data:`autopipe_core.specs.PRESENT` in a saved value (marshal cannot hold that object).
PRESENT_MARK = Ellipsis


def cache_root() -> str:
    """autopipe's cache folder: ``$AUTOPIPE_CACHE``, else ``$XDG_CACHE_HOME/autopipe``, else ``~/.cache/autopipe``."""
    root = os.environ.get(ENV_CACHE)
    if root:
        return os.path.expanduser(root)
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "autopipe")


def key() -> tuple:
    """What a snapshot must have been built under: this interpreter, its import path and the registry's settings."""
    return (FORMAT, sys.executable, sys.version, tuple(sys.path), tuple(os.environ.get(name) for name in settings.ALL))


def path_for(snapshot_key: tuple) -> str:
    """The snapshot file of a key: one per environment, named by a checksum of the key (the key itself is inside)."""
    return os.path.join(cache_root(), "registry", f"{zlib.crc32(repr(snapshot_key).encode()):08x}.marshal")


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _file_stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def load() -> dict | None:
    """The saved snapshot for this environment, or None: none saved, unreadable, or anything it was built from changed."""
    wanted = key()
    try:
        data = marshal.loads(_read(path_for(wanted)))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("key") != wanted:
        return None
    for folder, mtime in data["folders"]:
        if _mtime(folder) != mtime:
            return None
    for file, stamp in data["files"]:
        if _file_stamp(file) != stamp:
            return None
    return data


def _read(path: str) -> bytes:
    """The file's bytes; OSError unless it is a regular file of at most MAX_BYTES (opened without blocking: a FIFO
    put in its place fails at once, a link to /dev/zero is no regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        size = st.st_size
        if not stat.S_ISREG(st.st_mode) or size > MAX_BYTES:
            raise OSError(f"{path}: not a regular file of at most {MAX_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(size + 1)
    finally:
        os.close(fd)


def _value(value: object, present: object) -> object:
    """A Variant's or Requirement's value as saved (PRESENT as :data:`PRESENT_MARK`); raises TypeError for one marshal cannot keep exactly."""
    if value is present:
        return PRESENT_MARK
    if value is PRESENT_MARK or not _literal(value):
        raise TypeError(f"not a literal: {value!r}")
    return value


def _literal(value: object) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) in (tuple, frozenset):
        return all(_literal(v) for v in value)  # type: ignore[union-attr]
    return False


def _family(spec: object, plugin: str) -> tuple:
    """(plugin, opaque, configs, requires, variants) of one family; opaque when anything is not plain data."""
    from .specs import PRESENT, FamilySpec, Requirement, Variant

    try:
        if type(spec) is not FamilySpec:
            raise TypeError("a FamilySpec subclass")
        requires = tuple(
            (r.component, r.key, tuple(_value(v, PRESENT) for v in r.values))
            for r in spec.requires if type(r) is Requirement or _raise("a Requirement subclass")
        )
        variants = tuple(
            (v.name, v.component, v.key, _value(v.value, PRESENT), tuple(sorted(t.value for t in v.tasks)), v.reason)
            for v in spec.variants if type(v) is Variant or _raise("a Variant subclass")
        )
    except TypeError:
        return (plugin, True, (), (), ())
    return (plugin, False, spec.config_components, requires, variants)


def _raise(why: str) -> bool:
    raise TypeError(why)


def _stamped_files(registry: object) -> tuple[tuple[str, tuple[int, int] | None], ...]:
    """The module files of the core, pluggy and every plugin's top-level package now imported, each with its stamp."""
    tops = {"autopipe_core", "pluggy"}
    for info in registry.plugins:  # type: ignore[attr-defined]
        module = info.entry_point.partition(":")[0]
        if module:
            tops.add(module.partition(".")[0])
    files = []
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in tops:
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                files.append((file, _file_stamp(file)))
    return tuple(sorted(files))


def build(registry: object) -> dict:
    """The snapshot of a built registry (see :class:`autopipe_core.registry.Registry`), stamped now."""
    snapshot_key = key()
    families = {name: _family(spec, plugin) for name, (spec, plugin) in registry.families.items()}  # type: ignore[attr-defined]
    claimants = {
        cls: tuple((e.family, tuple(sorted(e.modifiers)), None if e.on_disk is None else tuple(sorted(e.on_disk)), e.claimed) for e in entries)
        for cls, entries in registry.claimants.items()  # type: ignore[attr-defined]
    }
    for cls, entry in registry.classes.items():  # type: ignore[attr-defined]
        if cls not in claimants:
            claimants[cls] = ((entry.family, tuple(sorted(entry.modifiers)), None if entry.on_disk is None else tuple(sorted(entry.on_disk)), entry.claimed),)
    table = {
        (family, tuple(sorted(mods))): {task.value: (ref, plugin) for task, (ref, plugin) in tasks.items()}
        for (family, mods), tasks in registry.table.items()  # type: ignore[attr-defined]
    }
    missing = {
        (family, tuple(sorted(mods))): {task.value: why for task, why in reasons.items()}
        for (family, mods), reasons in registry.missing.items()  # type: ignore[attr-defined]
    }
    return {
        "key": snapshot_key,
        "folders": tuple((entry or ".", _mtime(entry or ".")) for entry in sys.path),
        "files": _stamped_files(registry),
        "broken": sum(1 for p in registry.plugins if not p.ok),  # type: ignore[attr-defined]
        "families": families,
        "claimants": claimants,
        "table": table,
        "missing": missing,
        "classes": {cls: entry.family for cls, entry in registry.classes.items()},  # type: ignore[attr-defined]
        "priorities": {name: spec.priority for name, (spec, _) in registry.families.items()},  # type: ignore[attr-defined]
        "prefer": tuple(registry.prefer),  # type: ignore[attr-defined]
        "modifiers": {kwarg: plugin for kwarg, (_, plugin) in registry.modifiers.items()},  # type: ignore[attr-defined]
        "detectors": _detectors(registry),
    }


def _detectors(registry: object) -> tuple[tuple[str, frozenset[str] | None, str | None, tuple[str, ...]], ...]:
    """(distribution, autopipe_detect_keys or None, "module:function" that detects or None, the hook arguments it is
    given by name) of every working plugin that detects, in the registry's order: what a single file's detection calls.

    For a hook made by ``lazy_hooks`` the reference is its `target`, the function the hook imports and calls with the
    arguments it names (``autopipe_sd.single_file:detect``): so the cold path imports the detection module alone, not
    the plugin module whose registrations import the specs and pluggy. Otherwise it is the function itself, and None
    unless the function is its module's attribute of that name, so that importing the name gives the very function
    pluggy calls."""
    import re

    from .plugins import implementation

    out = []
    for info in registry.plugins:  # type: ignore[attr-defined]
        if not info.ok or "autopipe_detect" not in info.hooks:
            continue
        impl = implementation(registry.manager, info.distribution, "autopipe_detect")  # type: ignore[attr-defined]
        function = getattr(impl, "function", None)
        target = getattr(function, "target", None)
        if isinstance(target, str) and re.fullmatch(_ONE_TARGET, target):
            ref = target  # a lazy hook (one reference for every family: no "family: ref; ..." list)
        else:
            module, name = getattr(function, "__module__", None), getattr(function, "__name__", None)
            found = sys.modules.get(module) if isinstance(module, str) else None
            ref = f"{module}:{name}" if found is not None and isinstance(name, str) and getattr(found, name, None) is function else None
        keys = registry.detect_keys.get(info.distribution)  # type: ignore[attr-defined]
        out.append((info.distribution, keys, ref, tuple(impl.argnames) if impl is not None else ()))
    return tuple(out)


def save(registry: object) -> str | None:
    """Save the snapshot of `registry` for this environment; the file's path, or None where it cannot be written.

    A cache that cannot be written (a read-only home, a full disk) costs the next run its speed, never its answer.
    """
    data = build(registry)
    path = path_for(data["key"])
    try:
        from .files import write_atomic

        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, lambda f: f.write(marshal.dumps(data)))
    except (OSError, ValueError):
        return None
    _prune(os.path.dirname(path))
    return path


def refresh(registry: object) -> None:
    """Save the snapshot of `registry` unless a valid one is saved for this environment: what the command line does
    after a run that built a registry, and a load that found none. A cache: a failure costs the next run its speed,
    never this one its answer, so nothing is raised."""
    try:
        if load() is None:
            save(registry)
    except Exception:  # noqa: BLE001 - a cache: it may cost the next run its speed, never this run its answer
        pass


def _prune(folder: str) -> None:
    """Remove all but the :data:`KEEP` most recently saved snapshots in `folder` (another process may race: quietly)."""
    try:
        with os.scandir(folder) as entries:
            found = [(e.stat().st_mtime_ns, e.path) for e in entries if e.name.endswith(".marshal") and e.is_file(follow_symlinks=False)]
    except OSError:
        return
    for _, path in sorted(found, reverse=True)[KEEP:]:
        try:
            os.remove(path)
        except OSError:
            pass
