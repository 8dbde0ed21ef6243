"""Which plugins a load reads, from the registration snapshot: so that a load imports those and no others.

Building the full registry imports every installed plugin (27 ship with
autopipe) and keeps their code and tables for the life of the process: about
0.8 MiB and tens of milliseconds that a load of one SDXL folder never reads.
What resolving and loading a checkpoint whose class name is known reads from
the registry is fixed by that name:

- every family that claims the name (the reverse index, ``also_named``
  borrowers included), and, for a live pipeline, the family of its own class;
- each of those families' owner (its spec, and the hooks a load calls:
  ``autopipe_from_pretrained``, ``autopipe_load_plan``, ...);
- every plugin whose class serves a row of those families, with or without
  modifiers;
- every plugin that registers a modifier keyword: a modifier picks the class.

The snapshot (:mod:`autopipe_core.snapshot`) names those plugins, and
:func:`autopipe_core.registry.scoped` builds a registry of them alone. It
holds every entry a successful resolution reads, ranked by the same rules,
so it gives the same answer as the full registry. A resolution that fails
may word its error from what only the full registry holds (the other
families, an install line): the callers resolve again with the full registry
then (:func:`resolving`), so every error is the full path's.

Anything this module cannot vouch for uses the full registry: no valid
snapshot (then it saves one, as the command line does), a class name the
snapshot does not know, a broken plugin under ``AUTOPIPE_STRICT``. Hub repos
and single files use the full registry: which plugins a file needs is known
only after every detector has seen its header.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Mapping

from . import settings, snapshot
from .errors import AutopipeError
from .files import read_json
from .registry import Registry, get_registry, scoped
from .resolve import Resolution

#: (the snapshot's key: interpreter, sys.path, settings; the cache folder) -> the snapshot's :class:`Index`, or None (no
#: valid snapshot: the full registry), read once per process and key, as the full registry is built once per settings:
#: a plugin installed into a folder already on sys.path while the process runs is seen by the next process.
_indexes: dict[tuple, "Index | None"] = {}
_lock = threading.Lock()


class Index:
    """What :func:`needed` reads from a snapshot, kept for the process (a few KiB, not the snapshot's 160)."""

    __slots__ = ("claims", "own", "plugins", "modifiers")

    def __init__(self, data: Mapping[str, Any]):
        #: class name -> the families that claim it, as Registry.candidates finds them
        self.claims = {name: frozenset(entry[0] for entry in entries) for name, entries in data["claimants"].items() if entries}
        #: class name -> its family in the reverse index (Registry.identify: a live pipeline's own family)
        self.own = dict(data["classes"])
        plugins: dict[str, set[str]] = {family: {owner[0]} for family, owner in data["families"].items()}
        for (family, _), row in data["table"].items():
            plugins.setdefault(family, set()).update(plugin for _, plugin in row.values())
        #: family -> its owner and every plugin serving one of its rows
        self.plugins = {family: frozenset(names) for family, names in plugins.items()}
        #: every plugin registering a modifier keyword
        self.modifiers = frozenset(data["modifiers"].values())


def needed(index: Index, class_names: tuple[str, ...]) -> frozenset[str] | None:
    """The distributions whose registrations resolving and loading a checkpoint of these class names (most specific
    first, as :meth:`Registry.candidates` takes them) reads; None where the snapshot does not know them."""
    families = next((index.claims[n] for n in class_names if n in index.claims), None)
    if families is None:
        return None
    own = next((index.own[n] for n in class_names if n in index.own), None)
    families = families | {own} if own is not None else families
    if not all(f in index.plugins for f in families):
        return None
    return frozenset().union(index.modifiers, *(index.plugins[f] for f in families))


def registry_for(class_names: tuple[str, ...] | None) -> Registry:
    """The registry a load of a checkpoint of these class names reads: the scoped one where the snapshot vouches
    for it, else the full one (which :func:`autopipe_core.registry.get_registry` raises for under AUTOPIPE_STRICT)."""
    wanted = _plugins_for(class_names)
    return get_registry() if wanted is None else scoped(wanted)


def _plugins_for(class_names: tuple[str, ...] | None) -> frozenset[str] | None:
    """:func:`needed` by this process's index; None: the full registry."""
    if not class_names:
        return None
    key = (snapshot.key(), snapshot.cache_root())
    if key not in _indexes:
        with _lock:
            if key not in _indexes:
                _indexes[key] = _read_index()
    index = _indexes[key]
    return None if index is None else needed(index, class_names)


def _read_index() -> Index | None:
    data = snapshot.load()
    if data is None:
        snapshot.refresh(get_registry())  # the next process scopes its loads
        return None
    if data["broken"] and settings.strict():
        return None
    return Index(data)


def folder_class(model: Any) -> tuple[str, ...] | None:
    """(the ``_class_name`` of `model`'s model_index.json,) where `model` is a local diffusers folder whose index reads
    cleanly, else None: anything else is read, and refused, by the full path."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    try:
        path = os.path.join(os.path.expanduser(os.fspath(model)), "model_index.json")
        name = read_json(path, "model_index.json").get("_class_name")
    except (AutopipeError, OSError, TypeError, ValueError):
        return None
    return (name,) if isinstance(name, str) else None


def resolving(class_names: tuple[str, ...] | None, step: Callable[[Registry], Resolution]) -> tuple[Resolution, Registry]:
    """``step(registry)`` with the registry :func:`registry_for` gives. Where that was a scoped one, `step` runs
    again with the full registry if it raised an autopipe error (so the error is the full path's) or resolved a
    checkpoint of other class names than those the registry was scoped for (a folder changed between the reads).

    Returns (the resolution, the registry it used: the one to load with).
    """
    wanted = _plugins_for(class_names)
    if wanted is not None:
        try:
            resolution = step(scoped(wanted))
        except AutopipeError:
            pass
        else:
            identity = resolution.identity
            if identity is not None and (identity.bases or (identity.class_name,)) == class_names:
                return resolution, scoped(wanted)
    registry = get_registry()
    return step(registry), registry
