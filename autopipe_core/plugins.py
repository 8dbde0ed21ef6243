"""Finding plugins: entry points in the group ``autopipe.plugins``, each loaded on its own.

A plugin that fails to import, or whose hooks do not fit the protocol, is
recorded with its distribution's name and left out; the others load as usual.
``AUTOPIPE_PLUGINS`` (comma-separated distribution names, empty for none)
restricts which distributions are loaded at all.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import time
import types
from dataclasses import dataclass
from typing import Any, Iterable

import pluggy

from . import builtin, hookspecs, settings
from ._version import __version__

ENTRY_POINT_GROUP = "autopipe.plugins"
CORE = "autopipe-core"

#: A plugin whose import takes longer than this many seconds is flagged "slow import" by
#: ``autopipe plugins``. Registration must import nothing heavy (no torch, no diffusers), so a
#: well-behaved plugin imports in milliseconds; a slow one delays the first resolve of the process.
#: It is reported, not cut off: an import cannot be interrupted safely, and the others load as usual.
SLOW_IMPORT_SECONDS = 0.5

#: A plugin whose import is still running after this many seconds is named on stderr while the
#: process waits (and again every NOTICE_SECONDS * 2 after), so a hang is never silent.
NOTICE_SECONDS = 3.0

_current = threading.local()


def current() -> str | None:
    """The distribution whose code this thread is running on autopipe's behalf (importing it, calling a hook), or None."""
    return getattr(_current, "plugin", None)


class running:
    """``with running(dist):`` marks the code inside as the plugin `dist`'s, for :func:`current` (nests)."""

    def __init__(self, plugin: str):
        self.plugin = plugin

    def __enter__(self) -> None:
        self.outer = current()
        _current.plugin = self.plugin

    def __exit__(self, *exc: object) -> None:
        _current.plugin = self.outer


class _Watch:
    """Names a plugin on stderr while its import runs longer than NOTICE_SECONDS, then at twice the wait each time.

    One daemon thread per process watches every import (started at the first): a thread per plugin cost a
    thread start and a cancel for each of them on every run, most of what a quick plugin's import costs.
    """

    _lock = threading.Condition()
    _watched: list["_Watch"] = []
    _thread: threading.Thread | None = None

    def __init__(self, plugin: str, stream: Any = None):
        self.plugin, self.stream, self.start = plugin, stream, time.perf_counter()
        self.delay = NOTICE_SECONDS
        self.due = self.start + self.delay

    def _notice(self) -> None:
        waited = time.perf_counter() - self.start
        try:
            print(f"autopipe: still importing the plugin {self.plugin} ({waited:.0f} s so far)", file=self.stream or sys.stderr, flush=True)
        except (OSError, ValueError):  # stderr closed: nothing to say it on
            pass
        self.delay *= 2
        self.due = time.perf_counter() + self.delay

    @classmethod
    def _watch(cls) -> None:
        while True:
            with cls._lock:
                while not cls._watched:
                    cls._lock.wait()
                now = time.perf_counter()
                due = [w for w in cls._watched if w.due <= now]
                if not due:
                    cls._lock.wait(min(w.due for w in cls._watched) - now)
                    continue
            for w in due:
                w._notice()

    def __enter__(self) -> "_Watch":
        cls = type(self)
        with cls._lock:
            cls._watched.append(self)
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._watch, name="autopipe-plugin-import-watch", daemon=True)
                cls._thread.start()
            cls._lock.notify()
        return self

    def __exit__(self, *exc: object) -> None:
        with type(self)._lock:
            type(self)._watched.remove(self)


def normalize(name: str) -> str:
    """PEP 503 normalisation, so "Autopipe_SD" and "autopipe-sd" name one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_from_env(environ: dict[str, str] | None = None) -> frozenset[str] | None:
    """The distributions AUTOPIPE_PLUGINS allows: None when unset (all), empty when set empty (none)."""
    value = (os.environ if environ is None else environ).get(settings.PLUGINS)
    if value is None:
        return None
    return frozenset(normalize(p.strip()) for p in value.split(",") if p.strip())


@dataclass(frozen=True)
class PluginInfo:
    """One discovered plugin, healthy or not."""

    distribution: str
    version: str
    entry_point: str
    hooks: tuple[str, ...] = ()
    error: str | None = None
    import_seconds: float = 0.0  # how long importing its entry point took (see SLOW_IMPORT_SECONDS)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def slow(self) -> bool:
        return self.import_seconds > SLOW_IMPORT_SECONDS


def describe(exc: BaseException) -> str:
    """An exception as one line for a report: its type, its message and where it was raised."""
    import traceback  # here: only a broken plugin is described

    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _entry_points() -> Iterable[Any]:
    # The standard library's importlib.metadata, not the importlib_metadata
    # backport: importing the backport appends a second MetadataPathFinder to
    # sys.meta_path, after which every metadata lookup diffusers makes while it
    # imports walks site-packages twice (measured: loading a pipeline became
    # 4-5 % slower than with the concrete class alone).
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


class _Found:
    """One entry point in the group: its name and value, its distribution's normalised name and version."""

    __slots__ = ("name", "value", "dist", "version", "_ep")

    def __init__(self, name: str, value: str, dist: str, version: str, ep: Any = None):
        self.name, self.value, self.dist, self.version, self._ep = name, value, dist, version, ep

    def load(self) -> Any:
        if self._ep is not None:
            return self._ep.load()
        # importlib.metadata's EntryPoint.load: "module[:attr.attr] [extras]"
        module, _, attr = self.value.partition("[")[0].partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _scan() -> list[_Found] | None:
    """The group's entry points read straight from the ``.dist-info`` / ``.egg-info`` folders on sys.path.

    The same walk importlib.metadata makes for ``entry_points(group=...)``
    (sys.path in order, the first distribution of a normalised name wins,
    ``entry_points.txt`` in each), without importing it: importlib.metadata
    imports the email package, zipfile and csv, a fifth of a cold
    ``autopipe resolve``. Returns None, and the caller asks importlib.metadata,
    wherever the walk could differ from it: a zip or egg file on sys.path, a
    distribution finder on sys.meta_path other than the standard one, or a
    folder it cannot read.
    """
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is not None and getattr(finder, "__name__", "") != "PathFinder":
            return None
    found: list[_Found] = []
    seen: set[str] = set()
    for entry in sys.path:
        root = entry or "."
        try:
            names = os.listdir(root)
        except NotADirectoryError:
            return None  # a zip file: importlib.metadata reads those
        except (FileNotFoundError, PermissionError):
            continue
        except OSError:
            return None
        for child in names:
            low = child.lower()
            if not (low.endswith(".dist-info") or low.endswith(".egg-info")):
                continue
            folder = os.path.join(root, child)
            stem = child[: -len(".dist-info")] if low.endswith(".dist-info") else child[: -len(".egg-info")]
            name, _, rest = stem.partition("-")
            key = normalize(name)
            if key in seen:
                continue
            if not os.path.isdir(folder):
                if low.endswith(".egg-info"):  # an egg-info file: PKG-INFO alone, no entry points
                    seen.add(key)
                    continue
                return None
            seen.add(key)
            try:
                with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except FileNotFoundError:
                continue
            except OSError:
                return None
            if ENTRY_POINT_GROUP not in text:
                continue
            version = rest.partition("-")[0] if low.endswith(".egg-info") else rest
            if not version or "-" in version:
                version = _read_version(folder)
            for ep_name, value in _group(text, ENTRY_POINT_GROUP):
                found.append(_Found(ep_name, value, key, version))
    return found


def _group(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of one section of an entry_points.txt (importlib.metadata's Sectioned reading)."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _read_version(folder: str) -> str:
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, meta), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    return "?"


def _dist_facts(ep: Any) -> tuple[str, str]:
    """(normalised distribution name, version) of an entry point's distribution, read once.

    ``ep.dist.name`` and ``ep.dist.version`` each parse the distribution's
    METADATA file with the email parser (about 0.3 ms a call); asked three
    times per plugin that was most of what discovering 100 plugins cost. A
    ``.dist-info`` folder's own name is ``{name}-{version}.dist-info`` (the
    wheel spec, PEP 427; importlib.metadata reads names from it the same way),
    so both come from the path where there is one, else from METADATA, once.
    """
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.name, "?"
    path = getattr(dist, "_path", None)  # PathDistribution's folder (private, present since Python 3.8)
    stem = getattr(path, "name", "")
    if stem.endswith(".dist-info"):
        name, sep, version = stem[: -len(".dist-info")].partition("-")
        if sep and name and version and "-" not in version:
            return normalize(name), version
    meta = dist.metadata
    return normalize(meta["Name"] or ep.name), meta["Version"] or "?"


class _Manager(pluggy.PluginManager):
    """pluggy's manager, with a fast path for finding the hook implementations of a module.

    pluggy looks at every name of a plugin with ``inspect.getattr_static``
    (so that registering an instance never runs a property). A plugin here is
    a module, whose attributes are its ``__dict__``; on a module pluggy
    accepts plain functions only, so the same answer comes from the dict and
    the marker attribute directly, about five times faster per name. With
    100 plugins installed that was a tenth of a cold resolve. Anything else
    (a class, an instance) goes through pluggy's own lookup.
    """

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        self._by_plugin: dict[str, dict[str, Any]] = {}
        self.found: set[str] = set()  # the hooks a module plugin implements, noted as pluggy parses it (see _register)
        return super().register(plugin, name)

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        self._by_plugin = {}
        return super().unregister(plugin, name)

    def impl(self, hook: str, plugin_name: str) -> Any:
        """One plugin's implementation of a hook, from an index built once per hook (until the plugins change).

        Looking it up in the hook's list for each plugin made building the
        registry quadratic in the number of plugins.
        """
        index = self.__dict__.setdefault("_by_plugin", {})
        by_plugin = index.get(hook)
        if by_plugin is None:
            caller = getattr(self.hook, hook, None)
            by_plugin = {}
            for found in caller.get_hookimpls() if caller is not None else ():
                by_plugin.setdefault(found.plugin_name, found)
            index[hook] = by_plugin
        return by_plugin.get(plugin_name)

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if type(plugin) is types.ModuleType:
            value = plugin.__dict__.get(name)
            if type(value) is not types.FunctionType:
                return None
            opts = getattr(value, self.project_name + "_impl", None)
            if not isinstance(opts, dict):
                return None
            self.__dict__.setdefault("found", set()).add(opts.get("specname") or name)
            return opts
        return super().parse_hookimpl_opts(plugin, name)


def new_manager() -> pluggy.PluginManager:
    pm = _Manager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> tuple[str, ...]:
    """Register one plugin; raise if any of its hooks is not in the protocol."""
    pm.register(plugin, name=name)
    if isinstance(pm, _Manager) and type(plugin) is types.ModuleType:
        # The hooks it implements, as pluggy found them while registering it (noted by parse_hookimpl_opts): pluggy's
        # get_hookcallers walks every plugin's implementations of every hook, which made registering N plugins
        # quadratic, and parsing the module's names a second time cost as much as registering it.
        hooks = tuple(sorted(pm.found))
    else:
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
    unknown = [h for h in hooks if h not in hookspecs.HOOKS]
    if unknown:
        pm.unregister(plugin)
        raise pluggy.PluginValidationError(plugin, f"unknown hook(s) {', '.join(unknown)}; known: {', '.join(hookspecs.HOOKS)}")
    return hooks


def _found() -> list[_Found]:
    found = _scan()
    if found is None:
        found = [_Found(ep.name, ep.value, *_dist_facts(ep), ep=ep) for ep in _entry_points()]
    return found


def installed() -> frozenset[str]:
    """The normalised names of the distributions that offer an entry point in autopipe's group, whatever AUTOPIPE_PLUGINS says.

    Read the way :func:`discover` reads them, without importing any: an error
    uses it to tell a plugin AUTOPIPE_PLUGINS leaves out from one not installed.
    """
    return frozenset(f.dist for f in _found())


def discover(allowed: frozenset[str] | None) -> tuple[pluggy.PluginManager, tuple[PluginInfo, ...]]:
    """Load every allowed plugin into a fresh manager; report each, working or not."""
    pm = new_manager()
    infos: list[PluginInfo] = [PluginInfo(CORE, _core_version(), "autopipe_core.builtin", _register(pm, builtin, CORE))]
    for ep in sorted(_found(), key=lambda f: (f.dist, f.name)):
        dist, version = ep.dist, ep.version
        if allowed is not None and dist not in allowed:
            continue
        name = dist if pm.get_plugin(dist) is None else f"{dist}:{ep.name}"
        start = time.perf_counter()
        try:
            with running(dist), _Watch(dist):
                module = ep.load()
            seconds = time.perf_counter() - start
            hooks = _register(pm, module, name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit, CancelledError, GeneratorExit too: a plugin never takes the others down
            infos.append(PluginInfo(dist, version, ep.value, (), describe(exc), time.perf_counter() - start))
        else:
            infos.append(PluginInfo(dist, version, ep.value, hooks, None, seconds))
    return pm, tuple(infos)


def _core_version() -> str:
    return __version__


def implementation(pm: pluggy.PluginManager, plugin_name: str, hook: str) -> Any:
    """One plugin's implementation of a hook (``.function``, ``.argnames``), or None when it has none."""
    if isinstance(pm, _Manager):
        return pm.impl(hook, plugin_name)
    return next((i for i in getattr(pm.hook, hook).get_hookimpls() if i.plugin_name == plugin_name), None)


def call(pm: pluggy.PluginManager, plugin_name: str, hook: str, **kwargs: Any) -> Any:
    """Call one plugin's implementation of a hook, and only that one.

    Registration hooks are called plugin by plugin so that one plugin raising
    cannot hide the others' answers, and the error is pinned on its author.
    Arguments are passed the pluggy way: an implementation takes any subset of
    the hook's parameters. Returns None when the plugin does not implement it.
    """
    impl = implementation(pm, plugin_name, hook)
    if impl is None:
        return None
    with running(plugin_name.partition(":")[0]):
        return impl.function(*(kwargs[a] for a in impl.argnames))
