"""The answer checks (answers.py), safe writes (files.py) and the install hints (known.py), at their edges."""

from __future__ import annotations

import json
import os
import re

import pytest

from autopipe_core import Detection, FamilySpec, LoadPlan
from autopipe_core import files, known
from autopipe_core.answers import CHECKS, MAX_ITEMS, ignored, many, optional, pipeline_or_none


# --- answers: the check factories are called here, at test time, so a change inside them shows -------------------

def test_many_takes_none_lists_tuples_and_generators_and_gives_a_list():
    check = many(FamilySpec)
    spec = FamilySpec("f")
    assert check(None, {}) == []
    for answer in ([spec], (spec,), iter([spec, spec]), (s for s in [spec])):
        out = check(answer, {})
        assert type(out) is list and all(s is spec for s in out) and out
    assert check([], {}) == []


def test_many_takes_a_lone_item_only_where_allowed():
    spec = FamilySpec("f")
    assert many(FamilySpec, one_alone=True)(spec, {}) == [spec]
    with pytest.raises(TypeError) as info:
        many(FamilySpec)(spec, {})
    assert str(info.value) == "must return a list of FamilySpec, not FamilySpec"


@pytest.mark.parametrize("answer, kind", [("abc", "str"), (b"abc", "bytes"), ({"a": 1}, "dict"), (3, "int"), (object(), "object")])
def test_many_refuses_what_is_not_a_list(answer, kind):
    with pytest.raises(TypeError) as info:
        many(FamilySpec, one_alone=True)(answer, {})
    assert str(info.value) == f"must return a list of FamilySpec, not {kind}"


def test_many_refuses_an_item_of_another_type_showing_it_in_part():
    with pytest.raises(TypeError) as info:
        many(FamilySpec)([FamilySpec("f"), "x" * 500], {})
    assert str(info.value) == f"must return FamilySpec objects, got str: {'x' * 200}"


def test_many_cuts_an_endless_generator_off_after_the_limit():
    def endless():
        while True:
            yield FamilySpec("f")

    with pytest.raises(TypeError) as info:
        many(FamilySpec)(endless(), {})
    assert str(info.value) == f"returned more than {MAX_ITEMS} items (an endless generator?); it was cut off"
    exactly = [FamilySpec("f")] * MAX_ITEMS
    assert len(many(FamilySpec)(exactly, {})) == MAX_ITEMS


def test_optional_takes_its_kind_or_none():
    plan = LoadPlan("float32", None, "device", "cpu", "r")
    check = optional(LoadPlan)
    assert check(plan, {}) is plan and check(None, {}) is None
    with pytest.raises(TypeError) as info:
        check("plan", {})
    assert str(info.value) == "returned str, not a LoadPlan or None"


def test_a_loading_hook_returns_the_class_asked_for_or_none():
    class Pipeline:
        pass

    class Other:
        pass

    one = Pipeline()
    assert pipeline_or_none(one, {"pipeline_class": Pipeline}) is one
    assert pipeline_or_none(None, {"pipeline_class": Pipeline}) is None
    assert pipeline_or_none(Other(), {}) is not None  # no class to compare with
    with pytest.raises(TypeError) as info:
        pipeline_or_none(Other(), {"pipeline_class": Pipeline})
    assert str(info.value) == "returned Other, not a Pipeline (the class resolved) or None"
    assert ignored("anything", {}) is None


def test_every_hook_has_the_check_of_its_declared_answer():
    spec, detection = FamilySpec("f"), Detection("f", "v", 0.5, "why", pipeline_class="diffusers:StableDiffusionPipeline")
    assert CHECKS["autopipe_families"]((spec,), {}) == [spec]
    assert CHECKS["autopipe_detect"](detection, {}) == [detection]  # a lone detection is allowed
    with pytest.raises(TypeError):
        CHECKS["autopipe_families"](spec, {})  # a lone family is not
    with pytest.raises(TypeError):
        CHECKS["autopipe_load_plan"](spec, {})


# --- files --------------------------------------------------------------------------------------------------------

def test_write_atomic_writes_through_a_hidden_temporary_file_beside_the_target(tmp_path):
    seen = []

    def write(f):
        seen.extend(p.name for p in tmp_path.iterdir())
        f.write(b"data")

    target = tmp_path / "out.png"
    assert files.write_atomic(target, write) == target and target.read_bytes() == b"data"
    assert len(seen) == 1 and re.fullmatch(r"\.out\.png\.[^/]+\.tmp", seen[0]), seen
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_write_atomic_leaves_nothing_behind_when_the_writer_removed_its_file(tmp_path):
    def write(f):
        for p in tmp_path.iterdir():
            p.unlink()
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        files.write_atomic(tmp_path / "out.png", write)
    assert list(tmp_path.iterdir()) == []


def test_the_umask_is_read_without_changing_it_or_set_and_restored_where_proc_is_absent(tmp_path, monkeypatch):
    mask = os.umask(0o027)
    try:
        assert files._umask() == 0o027
        real_open = open

        def no_proc(path, *args, **kwargs):
            if str(path).startswith("/proc/"):
                raise FileNotFoundError(path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(files, "open", no_proc, raising=False)
        assert files._umask() == 0o027
        assert os.umask(0o027) == 0o027  # restored
        files.write_atomic(tmp_path / "f", lambda f: f.write(b"x"))
        assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(mask)


# --- known --------------------------------------------------------------------------------------------------------

def test_install_command_lists_every_distribution_by_its_folder():
    assert known.install_command(["autopipe-sd"]).startswith("pip install ./plugins/autopipe-sd  (from a clone")
    assert known.install_command(["autopipe-sd", "autopipe-controlnet"]).startswith("pip install ./plugins/autopipe-sd ./plugins/autopipe-controlnet  (")


def test_plugins_needed_names_only_what_is_not_loaded_and_nothing_when_all_is():
    sd = known.known_classes()["StableDiffusionPipeline"]
    assert sd == ("autopipe-sd",)
    assert known.plugins_needed(("NoSuchClass", "StableDiffusionPipeline"), set()) == ("autopipe-sd",)
    assert known.plugins_needed(("StableDiffusionPipeline",), {"autopipe-sd"}) == ()
    assert known.plugins_needed(("NoSuchClass",), set()) == ()
    cn = known.known_classes()["StableDiffusionControlNetPipeline"]
    assert set(cn) == {"autopipe-sd", "autopipe-controlnet"}
    assert known.plugins_needed(("StableDiffusionControlNetPipeline",), {"autopipe-sd"}) == ("autopipe-controlnet",)


def test_known_families_name_each_familys_own_plugin():
    families = known.known_families()
    assert families["stable-diffusion"] == "autopipe-sd" and families["stable-diffusion-xl"] == "autopipe-sdxl"
    assert families == {**json.loads(known.DATA.read_text())["families"]}


def test_known_rows_and_modifiers_are_tuples_and_names():
    rows = known.known_rows()
    assert rows["stable-diffusion+controlnet"] == ("autopipe-controlnet", "autopipe-sd")
    assert all(type(v) is tuple for v in rows.values())
    assert known.install_hint_for_any_family() == f"Install one, e.g. the Stable Diffusion family: {known.install_command(['autopipe-sd'])}."


def test_collect_makes_the_table_from_a_registry_and_dump_writes_it_a_line_a_class(tmp_path, monkeypatch):
    import json

    from toy_plugins import install

    from autopipe_core import registry as registry_module

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    toy = install(site, "aaa-known-toy", """
from autopipe_core import FamilySpec, ModifierSpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("toy", recognised={"ToyPriorPipeline": "load the decoder"})]

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("sparkle", frozenset({"sparkle"}), lambda v: "sparkle" if v else None, consume=True)]

@hookimpl
def autopipe_pipelines():
    return [
        PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction", Task.IMG2IMG: "decimal:Decimal"}),
        PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}, modifiers={"pag"}),
        PipelineRow("stable-diffusion", {Task.TEXT2IMG: "collections:OrderedDict"}, modifiers={"sparkle"}),
    ]
""")
    data = known.collect(registry_module.build(frozenset({"autopipe-sd", toy})))
    assert data["install"] == json.loads(known.DATA.read_text())["install"]
    assert data["classes"]["Decimal"] == [toy] and data["classes"]["ToyPriorPipeline"] == [toy]
    assert data["classes"]["OrderedDict"] == [toy, "autopipe-sd"]  # a row over another plugin's family needs both
    assert data["classes"]["StableDiffusionPipeline"] == ["autopipe-sd"]
    assert data["modifiers"] == {"sparkle": toy}  # the core's own modifiers are nobody's to install
    assert data["rows"]["stable-diffusion+sparkle"] == [toy, "autopipe-sd"] and data["rows"]["toy+pag"] == [toy]
    assert "toy" not in data["rows"] and list(data["classes"]) == sorted(data["classes"])
    assert data["families"] == {"stable-diffusion": "autopipe-sd", "toy": toy}  # each family's own plugin, for --family
    text = known.dump(data)
    assert json.loads(text) == data
    lines = text.splitlines()
    assert lines[:4] == ["{", f' "install": {json.dumps(data["install"])},', f' "families": {json.dumps(data["families"])},', ' "classes": {']
    assert lines[4] == f'  {json.dumps(next(iter(data["classes"])))}: {json.dumps(next(iter(data["classes"].values())))},'
    assert lines[-1] == "}" and lines[-2] == " }" and not lines[-3].endswith(",") and text.endswith("}\n")
    assert f' "modifiers": {json.dumps(data["modifiers"])},' in lines and ' "rows": {' in lines
    assert known.dump({"install": "i", "families": {}, "classes": {}, "modifiers": {}, "rows": {}}) == (
        '{\n "install": "i",\n "families": {},\n "classes": {\n },\n "modifiers": {},\n "rows": {\n }\n}\n'
    )


def test_an_endless_answer_is_read_one_item_past_the_limit_and_no_further():
    taken = []

    def endless():
        while True:
            taken.append(1)
            yield FamilySpec("f")

    with pytest.raises(TypeError):
        many(FamilySpec)(endless(), {})
    assert len(taken) == MAX_ITEMS + 1
