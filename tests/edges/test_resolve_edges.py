"""Resolution's answers and refusals (resolve.py), word for word, with autopipe-sd (and toy plugins where a case needs one)."""

from __future__ import annotations

import json

import pytest
from layouts import write_model_index
from toy_plugins import install

from autopipe_core import Task, UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core import registry as registry_module
from autopipe_core.refusals import article as _article, instead as _instead, label as _label
from autopipe_core.resolve import class_kwargs, modifiers_for, passed_components, resolve_identity
from autopipe_core.specs import Identity

UNET = {"in_channels": 4, "sample_size": 8, "cross_attention_dim": 32}


def _toy_family(site, dist, row='Task.TEXT2IMG: "fractions:Fraction"', version="1.0", requires=()):
    """A toy plugin registering the family "toy" and one row of it (`row`: the row's task-to-class entries, as source)."""
    return install(site, dist, f"""
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("toy")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("toy", {{{row}}})]
""", version=version, requires=requires)


def test_the_words_resolution_builds_its_advice_from():
    assert [_article(w) for w in ("inpainting-only", "edit", "Other", "x", "union")] == ["an", "an", "an", "a", "a"]
    assert _label("stable-diffusion", frozenset()) == "stable-diffusion"
    assert _label("stable-diffusion", frozenset({"pag", "controlnet"})) == "stable-diffusion + controlnet + pag"
    assert _instead([]) == "With these options it does no task: change the options."
    assert _instead([], Task.INPAINT) == "With these options it does no task: change the options, or pick a checkpoint made for inpaint."
    assert _instead([Task.TEXT2IMG, Task.IMG2IMG]) == "It does text2img, img2img: use AutoPipelineForText2Image or AutoPipelineForImage2Image."
    assert _instead([Task.INPAINT], Task.TEXT2IMG) == "It does inpaint: use AutoPipelineForInpainting, or pick a checkpoint made for text2img."


def test_an_inpainting_only_checkpoint_says_what_it_is_and_what_it_does(tmp_path):
    folder = write_model_index(tmp_path / "m", "StableDiffusionInpaintPipeline", unet={**UNET, "in_channels": 9})
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == (
        f"{folder} is an inpainting-only stable-diffusion checkpoint (its UNet takes 9 input channels, latents plus mask plus masked image, "
        "so it needs a mask at every step), so it cannot do text2img. It does inpaint: use AutoPipelineForInpainting, or pick a checkpoint made for text2img."
    )
    r = resolve(folder, "inpaint")
    assert (r.family, r.task, r.variant, r.plugin, r.pipeline_class) == ("stable-diffusion", Task.INPAINT, "inpainting-only", "autopipe-sd", "StableDiffusionInpaintPipeline")
    assert r.class_ref == "diffusers:StableDiffusionInpaintPipeline" and r.plugin_version != "?" and r.identity.reference == str(folder)
    plain = resolve(write_model_index(tmp_path / "p", "StableDiffusionPipeline", unet=dict(UNET)), "img2img")
    assert plain.variant is None and plain.modifiers == frozenset()


def test_a_class_nobody_handles_names_the_installed_families(tmp_path):
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == (
        f"no installed autopipe plugin handles TotallyNewPipeline (from {folder}). Families installed: stable-diffusion (autopipe-sd). "
        "If a plugin exists for this model, pip install it; `autopipe plugins` lists what is loaded and what failed."
    )


def test_a_class_of_a_plugin_not_installed_says_how_to_install_it(tmp_path, installed_only):
    installed_only("autopipe-sd")  # as where autopipe-sdxl is not installed
    folder = write_model_index(tmp_path / "m", "StableDiffusionXLPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value).startswith(f"StableDiffusionXLPipeline (from {folder}) is handled by a plugin that is not installed. Install it with: pip install ./plugins/autopipe-sdxl")


def test_a_misspelt_modifier_is_a_type_error_and_an_uninstalled_one_says_what_to_install(monkeypatch):
    reg = registry_module.get_registry()
    with pytest.raises(TypeError) as info:
        modifiers_for(reg, frozenset(), {"enable_pg": True})
    assert str(info.value) == "unexpected keyword argument 'enable_pg': did you mean 'enable_pag'?"
    assert modifiers_for(reg, frozenset(), {"torch_dtype": 1, "cache_dir": "x", "zzz_unrelated": 1}) == frozenset()
    assert modifiers_for(reg, frozenset(), {"controls": 1}) == frozenset()  # near "controlnet", but not a likely misspelling of it (0.78 < 0.8)
    assert modifiers_for(reg, frozenset({"pag"}), {"enable_pag": False}) == frozenset()
    assert modifiers_for(reg, frozenset(), {"enable_pag": True, "controlnet": None}) == frozenset({"pag"})


def test_passed_components_are_objects_with_a_config_or_none():
    class Model:
        config = {}

    model = Model()
    assert passed_components({"unet": model, "vae": None, "torch_dtype": "x", "n": 3}) == {"unet": model, "vae": None}
    reg = registry_module.get_registry()
    assert class_kwargs(reg, {"enable_pag": True, "unet": model}) == {"unet": model}
    assert class_kwargs(reg, {"controlnet": model, "enable_pag": False}) == {"controlnet": model}  # not consumed: the class takes it
    assert class_kwargs(reg, {"controlnet": None, "x": 1}) == {"x": 1}  # set to None, it only removed ControlNet


def test_a_missing_combination_lists_those_available(tmp_path, site, monkeypatch):
    fancy = install(site, "aaa-fancy-modifier", """
from autopipe_core import ModifierSpec, hookimpl

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("fancy", frozenset({"fancy"}), lambda v: "fancy" if v else None, consume=True)]
""")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{fancy}")
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img", fancy=True)
    assert str(info.value) == f"{folder}: there is no stable-diffusion + fancy pipeline. Combinations available: stable-diffusion; stable-diffusion + pag."


def test_a_task_a_row_lacks_says_why_and_what_it_does(tmp_path, site, monkeypatch):
    toy = install(site, "aaa-partial", """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("partial")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("partial", {Task.TEXT2IMG: "fractions:Fraction"}, missing={Task.INPAINT: "it paints whole pictures only"})]
""")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", toy)
    folder = write_model_index(tmp_path / "m", "Fraction")
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "inpaint")
    assert str(info.value) == "partial has no inpaint pipeline: it paints whole pictures only. It does text2img: use AutoPipelineForText2Image."
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "img2img")
    assert str(info.value) == "partial has no img2img pipeline. It does text2img: use AutoPipelineForText2Image."
    r = resolve(folder, "text2img")
    assert (r.pipeline_class, r.plugin, r.plugin_version) == ("Fraction", toy, "1.0")


def test_a_recognised_class_says_what_to_load_instead(tmp_path, site, monkeypatch):
    toy = install(site, "aaa-recognises", """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("stage", recognised={"StageTwoPipeline": "stage II upscales stage I's images: load stage I"})]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("stage", {Task.TEXT2IMG: "fractions:Fraction"})]
""")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", toy)
    folder = write_model_index(tmp_path / "m", "StageTwoPipeline")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == f"{folder} holds StageTwoPipeline (family stage, plugin {toy}): stage II upscales stage I's images: load stage I"
    live = Identity("pipeline", "x", "StageTwoPipeline", bases=("StageTwoPipeline", "object"))
    with pytest.raises(UnsupportedModelError) as info:
        resolve_identity(live, "text2img")
    assert str(info.value) == f"StageTwoPipeline (family stage, plugin {toy}): stage II upscales stage I's images: load stage I"


def test_a_live_subclass_resolves_by_its_bases():
    live = Identity("pipeline", "x", "MyOwnPipeline", bases=("MyOwnPipeline", "StableDiffusionPipeline", "DiffusionPipeline"))
    r = resolve_identity(live, "img2img")
    assert r.pipeline_class == "StableDiffusionImg2ImgPipeline" and r.identity is live
    stranger = Identity("pipeline", "x", "Mine", bases=("Mine", "object"))
    with pytest.raises(UnsupportedModelError, match=r"^no installed autopipe plugin handles Mine\. Families installed"):
        resolve_identity(stranger, "img2img")


def test_with_no_family_installed_the_refusal_says_none(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "")
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError, match=r"handles TotallyNewPipeline \(from .*\)\. Families installed: none\. If a plugin"):
        resolve(folder, "text2img")
    live = Identity("pipeline", "x", "Mine", bases=("Mine", "object"))
    with pytest.raises(UnsupportedModelError, match=r"^no installed autopipe plugin handles Mine\. Families installed: none\."):
        resolve_identity(live, "text2img")


def test_allow_pickle_alone_opens_a_pickle_checkpoint(tmp_path):
    import torch

    from autopipe_core import UnsafeCheckpointError

    path = tmp_path / "sd15.ckpt"
    torch.save({"state_dict": {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3, dtype=torch.float16),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 768, dtype=torch.float16),
    }}, path)
    with pytest.raises(UnsafeCheckpointError, match="allow_pickle=True"):
        resolve(path, "text2img")
    r = resolve(path, "text2img", allow_pickle=True, torch_dtype="float16")
    assert (r.family, r.pipeline_class, r.identity.origin, r.identity.detection.variant) == ("stable-diffusion", "StableDiffusionPipeline", "file", "sd1")


def test_a_class_nobody_handles_lists_every_family_installed(tmp_path, site, monkeypatch):
    toy = _toy_family(site, "aaa-listed")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{toy}")
    folder = write_model_index(tmp_path / "m", "TotallyNewPipeline")
    with pytest.raises(UnsupportedModelError, match=rf"\. Families installed: stable-diffusion \(autopipe-sd\), toy \({toy}\)\. If a plugin"):
        resolve(folder, "text2img")


def test_a_live_pipeline_is_identified_with_the_registry_and_components_it_is_given(site):
    from autopipe_core.resolve import identify_pipeline

    toy = install(site, "aaa-live", """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("live", configs=("unet",))]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("live", {Task.TEXT2IMG: "fractions:Fraction"})]
""")
    given = registry_module.build(frozenset({toy}))

    class Unet:
        config = {"in_channels": 4}

    class Fraction:  # a live pipeline of the toy family's class
        def __init__(self):
            self.unet, self.config = Unet(), {}

        @property
        def components(self):
            raise AssertionError("read again")

    live = Fraction()
    identity = identify_pipeline(live, given, {"unet": live.unet})
    assert identity.configs == {"unet": {"in_channels": 4}} and identity.components == {"unet": (Unet.__module__.split(".")[0], "Unet")}
    assert identify_pipeline(live, None, {"unet": live.unet}).configs == {}  # the current registry (autopipe-sd) has no such class


@pytest.fixture(scope="module")
def controlnets():
    """Real (tiny) ControlNetModels: two for UNets of other cross-attention widths, one with SDXL's added embeddings."""
    from diffusers import ControlNetModel

    shape = dict(block_out_channels=(4, 8), layers_per_block=1, attention_head_dim=2, norm_num_groups=4, conditioning_embedding_out_channels=(4, 8),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"))
    return {
        32: ControlNetModel(cross_attention_dim=32, **shape),
        64: ControlNetModel(cross_attention_dim=64, **shape),
        "xl": ControlNetModel(cross_attention_dim=32, addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=48, **shape),
    }


def test_a_controlnet_trained_for_another_unet_does_not_fit_and_says_which_entry_differs(tmp_path, monkeypatch, controlnets):
    from diffusers import MultiControlNetModel

    from autopipe_core.builtin import choose_controlnet, controlnet_fits

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd,autopipe-controlnet")
    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    cn32, cn64, xl = controlnets[32], controlnets[64], controlnets["xl"]
    assert resolve(folder, "text2img", controlnet=cn32).pipeline_class == "StableDiffusionControlNetPipeline"
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img", controlnet=cn64)
    assert str(info.value) == (
        f"controlnet= does not fit {folder}: the ControlNetModel was trained for a UNet with cross_attention_dim 64, and this checkpoint's UNet has 32 "
        "(a ControlNet for the SDXL base under the refiner, or for SD 1.x under SD 2.x); use a ControlNet trained for this model."
    )
    identity = Identity("folder", str(folder), "StableDiffusionPipeline", configs={"unet": dict(UNET)})
    for value in ([cn32, cn64], (cn32, cn64), MultiControlNetModel([cn32, cn64])):  # each model of a list or a MultiControlNetModel
        assert controlnet_fits(value, identity).startswith("the ControlNetModel was trained for a UNet with cross_attention_dim 64, and this checkpoint's UNet has 32 (")
    assert controlnet_fits([cn32, cn32], identity) is None and controlnet_fits(MultiControlNetModel([cn32]), identity) is None
    # An entry only one side has says nothing; nor does a checkpoint whose UNet config was not read.
    assert controlnet_fits(xl, identity) is None
    assert controlnet_fits(cn32, Identity("folder", "m", "C", configs={"unet": {**UNET, "addition_time_embed_dim": 8}})) is None
    assert controlnet_fits(xl, Identity("folder", "m", "C", configs={"unet": {**UNET, "addition_time_embed_dim": 16}})).startswith(
        "the ControlNetModel was trained for a UNet with addition_time_embed_dim 8, and this checkpoint's UNet has 16 (")
    assert controlnet_fits(cn64, Identity("folder", "m", "C")) is None and controlnet_fits(cn64, None) is None
    assert controlnet_fits(object(), identity) is None  # nothing with a config to compare: diffusers will say what it is not
    with pytest.raises(ValueError) as error:
        choose_controlnet([])
    assert str(error.value) == "controlnet= got an empty list: pass a ControlNet model, a list of them, or None"


def test_a_modifier_set_whose_row_only_says_why_is_refused_with_that_reason(tmp_path, site, monkeypatch):
    toy = install(site, "aaa-says-why", """
from autopipe_core import FamilySpec, ModifierSpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("toy")]

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("fancy", frozenset({"fancy"}), lambda v: "fancy" if v else None, consume=True)]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"}), PipelineRow("toy", {}, modifiers={"fancy"}, missing={Task.TEXT2IMG: "fancy toys are not made yet"})]
""")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", toy)
    folder = write_model_index(tmp_path / "m", "Fraction")
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "text2img", fancy=True)
    assert str(info.value) == "toy + fancy has no text2img pipeline: fancy toys are not made yet. With these options it does no task: change the options."
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "inpaint")  # a task the row lacks, with nothing said about it
    assert str(info.value) == "toy has no inpaint pipeline. It does text2img: use AutoPipelineForText2Image."


def test_resolve_identity_reads_the_registry_it_is_given(site):
    toy = _toy_family(site, "aaa-given", version="2.5")
    given = registry_module.build(frozenset({toy}))
    r = resolve_identity(Identity("folder", "/m", "Fraction"), "text2img", {}, given)  # the current registry (autopipe-sd) has no toy
    assert (r.family, r.pipeline_class, r.plugin, r.plugin_version) == ("toy", "Fraction", toy, "2.5")


def _one_class_toy(site, dist, ref, requires=()):
    return _toy_family(site, dist, f'Task.TEXT2IMG: {ref!r}, Task.IMG2IMG: "fractions:Fraction"', version="1.4", requires=requires)


def test_a_class_that_cannot_be_imported_is_the_plugins_error_or_the_library_version_it_needs(tmp_path, site, monkeypatch):
    from importlib import metadata

    from autopipe_core import PluginError

    typo = _one_class_toy(site, "aaa-typo", "fractions:Fractoin", requires=("no-such-library-here>=1",))  # unmet, but not what the class needs
    monkeypatch.setenv("AUTOPIPE_PLUGINS", typo)
    resolution = resolve(write_model_index(tmp_path / "m", "Fractoin"), "text2img")
    with pytest.raises(PluginError) as info:
        resolution.load_class()
    assert str(info.value) == (
        f"{typo} 1.4 registered fractions:Fractoin for text2img of toy, but it cannot be imported (AttributeError: module 'fractions' has no attribute "
        f"'Fractoin'). Upgrade {typo} or the library it names (its requirements say which versions it supports); `autopipe plugins --check` imports every registered class."
    )
    assert isinstance(info.value.__cause__, AttributeError)
    future = _one_class_toy(site, "aaa-future", "pluggy:FuturePipeline", requires=("no-such-library-here>=1", "pluggy>=99", "pytest>=1"))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", future)
    resolution = resolve(write_model_index(tmp_path / "f", "FuturePipeline"), "text2img")
    import pluggy

    with pytest.raises(AttributeError) as missing:
        pluggy.FuturePipeline  # noqa: B018 - pluggy's own words for it
    with pytest.raises(UnsupportedModelError) as info:
        resolution.load_class()
    assert str(info.value) == (
        f"FuturePipeline, which {future} serves for text2img of toy, cannot be imported (AttributeError: {missing.value}): "
        f"{future} needs pluggy>=99; pluggy {metadata.version('pluggy')} is installed: pip install 'pluggy>=99'"
    )
    assert isinstance(info.value.__cause__, AttributeError)
    assert resolve(tmp_path / "f", "img2img").load_class().__name__ == "Fraction"


def test_a_folder_holding_one_model_says_which_keyword_takes_it(tmp_path, site, monkeypatch):
    from autopipe_core.sources import ComponentFolderError

    folder = tmp_path / "cn"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    told = (f"{folder} holds one model, a ControlNetModel (its config.json), not a pipeline: load it with diffusers.ControlNetModel.from_pretrained "
            "and pass it to a pipeline of its family when loading that, or pass the pipeline folder that holds model_index.json.")
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    assert str(info.value) == (
        f"{told} It is the kind of model controlnet= takes: load it with diffusers.ControlNetModel.from_pretrained(folder) and pass it as controlnet= "
        "to from_pretrained of the pipeline it was trained for."
    )
    also = install(site, "aaa-takes-controlnets", """
from autopipe_core import ModifierSpec, hookimpl

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("guide", frozenset({"guide"}), lambda v: "guide" if v else None, components=frozenset({"ControlNetModel"}))]
""")
    monkeypatch.setenv("AUTOPIPE_PLUGINS", f"autopipe-sd,{also}")
    with pytest.raises(UnsupportedModelError, match="It is the kind of model controlnet= or guide= takes: load it with diffusers.ControlNetModel.from_pretrained\\(folder\\) and pass it as controlnet= to"):
        resolve(folder, "text2img")
    (folder / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))  # a model no keyword takes
    with pytest.raises(ComponentFolderError) as info:
        resolve(folder, "text2img")
    assert str(info.value).startswith(f"{folder} holds one model, a UNet2DConditionModel (its config.json), not a pipeline") and info.value.class_name == "UNet2DConditionModel"


def test_identify_reads_with_the_registry_given_a_folder_a_single_file_and_a_hub_repo(tmp_path, site, monkeypatch):
    from layouts import hub_cache

    from autopipe_core.headers import write_header
    from autopipe_core.resolve import identify

    toy = install(site, "aaa-identifies", """
from autopipe_core import Detection, FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec("toy", configs=("unet",))]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("toy", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_detect(header):
    if "toy.weight" in header.tensors:
        return Detection("toy", "tiny", 1.0, "a toy tensor", pipeline_class="fractions:Fraction")
""")
    given = registry_module.build(frozenset({toy}))
    folder = write_model_index(tmp_path / "m", "Fraction", unet=dict(UNET))
    assert identify(folder, given).configs == {"unet": UNET}  # the given registry's family wants the UNet config
    assert identify(folder).configs == {}  # the current one (autopipe-sd) knows no Fraction
    file = write_header(tmp_path / "toy.safetensors", {"toy.weight": ("F16", (2,))})
    assert identify(file, given).detection.family == "toy"
    index = json.dumps({"_class_name": "Fraction", "unet": ["diffusers", "UNet2DConditionModel"]})
    hub_cache(tmp_path / "hub", "someone/toy", {"model_index.json": index, "unet/config.json": json.dumps(UNET)}, commit="e" * 40)
    identity = identify("someone/toy", given, cache_dir=tmp_path / "hub")
    assert (identity.origin, identity.commit, identity.configs) == ("hub", "e" * 40, {"unet": UNET})


def test_a_component_passed_to_resolve_stands_for_its_folder(tmp_path):
    class Unet:
        config = {**UNET, "in_channels": 9}

    folder = write_model_index(tmp_path / "m", "StableDiffusionPipeline", unet=dict(UNET))
    (folder / "unet" / "config.json").unlink()
    r = resolve(folder, "inpaint", unet=Unet(), torch_dtype="float16")
    assert r.variant == "inpainting-only" and r.identity.configs["unet"]["in_channels"] == 9


def test_a_loading_option_is_never_taken_for_a_misspelt_modifier(site):
    toy = install(site, "aaa-near-options", """
from autopipe_core import ModifierSpec, hookimpl

@hookimpl
def autopipe_modifiers():
    return [ModifierSpec("variants", frozenset({"variants"}), lambda v: "variants" if v else None, consume=True)]
""")
    reg = registry_module.build(frozenset({toy}))
    assert modifiers_for(reg, frozenset(), {"variant": "fp16", "revision": "main"}) == frozenset()  # from_pretrained's own keywords
    with pytest.raises(TypeError, match="did you mean 'variants'"):
        modifiers_for(reg, frozenset(), {"variantz": True})


def test_a_row_of_a_plugin_the_registry_does_not_list_resolves_with_version_unknown():
    from autopipe_core.registry import ClassEntry, Registry
    from autopipe_core.specs import FamilySpec

    plain = ("toy", frozenset())
    by_hand = Registry(
        plugins=(), families={"toy": (FamilySpec("toy"), "aaa-toy")}, table={plain: {Task.TEXT2IMG: ("fractions:Fraction", "aaa-toy")}}, missing={},
        classes={"Fraction": ClassEntry("toy", frozenset(), frozenset({Task.TEXT2IMG}), "aaa-toy")}, modifiers={},
    )
    r = resolve_identity(Identity("folder", "/m", "Fraction"), "text2img", {}, by_hand)
    assert (r.family, r.pipeline_class, r.plugin, r.plugin_version) == ("toy", "Fraction", "aaa-toy", "?")
