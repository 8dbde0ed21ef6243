"""resolve(): which diffusers class serves this checkpoint for this task.

Identity (cheap facts) -> the reverse index gives (family, modifiers) ->
keyword arguments change the modifiers -> the family's table gives the class
-> the family's variants say whether this checkpoint can serve the task at
all. Each step is a table look-up; no class name is built from another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import refusals, sources
from .errors import PluginError, UnsupportedModelError, UnsupportedTaskError
from .known import known_modifiers, known_rows, plugins_needed
from .options import HUB_OPTIONS, LOADING_OPTIONS, hub_options
from .registry import Registry, get_registry, not_installed_settings, not_loaded, said_not_installed
from .specs import Identity, class_name, import_class
from .tasks import Task


@dataclass(frozen=True)
class Resolution:
    """The answer: a family, a task, modifiers, and the diffusers class that does it."""

    family: str
    task: Task
    modifiers: frozenset[str]
    pipeline_class: str
    class_ref: str
    plugin: str
    plugin_version: str
    variant: str | None = None
    identity: Identity | None = field(default=None, compare=False, repr=False)

    def load_class(self) -> type:
        """Import the pipeline class: the first point at which diffusers is imported.

        A class the plugin registered but that cannot be imported is not a bare
        ImportError from deep inside. Where the installed library is outside the
        versions the plugin requires (diffusers installed or changed after the
        plugin), an UnsupportedModelError says which version to install; else
        (a typo in its table) PluginError names the plugin and the class.
        """
        try:
            return import_class(self.class_ref)
        except (ImportError, AttributeError) as exc:
            from .dependencies import library_of, unmet

            missing = unmet(self.plugin, frozenset({library_of(self.class_ref)}))
            if missing:
                raise UnsupportedModelError(
                    f"{self.class_ref.rpartition(':')[2]}, which {self.plugin} serves for {self.task.value} of {self.family}, "
                    f"cannot be imported ({type(exc).__name__}: {exc}): {missing[0]}"
                ) from exc
            raise PluginError(
                f"{self.plugin} {self.plugin_version} registered {self.class_ref} for {self.task.value} of {self.family}, "
                f"but it cannot be imported ({type(exc).__name__}: {exc}). Upgrade {self.plugin} or the library it names "
                f"(its requirements say which versions it supports); `autopipe plugins --check` imports every registered class."
            ) from exc


def _wanted(registry: Registry):
    def wanted(names: tuple[str, ...]) -> tuple[str, ...]:
        """The component configs every family claiming the class wants read (their variants', requirements', loading code's)."""
        families = dict.fromkeys(e.family for e in registry.candidates(names))
        return tuple(dict.fromkeys(c for f in families for c in registry.families[f][0].config_components))

    return wanted


#: Up to this many, the families installed are named in the message for a class no plugin handles; beyond, counted.
LISTED_FAMILIES = 8


def _installed(registry: Registry) -> set[str]:
    return {p.distribution for p in registry.plugins if p.ok}


def _not_the_family(identity: Identity, entry: Any, registry: Registry) -> UnsupportedModelError:
    spec, plugin = registry.families[entry.family]
    requirement = spec.unmet(identity.configs)
    assert requirement is not None
    return UnsupportedModelError(
        f"{identity.reference} names {identity.class_name}, a {entry.family} class ({plugin}), but it is not {entry.family}: "
        f"{requirement.reason(identity.configs)}. No installed plugin serves what it is; `autopipe plugins` lists the families installed."
    )


def _fits(registry: Registry, entry: Any, identity: Identity) -> bool:
    """Whether the checkpoint is this entry's family: its requirements met, and read where the name is borrowed."""
    spec = registry.families[entry.family][0]
    if spec.unmet(identity.configs) is not None:
        return False
    return not entry.claimed or all(r.component in identity.configs for r in spec.requires)


def _unknown_model(identity: Identity, registry: Registry) -> UnsupportedModelError:
    names = identity.bases or (identity.class_name,)
    recognised = registry.recognised(names)
    if recognised:
        family, reason, plugin = recognised
        holder = "" if identity.origin == "pipeline" else f"{identity.reference} holds "
        return UnsupportedModelError(f"{holder}{identity.class_name} (family {family}, plugin {plugin}): {reason}")
    where = "" if identity.origin == "pipeline" else f" (from {identity.reference})"
    needed = plugins_needed(names, _installed(registry))
    if needed:
        state, advice = not_loaded(needed, registry)
        return UnsupportedModelError(f"{identity.class_name}{where} is handled by a plugin that is {state}. {advice}")
    if len(registry.families) > LISTED_FAMILIES:
        families = f"{len(registry.families)}, from {len({p for _, p in registry.families.values()})} plugins"
    else:
        families = ", ".join(f"{f} ({p})" for f, (_, p) in sorted(registry.families.items())) or "none"
    typos = "".join(f" {said_not_installed(setting, names)}." for setting, names in not_installed_settings().items())
    return UnsupportedModelError(
        f"no installed autopipe plugin handles {identity.class_name}{where}. Families installed: {families}.{typos} "
        "If a plugin exists for this model, pip install it; `autopipe plugins` lists what is loaded and what failed."
    )


def modifiers_for(registry: Registry, base: frozenset[str], kwargs: Mapping[str, Any]) -> frozenset[str]:
    """Apply every modifier keyword present in kwargs to the modifiers the checkpoint came with.

    A keyword that is not a modifier but reads like a misspelt one (``enable_pg``) is a TypeError naming the
    modifier: passed on, diffusers would ignore it and load the class without the modifier, silently.
    """
    modifiers = base
    for kwarg, value in kwargs.items():
        registered = registry.modifiers.get(kwarg)
        if registered is not None:
            modifiers = registered[0].apply(modifiers, value)
        elif kwarg in known_modifiers():
            if value is not None:  # None asks for nothing: there is nothing to refuse, and no misspelling either
                dist = known_modifiers()[kwarg]
                state, advice = not_loaded([dist], registry)
                raise UnsupportedModelError(f"{kwarg}= needs the plugin {dist}, which is {state}. {advice}")
        elif kwarg not in LOADING_OPTIONS and kwarg not in HUB_OPTIONS:
            import difflib

            close = difflib.get_close_matches(kwarg, [*registry.modifiers, *known_modifiers()], n=1, cutoff=0.8)
            if close:
                raise TypeError(f"unexpected keyword argument {kwarg!r}: did you mean {close[0]!r}?")
    return modifiers


def class_kwargs(registry: Registry, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords to pass on to the chosen class: modifier keywords that only chose it are taken out.

    Consumed modifiers (``enable_pag``) never reach the class; a modifier set to
    None (``controlnet=None``) only removed something, so it is taken out too.
    """
    out = {}
    for key, value in kwargs.items():
        registered = registry.modifiers.get(key)
        if registered is not None and (registered[0].consume or value is None):
            continue
        out[key] = value
    return out


def resolve_identity(identity: Identity, task: Task | str, kwargs: Mapping[str, Any] = {}, registry: Registry | None = None) -> Resolution:
    """Resolve facts already read: the step shared by resolve(), from_pretrained() and from_pipe()."""
    task = Task.parse(task)
    registry = registry or get_registry()
    entries = registry.candidates(identity.bases or (identity.class_name,))
    if not entries:
        raise _unknown_model(identity, registry)
    entry = next((e for e in entries if _fits(registry, e, identity)), None)
    if entry is None:
        refused = [e for e in entries if registry.families[e.family][0].unmet(identity.configs) is not None]
        if not refused:  # only borrowed names, and the configs that would prove them were not there
            raise _unknown_model(identity, registry)
        raise _not_the_family(identity, refused[0], registry)
    spec, owner = registry.families[entry.family]
    base = entry.on_disk if entry.on_disk is not None and identity.origin != "pipeline" else entry.modifiers
    modifiers = modifiers_for(registry, base, kwargs)
    row = registry.table.get((entry.family, modifiers), {})
    label = refusals.label(entry.family, modifiers)
    if not row and (entry.family, modifiers) not in registry.missing:
        combos = sorted(refusals.label(f, m) for f, m in registry.table if f == entry.family)
        needed = [d for d in known_rows().get("+".join([entry.family, *sorted(modifiers)]), ()) if d not in _installed(registry)]
        hint = " The plugin that has it is {}. {}".format(*not_loaded(needed, registry)) if needed else ""
        raise UnsupportedModelError(f"{identity.reference}: there is no {label} pipeline. Combinations available: {'; '.join(combos)}.{hint}")
    matching = [v for v in spec.variants if v.matches(identity.configs)]
    if task not in row:
        why = registry.missing.get((entry.family, modifiers), {}).get(task)
        can = [t for t in Task if t in row and all(t in v.tasks for v in matching)]  # only what this checkpoint can do too
        raise UnsupportedTaskError(refusals.no_pipeline(label, task, why, can))
    for variant in matching:
        if task not in variant.tasks:
            can = [t for t in Task if t in row and all(t in v.tasks for v in matching)]
            raise UnsupportedTaskError(refusals.variant_cannot(identity.reference, variant.name, variant.reason, entry.family, task, can))
    for kwarg, value in kwargs.items():
        registered = registry.modifiers.get(kwarg)
        fits = registered[0].fits if registered is not None else None
        why = fits(value, identity) if fits is not None and value is not None else None
        if why:
            raise UnsupportedModelError(f"{kwarg}= does not fit {identity.reference}: {why}.")
    variant = matching[0].name if matching else None
    ref, plugin = row[task]
    version = next((p.version for p in registry.plugins if p.distribution == plugin), "?")
    return Resolution(entry.family, task, modifiers, class_name(ref), ref, plugin, version, variant, identity)


def identify(model: Any, registry: Registry | None = None, allow_pickle: bool = False, passed: Mapping[str, Any] = {}, **hub: Any) -> Identity:
    """Read the facts resolution needs about a folder, a single file, a hub repo id or a live pipeline.

    A local reference is made canonical first (``~`` expanded, links resolved:
    :func:`autopipe_core.sources.local_path`); the Identity's reference is that
    path, and it is what loading hands diffusers. A single file's header is
    shown to the plugins (see single_file.py); a pickle checkpoint is refused
    unless `allow_pickle` is true. `passed` are the keywords of the call: the
    components among them are what will load (their configs are theirs).
    """
    registry = registry or get_registry()
    if isinstance(model, (str, os.PathLike)):
        local = sources.local_path(model)
        if local is not None and not local.is_dir():
            from .single_file import identify_file

            return identify_file(local, registry, allow_pickle)
    try:
        return sources.identify(model, _wanted(registry), passed_components(passed), **hub)
    except sources.ComponentFolderError as exc:
        takers = [spec.kwarg for spec, _ in registry.modifiers.values() if exc.class_name in spec.components]
        if not takers:
            raise
        raise UnsupportedModelError(
            f"{exc} It is the kind of model {' or '.join(k + '=' for k in takers)} takes: load it with "
            f"diffusers.{exc.class_name}.from_pretrained(folder) and pass it as {takers[0]}= to from_pretrained of the pipeline it was trained for."
        ) from None


def identify_pipeline(pipeline: Any, registry: Registry | None = None, components: Mapping[str, Any] | None = None) -> Identity:
    """:func:`identify` for a live pipeline whose ``components`` the caller read already (from_pipe reads them once)."""
    return sources.from_pipeline(pipeline, _wanted(registry or get_registry()), components)


def passed_components(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords that may be components handed to from_pretrained: model objects (with a config), and None (left out)."""
    return {k: v for k, v in kwargs.items() if v is None or hasattr(v, "config")}


def resolve(model: Any, task: Task | str, **hints: Any) -> Resolution:
    """Which class to load `model` with for `task`, from JSON alone.

    `model` is a diffusers folder, a single-file checkpoint (.safetensors;
    its header alone is read), a hub repo id or a live pipeline. `hints`
    are every keyword from_pretrained takes, so that the same call predicts
    the class from_pretrained will load: the hub options (cache_dir,
    revision, token, local_files_only, ...) are used to read the checkpoint,
    modifier keywords (``enable_pag=True``, ``controlnet=``) choose the class,
    ``allow_pickle=True`` opens a pickle checkpoint, and the rest (torch_dtype,
    variant, use_safetensors, components, config entries) cannot change the
    class and are ignored. A misspelt modifier (``enable_pg``) is a TypeError.
    """
    registry = get_registry()
    allow_pickle = bool(hints.pop("allow_pickle", False))
    hub = hub_options(hints)
    identity = identify(model, registry, allow_pickle, passed=hints, **hub)
    return resolve_identity(identity, task, {k: v for k, v in hints.items() if k not in hub}, registry)
