"""The tables resolution reads, built once per process from every plugin's registrations.

    table:    (family, modifiers) -> {task: ("module:Class", plugin)}
    classes:  class name -> (family, modifiers): the reverse index, for model_index.json
              class names and live pipelines
    families: family name -> (FamilySpec, plugin)
    modifiers: keyword argument -> (ModifierSpec, plugin)

Where two plugins register the same thing, the winner is chosen in a fixed
order and the conflict is kept for ``autopipe plugins`` to show: first the
distributions named in ``AUTOPIPE_PREFER`` (in that order), then a family's
own plugin for its rows, then the higher FamilySpec priority, then the
distribution name. Never whichever happened to load first.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import pluggy

from . import plugins as _plugins
from .errors import AutopipeError, PluginError
from .specs import FamilySpec, ModifierSpec, PipelineRow, class_name
from .tasks import Task

ENV_PREFER = "AUTOPIPE_PREFER"
ENV_STRICT = "AUTOPIPE_STRICT"

Key = tuple[str, frozenset]

#: Hooks that load weights through diffusers: their OSError and ValueError are diffusers' own
#: (a missing file, a config that does not fit) and reach the caller unchanged, with a note.
LOADING_HOOKS = frozenset({"autopipe_from_pretrained", "autopipe_from_single_file"})


@dataclass(frozen=True)
class ClassEntry:
    """Where a pipeline class sits in the tables."""

    family: str
    modifiers: frozenset[str]
    tasks: frozenset[Task]
    plugin: str
    on_disk: frozenset[str] | None = None  # the modifiers a checkpoint on disk naming this class resolves with


@dataclass(frozen=True)
class Conflict:
    """Two or more plugins registered the same thing; `winner` is the one used."""

    what: str
    winner: str
    losers: tuple[str, ...]


@dataclass(frozen=True)
class Registry:
    plugins: tuple[_plugins.PluginInfo, ...]
    families: Mapping[str, tuple[FamilySpec, str]]
    table: Mapping[Key, Mapping[Task, tuple[str, str]]]
    missing: Mapping[Key, Mapping[Task, str]]
    classes: Mapping[str, ClassEntry]
    modifiers: Mapping[str, tuple[ModifierSpec, str]]
    conflicts: tuple[Conflict, ...] = ()
    manager: pluggy.PluginManager | None = field(default=None, compare=False, repr=False)

    def identify(self, class_names: Iterable[str]) -> ClassEntry | None:
        """The first of these class names (a class and its bases, most specific first) the tables know."""
        for name in class_names:
            entry = self.classes.get(name)
            if entry is not None:
                return entry
        return None

    def recognised(self, class_names: Iterable[str]) -> tuple[str, str, str] | None:
        """(family, reason, plugin) for a class a family knows but cannot load for any task."""
        for name in class_names:
            for family, (spec, plugin) in self.families.items():
                if name in spec.recognised:
                    return family, spec.recognised[name], plugin
        return None

    def families_of(self, plugin: str) -> tuple[str, ...]:
        return tuple(sorted(f for f, (_, p) in self.families.items() if p == plugin))

    def call(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's hook at load time; what it raises is pinned on the plugin.

        A plugin's own typed errors (AutopipeError) pass unchanged. So do the
        OSError and ValueError of the hooks that call diffusers to load
        (LOADING_HOOKS): diffusers raises those for a checkpoint it cannot load,
        and a diffusers user already catches them; they get a note naming the
        plugin. Anything else (a bug: TypeError, KeyError, a SystemExit, or a
        ValueError from a hook that only computes) becomes a PluginError that
        names the distribution and the hook.
        """
        assert self.manager is not None
        try:
            return _plugins.call(self.manager, plugin, hook, **kwargs)
        except AutopipeError:
            raise
        except (OSError, ValueError) as exc:
            if hook not in LOADING_HOOKS:
                raise self._blame(plugin, hook, exc) from exc
            exc.add_note(f"raised in the {hook} hook of the plugin {plugin}")
            raise
        except (Exception, SystemExit) as exc:
            raise self._blame(plugin, hook, exc) from exc

    def _blame(self, plugin: str, hook: str, exc: BaseException) -> PluginError:
        version = next((p.version for p in self.plugins if p.distribution == plugin), "?")
        return PluginError(
            f"the plugin {plugin} {version} raised {type(exc).__name__} in its {hook} hook: {exc}. "
            f"This is a bug in {plugin}: report it to its authors, or upgrade it."
        )


def _expect(items: Any, kind: type, hook: str) -> list:
    if items is None:
        return []
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{hook} must return a list of {kind.__name__}, not {type(items).__name__}")
    items = list(items)
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(f"{hook} must return {kind.__name__} objects, got {type(item).__name__}: {item!r}")
    return items


def _collect(pm: pluggy.PluginManager, name: str) -> tuple[list[FamilySpec], list[PipelineRow], list[ModifierSpec]]:
    """All of one plugin's registrations, or an exception: a plugin counts whole or not at all."""
    return (
        _expect(_plugins.call(pm, name, "autopipe_families"), FamilySpec, "autopipe_families"),
        _expect(_plugins.call(pm, name, "autopipe_pipelines"), PipelineRow, "autopipe_pipelines"),
        _expect(_plugins.call(pm, name, "autopipe_modifiers"), ModifierSpec, "autopipe_modifiers"),
    )


def build(allowed: frozenset[str] | None, prefer: tuple[str, ...] = ()) -> Registry:
    """Discover plugins and build the tables. Every failure is recorded, none is raised."""
    pm, infos = _plugins.discover(allowed)
    infos = list(infos)
    registrations: dict[str, tuple[list, list, list]] = {}
    for i, info in enumerate(infos):
        if not info.ok:
            continue
        try:
            registrations[info.distribution] = _collect(pm, info.distribution)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, and the plugin left out
            infos[i] = replace(info, error=f"registration failed: {_plugins._describe(exc)}")
            pm.unregister(name=info.distribution)

    def rank(plugin: str, priority: int = 0, owner: str | None = None) -> tuple:
        pref = prefer.index(plugin) if plugin in prefer else len(prefer)
        return (pref, plugin != owner, -priority, plugin)

    conflicts: list[Conflict] = []

    def pick(what: str, candidates: list[tuple[tuple, str, Any]]) -> Any:
        candidates.sort(key=lambda c: c[0])
        if len(candidates) > 1:
            conflicts.append(Conflict(what, candidates[0][1], tuple(c[1] for c in candidates[1:])))
        return candidates[0][2]

    # Families.
    offers: dict[str, list] = {}
    for plugin, (families, _, _) in registrations.items():
        for spec in families:
            offers.setdefault(spec.name, []).append((rank(plugin, spec.priority), plugin, (spec, plugin)))
    families = {name: pick(f"family {name!r}", c) for name, c in sorted(offers.items())}
    owner = {name: plugin for name, (_, plugin) in families.items()}

    # Pipeline rows, merged task by task.
    task_offers: dict[tuple[str, frozenset, Task], list] = {}
    missing: dict[Key, dict[Task, str]] = {}
    on_disk: dict[Key, frozenset[str]] = {}
    for plugin, (_, rows, _) in registrations.items():
        for row in rows:
            if row.family not in families:
                continue  # a modifier plugin's rows for a family that is not installed
            key = (row.family, row.modifiers)
            if row.on_disk is not None:
                on_disk.setdefault(key, row.on_disk)
            for task, ref in row.classes.items():
                r = rank(plugin, families[row.family][0].priority, owner[row.family])
                task_offers.setdefault((row.family, row.modifiers, task), []).append((r, plugin, (ref, plugin)))
            for task, why in row.missing.items():
                missing.setdefault(key, {}).setdefault(task, why)
    table: dict[Key, dict[Task, tuple[str, str]]] = {}
    for (family, mods, task), c in sorted(task_offers.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]), kv[0][2].value)):
        label = "+".join([family, *sorted(mods)])
        table.setdefault((family, mods), {})[task] = pick(f"{task.value} class of {label}", c)

    # The reverse index.
    class_offers: dict[str, list] = {}
    for (family, mods), tasks in table.items():
        for task, (ref, plugin) in tasks.items():
            entry = (family, mods, plugin)
            class_offers.setdefault(class_name(ref), {}).setdefault(entry, set()).add(task)
    classes: dict[str, ClassEntry] = {}
    for cls, entries in sorted(class_offers.items()):
        c = [
            (rank(plugin, families[family][0].priority, owner[family]) + (len(mods),), plugin, ClassEntry(family, mods, frozenset(tasks), plugin, on_disk.get((family, mods))))
            for (family, mods, plugin), tasks in entries.items()
        ]
        if len({(e.family, e.modifiers) for *_, e in c}) > 1 or len({p for _, p, _ in c}) > 1:
            classes[cls] = pick(f"class {cls}", c)
        else:
            classes[cls] = c[0][2]

    # Modifiers.
    mod_offers: dict[str, list] = {}
    for plugin, (_, _, mods) in registrations.items():
        for spec in mods:
            mod_offers.setdefault(spec.kwarg, []).append((rank(plugin), plugin, (spec, plugin)))
    modifiers = {kwarg: pick(f"modifier {kwarg}=", c) for kwarg, c in sorted(mod_offers.items())}

    return Registry(
        plugins=tuple(infos),
        families=MappingProxyType(families),
        table=MappingProxyType({k: MappingProxyType(v) for k, v in table.items()}),
        missing=MappingProxyType({k: MappingProxyType(v) for k, v in missing.items()}),
        classes=MappingProxyType(classes),
        modifiers=MappingProxyType(modifiers),
        conflicts=tuple(conflicts),
        manager=pm,
    )


@dataclass(frozen=True)
class ClassProblem:
    """A class a plugin registered that cannot be imported (``autopipe plugins --check``)."""

    plugin: str
    class_ref: str
    error: str


def check_classes(registry: Registry) -> tuple[ClassProblem, ...]:
    """Import every class in the tables and report those that fail, by plugin and class.

    Imports diffusers (and whatever the plugins name): it is for ``autopipe
    plugins --check`` and a plugin's CI, never for resolution.
    """
    from .resolve import import_class

    refs = sorted({ref_plugin for tasks in registry.table.values() for ref_plugin in tasks.values()})
    problems = []
    for ref, plugin in refs:
        try:
            import_class(ref)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported per class
            problems.append(ClassProblem(plugin, ref, f"{type(exc).__name__}: {exc}"))
    return tuple(problems)


_lock = threading.Lock()
_cache: dict[tuple, Registry] = {}


def _settings() -> tuple:
    prefer = tuple(_plugins.normalize(p.strip()) for p in os.environ.get(ENV_PREFER, "").split(",") if p.strip())
    strict = os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")
    return _plugins.allowed_from_env(), prefer, strict


def get_registry() -> Registry:
    """The registry for the current AUTOPIPE_PLUGINS / AUTOPIPE_PREFER / AUTOPIPE_STRICT, built once, thread-safely.

    Keyed by those settings so that a test (or a server) that changes them gets
    a registry that matches, without a reset call.
    """
    key = _settings()
    registry = _cache.get(key)
    if registry is None:
        with _lock:
            registry = _cache.get(key)
            if registry is None:
                registry = _cache[key] = build(key[0], key[1])
    if key[2]:
        broken = [p for p in registry.plugins if not p.ok]
        if broken:
            lines = "; ".join(f"{p.distribution} {p.version}: {p.error}" for p in broken)
            raise PluginError(f"{ENV_STRICT} is set and {len(broken)} plugin(s) are broken: {lines}")
    return registry
