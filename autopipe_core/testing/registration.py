"""What a plugin registers, checked with no other plugin in view: its families and rows, and no conflict.

A plugin's own suite runs isolated to it (the ``autopipe_plugins`` setting),
so the registry holds the core and the plugin alone; the check says the
plugin registers exactly the families and rows it means to, each once.
"""

from __future__ import annotations

from typing import Iterable

from ..plugins import normalize
from ..registry import Registry, get_registry
from .cases import row_label
from .diffusers_tables import row_key

#: The distribution whose hooks every registry holds: the core's own implementation (modifiers every family shares).
CORE = "autopipe-core"


def check_registered_alone(
    plugin: str,
    families: Iterable[str],
    rows: Iterable[str | tuple[str, Iterable[str]]] | None = None,
    registry: Registry | None = None,
) -> Registry:
    """Check that only the core and `plugin` loaded, that `plugin` owns exactly `families`, that the table's rows are
    exactly `rows` (a family for its plain row, or (family, modifiers); None: the plain row of each family) and that
    nothing conflicts.

    `registry` defaults to the current one (the suite's isolation loads the
    plugin alone). Returns it, for the test's further checks. Raises
    AssertionError naming what differs.
    """
    registry = registry or get_registry()
    name = normalize(plugin)
    families = set(families)
    loaded = {p.distribution for p in registry.plugins if p.ok}
    if loaded != {CORE, name}:
        raise AssertionError(f"the plugins loaded are {sorted(loaded)}, not {CORE} and {name} alone: isolate the suite to {name}")
    owned = {f for f, (_, owner) in registry.families.items() if owner == name}
    if owned != families:
        raise AssertionError(f"{name} registers the families {sorted(owned)}, the test expects {sorted(families)}")
    expected = {row_key(r) for r in rows} if rows is not None else {(f, frozenset()) for f in families}
    table = set(registry.table)
    if table != expected:
        def label(key: tuple[str, frozenset[str]]) -> str:
            return row_label(*key)

        raise AssertionError(
            f"the table's rows are {sorted(map(label, table))}, the test expects {sorted(map(label, expected))} "
            f"(more: {sorted(map(label, table - expected))}; lacking: {sorted(map(label, expected - table))})"
        )
    if registry.conflicts != ():
        raise AssertionError(f"{name} alone conflicts with itself: {registry.conflicts}")
    return registry
