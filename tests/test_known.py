"""The install-hint table (autopipe_core/known.json) must be what this repository's plugins register."""

import tomllib
from pathlib import Path

from autopipe_core import known
from autopipe_core import registry as registry_module

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("plugins/*/pyproject.toml"))


def test_the_table_is_what_the_shipped_plugins_register():
    reg = registry_module.build(allowed=frozenset(SHIPPED))
    assert {p.distribution for p in reg.plugins if p.ok} >= set(SHIPPED), [p for p in reg.plugins if not p.ok]
    assert known.DATA.read_text() == known.dump(known.collect(reg)), "run: .venv/bin/python bench/known_table.py --write"


def test_every_class_a_shipped_plugin_registers_has_an_install_hint_naming_it():
    reg = registry_module.build(allowed=frozenset(SHIPPED))
    classes = known.known_classes()
    for (family, _), tasks in reg.table.items():
        for ref, plugin in tasks.values():
            name = ref.rpartition(":")[2]
            assert {plugin, reg.families[family][1]} <= set(classes[name]), name
    assert classes["StableDiffusionControlNetPipeline"] == ("autopipe-controlnet", "autopipe-sd")
    assert known.known_modifiers() == {}  # enable_pag and controlnet are the core's own
    assert known.known_rows()["stable-diffusion+controlnet"] == ("autopipe-controlnet", "autopipe-sd")


def test_the_hint_names_an_install_that_works_today():
    needed = known.plugins_needed(("StableDiffusionXLPipeline",), {"autopipe-core"})
    assert needed == ("autopipe-sdxl",)
    hint = known.install_command(needed)
    assert hint.startswith("pip install ./plugins/autopipe-sdxl") and "not on PyPI" in hint
    assert all((ROOT / "plugins" / d / "pyproject.toml").is_file() for dists in known.known_classes().values() for d in dists)
    assert known.plugins_needed(("StableDiffusionXLPipeline",), {"autopipe-sdxl"}) == ()


def test_every_known_class_exists_in_diffusers_or_is_an_old_name_a_family_recognises():
    import diffusers

    reg = registry_module.build(allowed=frozenset(SHIPPED))
    recognised = {name for spec, _ in reg.families.values() for name in spec.recognised}
    missing = [c for c in known.known_classes() if not hasattr(diffusers, c)]
    assert set(missing) <= recognised and set(missing) <= {"StableDiffusionOnnxPipeline"}, missing
