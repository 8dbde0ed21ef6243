"""The tables resolution reads, built once per process from every plugin's registrations.

    table:    (family, modifiers) -> {task: ("module:Class", plugin)}
    classes:  class name -> (family, modifiers): the reverse index, for model_index.json
              class names and live pipelines
    families: family name -> (FamilySpec, plugin)
    modifiers: keyword argument -> (ModifierSpec, plugin)
    detect_keys: plugin -> the tensor names a file must hold one of to be shown its autopipe_detect

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

from . import claims
from . import plugins as _plugins
from . import settings
from .answers import CHECKS, LOADING_HOOKS
from .errors import AutopipeError, PluginError
from .hookspecs import REGISTRATION_HOOKS
from .known import install_command
from .specs import FamilySpec, ModifierSpec, PipelineRow, class_name
from .tasks import Task


Key = tuple[str, frozenset]


def ask(pm: pluggy.PluginManager, plugin: str, hook: str, version: str = "?", **kwargs: Any) -> Any:
    """Call one plugin's implementation of `hook`, with the one set of rules every hook call follows.

    - The answer is checked against the hook's declared type (:data:`autopipe_core.answers.CHECKS`)
      and returned in its normal form (a list for the registration hooks); a malformed one is a PluginError.
    - A plugin's own typed errors (:class:`AutopipeError`) pass unchanged.
    - The OSError and ValueError of the hooks that load through diffusers (LOADING_HOOKS) are
      diffusers' own, for a checkpoint it cannot load: they pass unchanged, with a note naming the plugin.
    - Anything else it raises, BaseException subclasses included (SystemExit, GeneratorExit,
      asyncio's CancelledError), is a PluginError naming the distribution, its version and the hook.
      KeyboardInterrupt alone propagates: the user asked to stop.

    Returns the checked answer, or the check of None when the plugin does not implement the hook.
    """
    try:
        answer = _plugins.call(pm, plugin, hook, **kwargs)
    except (KeyboardInterrupt, AutopipeError):
        raise
    except (OSError, ValueError) as exc:
        if hook not in LOADING_HOOKS:
            raise _blame(plugin, version, hook, f"raised {type(exc).__name__} in", exc) from exc
        exc.add_note(f"raised in the {hook} hook of the plugin {plugin}")
        raise
    except BaseException as exc:  # noqa: BLE001 - a plugin's bug is reported as such, whatever it raised
        raise _blame(plugin, version, hook, f"raised {type(exc).__name__} in", exc) from exc
    try:
        return CHECKS[hook](answer, kwargs)
    except TypeError as exc:
        raise _blame(plugin, version, hook, "gave a malformed answer from", exc) from None


def _blame(plugin: str, version: str, hook: str, what: str, exc: BaseException) -> PluginError:
    return PluginError(
        f"the plugin {plugin} {version} {what} its {hook} hook: {str(exc)[:500]}. "
        f"This is a bug in {plugin}: report it to its authors, or upgrade it."
    )


@dataclass(frozen=True)
class ClassEntry:
    """Where a pipeline class sits in the tables."""

    family: str
    modifiers: frozenset[str]
    tasks: frozenset[Task]
    plugin: str
    on_disk: frozenset[str] | None = None  # the modifiers a checkpoint on disk naming this class resolves with
    #: Taken through another family's class name (FamilySpec.also_named): it fits only a checkpoint whose
    #: configs were read and meet every requirement; an unread config proves nothing about a borrowed name.
    claimed: bool = False


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
    claimants: Mapping[str, tuple[ClassEntry, ...]] = field(default_factory=dict)  # class name -> every entry, best first
    conflicts: tuple[Conflict, ...] = ()
    manager: pluggy.PluginManager | None = field(default=None, compare=False, repr=False)
    prefer: tuple[str, ...] = ()  # AUTOPIPE_PREFER, normalised: distributions that win conflicts, in order
    #: distribution -> its autopipe_detect_keys: a file holding none of them is not shown to its autopipe_detect.
    #: A plugin absent here (no keys given) is shown every file.
    detect_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def candidates(self, class_names: Iterable[str]) -> tuple[ClassEntry, ...]:
        """Every (family, modifiers) claiming the first of these class names the tables know, best first.

        One class name may mean several families: the original Kolors repo names
        an SDXL class. Resolution takes the first whose requirements the
        checkpoint meets (``FamilySpec.requires``).
        """
        for name in class_names:
            entries = self.claimants.get(name)
            if entries:
                return entries
            entry = self.classes.get(name)
            if entry is not None:
                return (entry,)
        return ()

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

    def shows(self, plugin: str, tensors: Mapping[str, Any]) -> bool:
        """Whether a file holding `tensors` (names -> anything) is shown to `plugin`'s autopipe_detect: the plugin
        gave no autopipe_detect_keys, or the file holds one of them."""
        return claims.shown(self.detect_keys.get(plugin), tensors)

    def families_of(self, plugin: str) -> tuple[str, ...]:
        return tuple(sorted(f for f, (_, p) in self.families.items() if p == plugin))

    def ask(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's hook, with the rules of :func:`ask`; the answer checked, errors pinned on the plugin."""
        assert self.manager is not None
        version = next((p.version for p in self.plugins if p.distribution == plugin), "?")
        return ask(self.manager, plugin, hook, version, **kwargs)

    call = ask  # the name of before (tests, third-party code)


def _collect(pm: pluggy.PluginManager, info: _plugins.PluginInfo) -> tuple[list[FamilySpec], list[PipelineRow], list[ModifierSpec], list[str]]:
    """All of one plugin's registrations, or a PluginError: a plugin counts whole or not at all."""
    families, rows, modifiers, detect_keys = (ask(pm, info.distribution, hook, info.version) for hook in REGISTRATION_HOOKS)
    return families, rows, modifiers, detect_keys


def build(allowed: frozenset[str] | None, prefer: tuple[str, ...] = ()) -> Registry:
    """Discover plugins and build the tables. Every failure is recorded, none is raised."""
    pm, infos = _plugins.discover(allowed)
    infos = list(infos)
    registrations: dict[str, tuple[list, list, list, list]] = {}
    for i, info in enumerate(infos):
        if not info.ok:
            continue
        try:
            registrations[info.distribution] = _collect(pm, info)
        except PluginError as exc:  # reported, and the plugin left out
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            infos[i] = replace(info, error=f"registration failed: {_plugins.describe(cause) if cause is not exc else exc}")
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
    for plugin, (families, *_) in registrations.items():
        for spec in families:
            offers.setdefault(spec.name, []).append((rank(plugin, spec.priority), plugin, (spec, plugin)))
    families = {name: pick(f"family {name!r}", c) for name, c in sorted(offers.items())}
    owner = {name: plugin for name, (_, plugin) in families.items()}

    # Pipeline rows, merged task by task.
    task_offers: dict[tuple[str, frozenset, Task], list] = {}
    missing: dict[Key, dict[Task, str]] = {}
    on_disk: dict[Key, frozenset[str]] = {}
    for plugin, (_, rows, *_) in registrations.items():
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
    claimants: dict[str, tuple[ClassEntry, ...]] = {}
    for cls, entries in sorted(class_offers.items()):
        c = [
            (rank(plugin, families[family][0].priority, owner[family]) + (len(mods),), plugin, ClassEntry(family, mods, frozenset(tasks), plugin, on_disk.get((family, mods))))
            for (family, mods, plugin), tasks in entries.items()
        ]
        if len({(e.family, e.modifiers) for *_, e in c}) > 1 or len({p for _, p, _ in c}) > 1:
            classes[cls] = pick(f"class {cls}", c)
        else:
            classes[cls] = c[0][2]
        claimants[cls] = tuple(e for *_, e in sorted(c, key=lambda item: item[0]))
    # Families that claim other families' class names (FamilySpec.also_named), after the class's own entries: the
    # first whose requirements a checkpoint meets wins, so they only ever take what the owner's requirements refuse.
    for family, (spec, plugin) in sorted(families.items()):
        plain = table.get((family, frozenset()), {})
        for cls in sorted(spec.also_named):
            entry = ClassEntry(family, frozenset(), frozenset(plain), plugin, frozenset(), claimed=True)
            claimants[cls] = (*claimants.get(cls, ()), entry)

    # Modifiers.
    mod_offers: dict[str, list] = {}
    for plugin, (_, _, mods, _) in registrations.items():
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
        claimants=MappingProxyType(claimants),
        conflicts=tuple(conflicts),
        manager=pm,
        prefer=tuple(prefer),
        detect_keys=MappingProxyType({plugin: frozenset(keys) for plugin, (*_, keys) in registrations.items() if keys}),
    )


_lock = threading.Lock()
_cache: dict[tuple, Registry] = {}
_building = threading.local()  # .active: this thread is building a registry now


def _settings() -> tuple:
    prefer = tuple(_plugins.normalize(p.strip()) for p in os.environ.get(settings.PREFER, "").split(",") if p.strip())
    return _plugins.allowed_from_env(), prefer, settings.strict()


def not_loaded(distributions: Iterable[str], registry: Registry) -> tuple[str, str]:
    """Why these plugins, which a checkpoint needs, are not in `registry`, and what to do: ``(state, advice)``.

    ``state`` is "not installed", or "not loaded" where one is installed but
    AUTOPIPE_PLUGINS leaves it out (a typo there, or a setting left from a
    test, must not send the user to pip for what they already have) or it
    failed to load; ``advice`` says, in that order, to add those left out to
    AUTOPIPE_PLUGINS, to read ``autopipe plugins`` for those that failed, and
    gives the install line for the rest.
    """
    distributions = list(distributions)
    broken = {p.distribution for p in registry.plugins if not p.ok}
    failed = [d for d in distributions if d in broken]
    leaves_out = left_out()  # one walk of sys.path's distributions, not one per name
    left = [d for d in distributions if d not in failed and d in leaves_out]
    absent = [d for d in distributions if d not in failed and d not in left]
    advice = []
    if left:
        one = len(left) == 1
        advice.append(
            f"{', '.join(left)} {'is' if one else 'are'} installed but {settings.PLUGINS}={os.environ[settings.PLUGINS]!r} "
            f"leaves {'it' if one else 'them'} out: add {'it' if one else 'them'} to {settings.PLUGINS}, "
            f"or unset {settings.PLUGINS} to load every installed plugin."
        )
    if failed:
        advice.append(f"{', '.join(failed)} {'is' if len(failed) == 1 else 'are'} installed but failed to load: `autopipe plugins` says why.")
    if absent:
        advice.append(f"Install {'it' if len(absent) == 1 else 'them'} with: {install_command(absent)}")
    return ("not loaded" if left or failed else "not installed"), " ".join(advice)


def left_out() -> tuple[str, ...]:
    """The installed plugins AUTOPIPE_PLUGINS does not name, so not loaded (none when it is unset), sorted."""
    allowed = _plugins.allowed_from_env()
    return () if allowed is None else tuple(sorted(_plugins.installed() - allowed))


def not_installed_settings() -> dict[str, tuple[str, ...]]:
    """Names in AUTOPIPE_PLUGINS and AUTOPIPE_PREFER that are no installed plugin (a typo: the setting then does nothing)."""
    installed = _plugins.installed() | {_plugins.CORE}
    allowed, prefer, _ = _settings()
    named = {settings.PLUGINS: sorted(allowed or ()), settings.PREFER: list(prefer)}
    return {setting: tuple(n for n in names if n not in installed) for setting, names in named.items() if any(n not in installed for n in names)}


def said_not_installed(setting: str, names: Iterable[str]) -> str:
    """The sentence for names in a setting that match no installed plugin (:func:`not_installed_settings`), unpunctuated."""
    names = list(names)
    return f"{setting} names {', '.join(names)}, which {'is' if len(names) == 1 else 'are'} not installed"


def built() -> Registry | None:
    """The registry this process built for the current settings, or None where none was asked for yet (builds nothing)."""
    return _cache.get(_settings())


def get_registry() -> Registry:
    """The registry for the current AUTOPIPE_PLUGINS / AUTOPIPE_PREFER / AUTOPIPE_STRICT, built once, thread-safely.

    Keyed by those settings so that a test (or a server) that changes them gets
    a registry that matches, without a reset call.
    """
    key = _settings()
    registry = _built_once(key, key[0])
    if key[2]:
        broken = [p for p in registry.plugins if not p.ok]
        if broken:
            lines = "; ".join(f"{p.distribution} {p.version}: {p.error}" for p in broken)
            raise PluginError(f"{settings.STRICT} is set and {len(broken)} plugin(s) are broken: {lines}")
    return registry


def scoped(distributions: frozenset[str]) -> Registry:
    """The registry of these installed plugins alone (those AUTOPIPE_PLUGINS allows), built once per set, thread-safely.

    For a caller that knows, from the registration snapshot, every plugin whose registrations it will read
    (:mod:`autopipe_core.scope`): the others are never imported. It ranks what it holds by the rules of the full
    registry, and AUTOPIPE_STRICT is the caller's to apply (the snapshot counts the broken plugins).
    """
    key = _settings()
    allowed = distributions if key[0] is None else distributions & key[0]
    return _built_once((*key, allowed), allowed)


def _built_once(key: tuple, allowed: frozenset[str] | None) -> Registry:
    """The registry cached under `key`, or built from the plugins `allowed` (None: all) and cached."""
    registry = _cache.get(key)
    if registry is None:
        if getattr(_building, "active", False):
            # A plugin asked for the registry while it was being built (at import, or in a registration
            # hook): waiting for the lock this thread holds would never end.
            culprit = _plugins.current() or "a plugin"
            raise PluginError(
                f"the plugin {culprit} called get_registry() while the registry was being built (at its import or in a "
                f"registration hook). A plugin registers data; it asks the registry only when one of its load-time hooks runs. "
                f"This is a bug in {culprit}: report it to its authors."
            )
        with _lock:
            registry = _cache.get(key)
            if registry is None:
                _building.active = True
                try:
                    registry = _cache[key] = build(allowed, key[1])
                finally:
                    _building.active = False
    return registry
