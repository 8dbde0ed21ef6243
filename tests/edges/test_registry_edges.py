"""The registry's tables and conflicts (registry.py), built from toy plugins discovered as installed ones."""

from __future__ import annotations

import pytest
from toy_plugins import install

from autopipe_core import PluginError, Task
from autopipe_core import registry
from autopipe_core.registry import ClassEntry, Conflict, build, get_registry


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
    assert registry.built() is None  # asking builds nothing
    first = get_registry()
    assert get_registry() is first and first.prefer == ()  # unset: nobody preferred
    assert registry.built() is first
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


def plugin(families: str = "", rows: str = "", modifiers: str = "") -> str:
    """A toy plugin's source registering the given lists (Python expressions over FamilySpec, PipelineRow, ...)."""
    source = "from autopipe_core import FamilySpec, ModifierSpec, PipelineRow, Requirement, Task, hookimpl\n"
    for hook, items in (("autopipe_families", families), ("autopipe_pipelines", rows), ("autopipe_modifiers", modifiers)):
        if items:
            source += f"\n@hookimpl\ndef {hook}():\n    return [{items}]\n"
    return source


FANCY = 'ModifierSpec("fancy", frozenset({"fancy"}), lambda v: "fancy" if v else None, consume=True)'


def test_rows_keep_what_they_say_of_missing_tasks_and_on_disk_modifiers_and_a_row_for_an_absent_family_skips_only_itself(site):
    toy = install(site, "aaa-rows-say", plugin(
        families='FamilySpec("toy")',
        rows='PipelineRow("nobodys", {Task.TEXT2IMG: "decimal:Decimal"}), '
             'PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}, missing={Task.INPAINT: "it paints whole pictures"}, on_disk={"fancy"}), '
             'PipelineRow("toy", {Task.IMG2IMG: "fractions:Fraction"}, missing={Task.INPAINT: "said second"}), '
             'PipelineRow("toy", {Task.TEXT2IMG: "collections:OrderedDict"}, modifiers={"fancy"})',
        modifiers=FANCY,
    ))
    built = build(frozenset({toy}))
    plain, fancy = ("toy", frozenset()), ("toy", frozenset({"fancy"}))
    assert built.missing == {plain: {Task.INPAINT: "it paints whole pictures"}}  # the first word on a task stands
    with pytest.raises(TypeError):
        built.missing[plain][Task.TEXT2IMG] = "no"
    assert dict(built.table[plain]) == {Task.TEXT2IMG: ("fractions:Fraction", toy), Task.IMG2IMG: ("fractions:Fraction", toy)}
    assert built.classes["Fraction"] == ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG, Task.IMG2IMG}), toy, frozenset({"fancy"}))
    assert built.classes["OrderedDict"] == ClassEntry("toy", frozenset({"fancy"}), frozenset({Task.TEXT2IMG}), toy, None)
    assert "Decimal" not in built.classes


def test_the_tables_and_conflicts_are_in_a_fixed_order_whatever_order_the_plugins_registered_in(site):
    rows = ('PipelineRow("toy", {Task.TEXT2IMG: "collections:Counter"}, modifiers={"pag"}), '
            'PipelineRow("toy", {Task.TEXT2IMG: "collections:OrderedDict"}, modifiers={"fancy"}), '
            'PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction", Task.IMG2IMG: "decimal:Decimal"})')
    a = install(site, "aaa-order", plugin(families='FamilySpec("toy")', rows=rows, modifiers=FANCY))
    b = install(site, "bbb-order", plugin(families='FamilySpec("toy")', rows=rows))
    built = build(frozenset({a, b}))
    plain, fancy, pag = ("toy", frozenset()), ("toy", frozenset({"fancy"})), ("toy", frozenset({"pag"}))
    assert list(built.table) == [plain, fancy, pag] and list(built.table[plain]) == [Task.IMG2IMG, Task.TEXT2IMG]
    assert built.conflicts == (
        Conflict("family 'toy'", a, (b,)),
        Conflict("img2img class of toy", a, (b,)),
        Conflict("text2img class of toy", a, (b,)),
        Conflict("text2img class of toy+fancy", a, (b,)),
        Conflict("text2img class of toy+pag", a, (b,)),
    )


def test_a_plugin_offering_two_classes_for_one_task_has_its_first_used(site):
    toy = install(site, "aaa-twice", plugin(
        families='FamilySpec("toy")', rows='PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}), PipelineRow("toy", {Task.TEXT2IMG: "decimal:Decimal"})',
    ))
    built = build(frozenset({toy}))
    assert built.table[("toy", frozenset())][Task.TEXT2IMG] == ("fractions:Fraction", toy)
    assert built.conflicts == (Conflict("text2img class of toy", toy, (toy,)),)


def test_a_class_offered_by_two_plugins_goes_to_its_familys_own_plugin_then_to_the_preferred(site):
    owner = install(site, "zzz-owner", plugin(families='FamilySpec("toy")', rows='PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"})'))
    extra = install(site, "aaa-extra", plugin(rows='PipelineRow("toy", {Task.INPAINT: "fractions:Fraction"})'))
    over = install(site, "aaa-over", plugin(rows='PipelineRow("toy", {Task.IMG2IMG: "fractions:Fraction"}, modifiers={"fancy"})', modifiers=FANCY))
    mine = ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG}), owner, None)
    theirs = ClassEntry("toy", frozenset(), frozenset({Task.INPAINT}), extra, None)
    fancy = ClassEntry("toy", frozenset({"fancy"}), frozenset({Task.IMG2IMG}), over, None)
    built = build(frozenset({owner, extra}))  # one row, two plugins: the family's own wins though the other sorts first
    assert built.classes["Fraction"] == mine and built.claimants["Fraction"] == (mine, theirs)
    assert Conflict("class Fraction", owner, (extra,)) in built.conflicts
    built = build(frozenset({owner, extra, over}))
    assert built.classes["Fraction"] == mine and built.claimants["Fraction"] == (mine, theirs, fancy)
    preferred = build(frozenset({owner, extra, over}), prefer=(extra,))
    assert preferred.classes["Fraction"] == theirs and preferred.claimants["Fraction"] == (theirs, mine, fancy)


def test_a_plugins_class_in_two_of_its_families_goes_to_the_higher_priority(site):
    def families(*names):
        return plugin(families=", ".join(f'FamilySpec("{n}", priority={p})' for n, p in names),
                      rows=", ".join(f'PipelineRow("{n}", {{Task.TEXT2IMG: "fractions:Fraction"}})' for n, _ in names))

    two = install(site, "aaa-two-families", families(("aaa", 0), ("bbb", 5)))
    three = install(site, "aaa-three-families", families(("aaa", 0), ("bbb", 5), ("ccc", 0)))
    entry = {(f, p): ClassEntry(f, frozenset(), frozenset({Task.TEXT2IMG}), p, None) for f in ("aaa", "bbb", "ccc") for p in (two, three)}
    built = build(frozenset({two}))
    assert built.classes["Fraction"] == entry["bbb", two] and built.claimants["Fraction"] == (entry["bbb", two], entry["aaa", two])
    assert Conflict("class Fraction", two, (two,)) in built.conflicts
    built = build(frozenset({three}))  # aaa and ccc rank alike: their order is the tables'
    assert built.claimants["Fraction"] == (entry["bbb", three], entry["aaa", three], entry["ccc", three])


def test_a_family_claiming_another_familys_class_name_comes_after_the_owners_entries(site):
    owner = install(site, "aaa-owner", plugin(families='FamilySpec("toy")', rows='PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"})'))
    claims = install(site, "bbb-claims", plugin(
        families='FamilySpec("kin", also_named={"Fraction", "Nobodys"}, requires=(Requirement("unet", "k", 1, "not kin"),)), FamilySpec("bare", also_named={"Fraction"}, requires=(Requirement("unet", "k", 2, "not bare"),))',
        rows='PipelineRow("kin", {Task.TEXT2IMG: "decimal:Decimal", Task.IMG2IMG: "decimal:Decimal"}), PipelineRow("kin", {Task.INPAINT: "decimal:Decimal"}, modifiers={"fancy"})',
        modifiers=FANCY,
    ))
    built = build(frozenset({owner, claims}))
    kin = ClassEntry("kin", frozenset(), frozenset({Task.TEXT2IMG, Task.IMG2IMG}), claims, frozenset(), claimed=True)
    bare = ClassEntry("bare", frozenset(), frozenset(), claims, frozenset(), claimed=True)  # no plain row: no task
    assert built.claimants["Fraction"] == (built.classes["Fraction"], bare, kin)  # the families' claims in their names' order
    assert built.claimants["Nobodys"] == (kin,) and "Nobodys" not in built.classes
    assert built.classes["Fraction"] == ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG}), owner, None)


@pytest.mark.parametrize("hook", ["autopipe_families", "autopipe_pipelines", "autopipe_modifiers"])
def test_a_malformed_registration_leaves_the_plugin_out_with_the_words_of_the_refusal(site, hook):
    toy = install(site, "aaa-malformed", f"from autopipe_core import hookimpl\n\n@hookimpl\ndef {hook}():\n    return 'not a list'\n", version="3.1")
    info = {p.distribution: p for p in build(frozenset({toy})).plugins}[toy]
    kind = {"autopipe_families": "FamilySpec", "autopipe_pipelines": "PipelineRow", "autopipe_modifiers": "ModifierSpec"}[hook]
    assert info.error == (
        f"registration failed: the plugin {toy} 3.1 gave a malformed answer from its {hook} hook: must return a list of {kind}, not str. "
        f"This is a bug in {toy}: report it to its authors, or upgrade it."
    )


def test_ask_without_a_version_says_it_is_unknown_and_quotes_any_error(site):
    toy = install(site, "aaa-raises", "from autopipe_core import hookimpl\n\n@hookimpl\ndef autopipe_load_plan(family, identity, device):\n    raise RuntimeError('boom')\n")
    built = build(frozenset({toy}))
    with pytest.raises(PluginError) as info:
        registry.ask(built.manager, toy, "autopipe_load_plan", family="toy", identity=None, device=None)
    assert str(info.value) == f"the plugin {toy} ? raised RuntimeError in its autopipe_load_plan hook: boom. This is a bug in {toy}: report it to its authors, or upgrade it."
