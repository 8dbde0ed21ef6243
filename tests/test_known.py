"""The install-hint table must agree with what this repository's plugins actually register."""

import tomllib
from pathlib import Path

from autopipe_core import registry as registry_module
from autopipe_core.known import KNOWN_CLASSES
from autopipe_core.specs import class_name

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("plugins/*/pyproject.toml"))


def test_every_class_a_shipped_plugin_registers_has_an_install_hint_naming_it():
    reg = registry_module.build(allowed=frozenset(SHIPPED))
    assert {p.distribution for p in reg.plugins if p.ok} >= set(SHIPPED), [p for p in reg.plugins if not p.ok]
    registered = {}
    for row in reg.table.values():
        for ref, plugin in row.values():
            registered.setdefault(class_name(ref), set()).add(plugin)
    for spec, plugin in reg.families.values():
        for cls in spec.recognised:
            registered.setdefault(cls, set()).add(plugin)
    assert registered
    for cls, plugins in registered.items():
        assert plugins <= set(KNOWN_CLASSES.get(cls, ())), f"{cls} ({plugins}) is missing from autopipe_core.known"


def test_every_known_class_of_an_installed_family_is_registered_or_recognised():
    reg = registry_module.build(allowed=frozenset(SHIPPED))
    recognised = {cls for spec, _ in reg.families.values() for cls in spec.recognised}
    for cls, dists in KNOWN_CLASSES.items():
        if set(dists) <= set(SHIPPED):
            assert cls in reg.classes or cls in recognised, f"{cls} is hinted for {dists} but nobody registers it"


def test_every_known_class_exists_in_diffusers():
    import diffusers

    assert [c for c in KNOWN_CLASSES if not hasattr(diffusers, c)] == []
