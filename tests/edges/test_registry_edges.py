"""The registry's tables and conflicts (registry.py), built from toy plugins discovered as installed ones."""

from __future__ import annotations

import pytest
from toy_plugins import install

from autopipe_core import PluginError, Task
from autopipe_core import registry
from autopipe_core.registry import ClassEntry, Conflict, build, get_registry


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def unbuilt(monkeypatch):
    """No registry built yet in this process, whatever ran before (get_registry keeps one per settings for the process's
    life; a process forked from one that ran these tests, as mutmut's are, would otherwise be handed that one)."""
    monkeypatch.setattr(registry, "_cache", {})


def family_plugin(family: str, priority: int = 0, cls: str = "fractions:Fraction", img2img: str | None = None, extra: str = "") -> str:
    classes = f"Task.TEXT2IMG: {cls!r}" + (f", Task.IMG2IMG: {img2img!r}" if img2img else "")
    return f"""
from autopipe_core import FamilySpec, ModifierSpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec({family!r}, priority={priority})]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow({family!r}, {{{classes}}})]
{extra}
"""


def test_the_higher_priority_wins_a_family_and_every_conflict_is_kept(site):
    low = install(site, "aaa-low", family_plugin("toy", 1, "fractions:Fraction"))
    high = install(site, "zzz-high", family_plugin("toy", 5, "decimal:Decimal"))
    built = build(frozenset({low, high}))
    assert built.families["toy"][1] == high
    assert built.table[("toy", frozenset())][Task.TEXT2IMG] == ("decimal:Decimal", high)
    assert Conflict("family 'toy'", high, (low,)) in built.conflicts
    assert Conflict("text2img class of toy", high, (low,)) in built.conflicts
    assert built.classes["Decimal"] == ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG}), high, None)
    assert built.families_of(high) == ("toy",) and built.families_of(low) == ()
    preferred = build(frozenset({low, high}), prefer=("nobody", low))
    assert preferred.families["toy"][1] == low and preferred.prefer == ("nobody", low)


def test_equal_priorities_fall_back_to_the_distribution_name(site):
    b = install(site, "bbb-toy", family_plugin("toy", 0, "fractions:Fraction"))
    a = install(site, "aaa-toy", family_plugin("toy", 0, "decimal:Decimal"))
    built = build(frozenset({a, b}))
    assert built.families["toy"][1] == a and Conflict("family 'toy'", a, (b,)) in built.conflicts


def test_a_row_for_a_family_nobody_installed_is_unused(site):
    rows = install(site, "aaa-rows", """
from autopipe_core import PipelineRow, Task, hookimpl

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("nobodys-family", {Task.TEXT2IMG: "fractions:Fraction"})]
""")
    built = build(frozenset({rows}))
    assert built.table == {} and built.classes == {} and not built.conflicts


def test_one_class_for_several_tasks_is_one_entry_with_every_task(site):
    toy = install(site, "aaa-toy", family_plugin("toy", cls="fractions:Fraction", img2img="fractions:Fraction"))
    built = build(frozenset({toy}))
    assert built.classes["Fraction"].tasks == {Task.TEXT2IMG, Task.IMG2IMG}
    assert not built.conflicts and built.claimants["Fraction"] == (built.classes["Fraction"],)
    assert built.candidates(["Nope", "Fraction"]) == (built.classes["Fraction"],) and built.candidates(["Nope"]) == ()
    assert built.identify(["Nope", "Fraction"]) == built.classes["Fraction"] and built.identify(["Nope"]) is None


def test_the_same_class_in_two_families_goes_to_the_plain_row_first(site):
    extra = """
@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("fancy", frozenset({"fancy"}), lambda v: "fancy" if v else None, consume=True)]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}), PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}, modifiers={"fancy"})]
"""
    toy = install(site, "aaa-toy", family_plugin("toy", extra=extra).replace("@hookimpl\ndef autopipe_pipelines():\n    return [PipelineRow('toy', {Task.TEXT2IMG: 'fractions:Fraction'})]\n", ""))
    built = build(frozenset({toy}))
    assert built.classes["Fraction"].modifiers == frozenset()  # fewer modifiers first
    assert [e.modifiers for e in built.claimants["Fraction"]] == [frozenset(), frozenset({"fancy"})]
    assert built.modifiers["fancy"][1] == toy


def test_a_modifier_claimed_twice_goes_by_the_rank_and_is_a_conflict(site):
    mod = """
from autopipe_core import ModifierSpec, hookimpl

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("sparkle", frozenset({"sparkle"}), lambda v: "sparkle" if v else None)]
"""
    a, b = install(site, "aaa-sparkle", mod), install(site, "bbb-sparkle", mod)
    built = build(frozenset({a, b}))
    assert built.modifiers["sparkle"][1] == a and Conflict("modifier sparkle=", a, (b,)) in built.conflicts
    assert build(frozenset({a, b}), prefer=(b,)).modifiers["sparkle"][1] == b


def test_a_plugin_whose_registration_raises_is_left_out_whole_and_reported(site):
    broken = install(site, "aaa-broken", family_plugin("toy") + "\n@hookimpl\ndef autopipe_modifiers():\n    raise RuntimeError('boom')\n", version="0.3")
    built = build(frozenset({broken, "autopipe-sd"}))
    info = {p.distribution: p for p in built.plugins}
    assert "toy" not in built.families and not info[broken].ok
    assert info[broken].error.startswith("registration failed: RuntimeError: boom")
    assert info["autopipe-sd"].ok and "stable-diffusion" in built.families


def test_ask_passes_a_plugins_own_errors_and_pins_the_rest_on_it(site):
    source = """
from autopipe_core import FamilySpec, InvalidModelError, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("toy")]

@hookimpl
def autopipe_load_plan(family, identity, device):
    raise InvalidModelError("the plugin's own words")

@hookimpl
def autopipe_from_pretrained(family, pipeline_class, model, kwargs):
    raise OSError("no such file")

@hookimpl
def autopipe_footprint(family, identity, plan, footprint, width, height):
    raise ValueError("bad value")

@hookimpl
def autopipe_placement(family, identity, device, footprint, plan):
    return "not a plan"
"""
    toy = install(site, "aaa-asks", source, version="4.5")
    built = build(frozenset({toy}))
    from autopipe_core import InvalidModelError

    with pytest.raises(InvalidModelError, match="^the plugin's own words$"):
        built.ask(toy, "autopipe_load_plan", family="toy", identity=None, device=None)
    with pytest.raises(OSError, match="no such file") as info:
        built.ask(toy, "autopipe_from_pretrained", family="toy", pipeline_class=None, model=None, kwargs={})
    assert info.value.__notes__ == [f"raised in the autopipe_from_pretrained hook of the plugin {toy}"]
    with pytest.raises(PluginError) as info:
        built.ask(toy, "autopipe_footprint", family="toy", identity=None, plan=None, footprint=None, width=1, height=1)
    assert str(info.value) == (
        f"the plugin {toy} 4.5 raised ValueError in its autopipe_footprint hook: bad value. This is a bug in {toy}: report it to its authors, or upgrade it."
    )
    with pytest.raises(PluginError) as info:
        built.ask(toy, "autopipe_placement", family="toy", identity=None, device=None, footprint=None, plan=None)
    assert str(info.value).startswith(f"the plugin {toy} 4.5 gave a malformed answer from its autopipe_placement hook: returned str, not a LoadPlan or None.")
    assert built.ask(toy, "autopipe_build_tiny", family="toy", path=None, variant=None) is None  # not implemented: the check of None
    assert built.ask("no-such-plugin", "autopipe_load_plan", family="toy", identity=None, device=None) is None


def test_get_registry_is_built_once_per_settings(monkeypatch, unbuilt):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    monkeypatch.delenv("AUTOPIPE_PREFER", raising=False)
    monkeypatch.delenv("AUTOPIPE_STRICT", raising=False)
    first = get_registry()
    assert get_registry() is first and first.prefer == ()  # unset: nobody preferred
    assert [p.distribution for p in first.plugins] == ["autopipe-core", "autopipe-sd"]  # the plugins allowed, no others
    monkeypatch.setenv("AUTOPIPE_PREFER", " autopipe_SD , ,")
    preferred = get_registry()
    assert preferred is not first and preferred.prefer == ("autopipe-sd",)


@pytest.mark.parametrize("value, strict", [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("", False), ("no", False)])
def test_strict_mode_is_read_from_the_usual_spellings(monkeypatch, value, strict):
    monkeypatch.setenv("AUTOPIPE_STRICT", value)
    assert registry._settings()[2] is strict


def test_strict_mode_names_every_broken_plugin(site, monkeypatch, unbuilt):
    broken = install(site, "aaa-broken-import", "raise ImportError('missing dependency')\n", version="0.9")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{broken}")
    monkeypatch.setenv("AUTOPIPE_STRICT", "1")
    with pytest.raises(PluginError) as info:
        get_registry()
    assert str(info.value).startswith(f"AUTOPIPE_STRICT is set and 1 plugin(s) are broken: {broken} 0.9: ImportError: missing dependency (at ")
    monkeypatch.setenv("AUTOPIPE_STRICT", "0")
    assert not {p.distribution: p for p in get_registry().plugins}[broken].ok
    other = install(site, "aaa-broken-too", "raise ImportError('another')\n", version="0.1")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"{broken},{other}")
    monkeypatch.setenv("AUTOPIPE_STRICT", "1")
    with pytest.raises(PluginError, match=f"^AUTOPIPE_STRICT is set and 2 plugin\\(s\\) are broken: {broken} 0.9: ImportError: missing dependency \\(at .*\\); {other} 0.1: ImportError: another"):
        get_registry()


def test_a_plugin_asking_for_the_registry_while_it_is_built_is_named(site, monkeypatch, unbuilt):
    asks = install(site, "aaa-asks-early", "from autopipe_core.registry import get_registry\nget_registry()\n")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", asks)
    built = get_registry()
    error = {p.distribution: p for p in built.plugins}[asks].error
    assert f"the plugin {asks} called get_registry() while the registry was being built" in error
    assert f"This is a bug in {asks}: report it to its authors." in error


def test_a_plugins_long_error_is_cut_at_500_characters(site):
    source = "from autopipe_core import hookimpl\n\n@hookimpl\ndef autopipe_load_plan(family, identity, device):\n    raise ValueError('x' * 600)\n"
    toy = install(site, "aaa-long", source, version="2.0")
    with pytest.raises(PluginError) as error:
        build(frozenset({toy})).ask(toy, "autopipe_load_plan", family="toy", identity=None, device=None)
    assert str(error.value) == f"the plugin {toy} 2.0 raised ValueError in its autopipe_load_plan hook: {'x' * 500}. This is a bug in {toy}: report it to its authors, or upgrade it."


def test_a_registry_built_by_hand_finds_its_classes_and_calls_a_plugin_it_does_not_list_version_unknown(site):
    from dataclasses import replace

    from autopipe_core.registry import Registry

    entry = ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG}), "aaa-toy")
    by_hand = Registry(plugins=(), families={}, table={}, missing={}, classes={"Fraction": entry}, modifiers={})
    assert by_hand.candidates(["Nope", "Fraction"]) == (entry,) and by_hand.candidates(["Nope"]) == ()
    toy = install(site, "aaa-unlisted", "from autopipe_core import hookimpl\n\n@hookimpl\ndef autopipe_load_plan(family, identity, device):\n    return 'a plan'\n")
    unlisted = replace(build(frozenset({toy})), plugins=())
    with pytest.raises(PluginError, match=f"^the plugin {toy} \\? gave a malformed answer from its autopipe_load_plan hook: returned str, not a LoadPlan or None\\."):
        unlisted.ask(toy, "autopipe_load_plan", family="toy", identity=None, device=None)
