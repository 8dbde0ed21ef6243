"""Which of this project's plugins would handle a class, or a keyword, the installed plugins do not.

Used only to write "install ..." into an error, as fsspec's registry names the
package for an unknown protocol. Resolution never reads this: the plugins are
the truth. The table is data, ``known.json`` beside this module, written from
the shipped plugins' own registrations by ``python bench/known_table.py
--write`` (tests/test_known.py fails when it is out of date), so adding a
family to the repository edits no code in the core.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

DATA = Path(__file__).with_name("known.json")


@functools.lru_cache(maxsize=1)
def _data() -> Mapping[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def known_classes() -> Mapping[str, tuple[str, ...]]:
    """class name -> the distributions that must be installed for it (a ControlNet row needs its family's plugin too)."""
    return {cls: tuple(dists) for cls, dists in _data()["classes"].items()}


def known_modifiers() -> Mapping[str, str]:
    """keyword argument -> the distribution that registers it as a modifier."""
    return dict(_data()["modifiers"])


def known_families() -> Mapping[str, str]:
    """family name ("stable-diffusion-xl") -> the distribution that registers it."""
    return dict(_data().get("families", {}))


def known_rows() -> Mapping[str, tuple[str, ...]]:
    """row label ("stable-diffusion+controlnet") -> the distributions that must be installed for the row."""
    return {label: tuple(dists) for label, dists in _data().get("rows", {}).items()}


def install_command(distributions: list[str] | tuple[str, ...]) -> str:
    """How to install these distributions of this project, as a user can today (they are not on PyPI)."""
    return _data()["install"].format(paths=" ".join(f"./plugins/{d}" for d in distributions), names=" ".join(distributions))


def plugins_needed(class_names: tuple[str, ...], loaded: set[str]) -> tuple[str, ...]:
    """The distributions the first known class among these names needs that are not `loaded` (empty: none, or no class known)."""
    classes = known_classes()
    for name in class_names:
        needed = classes.get(name)
        if needed:
            return tuple(d for d in needed if d not in loaded)
    return ()


def install_hint_for_any_family() -> str:
    """What to install when no family plugin is: the project's Stable Diffusion plugin."""
    return f"Install one, e.g. the Stable Diffusion family: {install_command(['autopipe-sd'])}."


def collect(registry: Any) -> dict[str, Any]:
    """The table, from a registry of the shipped plugins: every class a row or a family's `recognised` names, and every modifier.

    A row over another plugin's family (ControlNet over SD) needs both distributions.
    """
    classes: dict[str, set[str]] = {}
    for (family, _), tasks in registry.table.items():
        owner = registry.families[family][1]
        for ref, plugin in tasks.values():
            classes.setdefault(ref.rpartition(":")[2], set()).update({owner, plugin})
    for spec, plugin in registry.families.values():
        for name in spec.recognised:
            classes.setdefault(name, set()).add(plugin)
    modifiers = {kwarg: plugin for kwarg, (_, plugin) in registry.modifiers.items() if plugin != "autopipe-core"}
    rows: dict[str, set[str]] = {}
    for (family, mods), tasks in registry.table.items():
        if mods:
            rows.setdefault("+".join([family, *sorted(mods)]), set()).update({registry.families[family][1], *(p for _, p in tasks.values())})
    return {
        "install": "pip install {paths}  (from a clone of the autopipe repository: its plugins are not on PyPI; see its README)",
        "families": {family: plugin for family, (_, plugin) in sorted(registry.families.items())},
        "classes": {cls: sorted(d for d in dists if d != "autopipe-core") for cls, dists in sorted(classes.items())},
        "modifiers": dict(sorted(modifiers.items())),
        "rows": {label: sorted(d for d in dists if d != "autopipe-core") for label, dists in sorted(rows.items())},
    }


def dump(data: Mapping[str, Any]) -> str:
    """The table as known.json holds it: one class per line, so that a diff shows what a plugin added."""
    lines = ["{", f' "install": {json.dumps(data["install"])},', f' "families": {json.dumps(data["families"])},', ' "classes": {']
    classes = list(data["classes"].items())
    lines += [f"  {json.dumps(c)}: {json.dumps(d)}{',' if i < len(classes) - 1 else ''}" for i, (c, d) in enumerate(classes)]
    lines += [" },", f' "modifiers": {json.dumps(data["modifiers"])},', ' "rows": {']
    rows = list(data["rows"].items())
    lines += [f"  {json.dumps(r)}: {json.dumps(d)}{',' if i < len(rows) - 1 else ''}" for i, (r, d) in enumerate(rows)]
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"
