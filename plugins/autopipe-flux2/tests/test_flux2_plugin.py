"""autopipe-flux2's own pieces: registration against diffusers' own tables and classes, FLUX.2 told from FLUX.1 and [dev]
from [klein] by their configs, the KV row, loading plans and the allowance, the remote-text-encoder route, and the tiny
checkpoints' stand-ins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import autopipe_flux2.plugin
from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, GiB, Identity, LoadPlan, Task
from autopipe_core import UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_registered_alone, check_rows_serve_diffusers
from autopipe_core.testing.images import sample_image, sample_mask
from autopipe_flux2 import FLUX2, KLEIN, KV
from autopipe_flux2.loading import ALLOWANCES, FIXED, plan
from autopipe_flux2.plugin import NO_DEV_INPAINT, NO_KV_INPAINT
from autopipe_flux2.single_file import config_folder
from autopipe_flux2.tiny import BASE

BF16_GPU = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
OLD_GPU = DeviceFacts("cuda", 1, 16 * GiB, 16 * GiB, False)  # a pre-Ampere GPU: no bfloat16
SIZE = 64
#: diffusers 0.42.1's AutoPipeline keys of this lineage.
DIFFUSERS_KEYS = {"flux2": FLUX2, "flux2-klein": KLEIN}


def _call(pipeline, task: Task, **extra):
    """Two steps at 64x64, the prompt by keyword (the FLUX.2 pipelines take image= first)."""
    import torch

    kwargs = dict(prompt="a red fox", num_inference_steps=2, height=SIZE, width=SIZE, generator=torch.Generator("cpu").manual_seed(0), **extra)
    if task is not Task.TEXT2IMG:
        kwargs["image"] = sample_image(SIZE)
    if task is Task.INPAINT:
        kwargs.update(mask_image=sample_mask(SIZE), strength=0.75)
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(**kwargs).images[0]
    assert image.size == (SIZE, SIZE)
    return image


# Registration, against diffusers' own tables and classes


def test_both_families_and_their_rows_are_registered_without_any_other_plugin():
    registry = check_registered_alone("autopipe-flux2", {FLUX2, KLEIN}, [FLUX2, KLEIN, (KLEIN, {KV})])
    assert registry.families[FLUX2][0].config_components == ("transformer",)
    assert registry.families[KLEIN][0].config_components == ("transformer", "text_encoder")


def test_every_row_of_diffusers_tables_for_these_keys_is_served_with_diffusers_class():
    """Each key and task diffusers' AutoPipeline maps resolves to diffusers' class; the tasks its tables omit are served
    where diffusers has a class (Klein inpainting) and refused with what to use where it has none ([dev] inpainting)."""
    # diffusers 0.42.1 has no other FLUX.2 key; Klein inpainting is served beside the tables
    served = check_rows_serve_diffusers(DIFFUSERS_KEYS, naming="flux2", beyond={"flux2-klein": [Task.INPAINT]})
    assert {key: set(tasks) for key, tasks in served.items()} == {key: {Task.TEXT2IMG, Task.IMG2IMG} for key in DIFFUSERS_KEYS}
    registry = get_registry()
    assert registry.table[(KLEIN, frozenset())][Task.INPAINT][0] == "diffusers:Flux2KleinInpaintPipeline"
    assert registry.missing[(FLUX2, frozenset())][Task.INPAINT] == NO_DEV_INPAINT


def test_every_flux2_pipeline_class_diffusers_has_is_registered():
    """When a diffusers release adds a FLUX.2 pipeline class, this fails and names it."""
    import diffusers

    classes = {n for n in dir(diffusers) if n.startswith("Flux2") and n.endswith("Pipeline") and "Modular" not in n}
    assert classes == {"Flux2Pipeline", "Flux2KleinPipeline", "Flux2KleinInpaintPipeline", "Flux2KleinKVPipeline"}
    registered = {ref.partition(":")[2] for row in autopipe_flux2.plugin.autopipe_pipelines() for ref in row.classes.values()}
    assert registered == classes


def test_every_class_takes_the_lineages_components():
    import diffusers

    for row in autopipe_flux2.plugin.autopipe_pipelines():
        for ref in row.classes.values():
            cls = getattr(diffusers, ref.partition(":")[2])
            expected, _ = cls._get_signature_keys(cls)
            assert {"scheduler", "vae", "text_encoder", "tokenizer", "transformer"} <= set(expected), ref


# FLUX.2 from FLUX.1, and [dev] from [klein], by their configs


def _folder(root: Path, class_name: str, transformer: dict | None = None, text_encoder: dict | None = None) -> Path:
    """A checkpoint folder of JSON only: model_index.json naming `class_name`, and the component configs given."""
    root.mkdir(parents=True)
    index = {"_class_name": class_name, "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "vae": ["diffusers", "AutoencoderKLFlux2"]}
    for name, config, lib in (("transformer", transformer, "diffusers"), ("text_encoder", text_encoder, "transformers")):
        if config is not None:
            cls = config.get("_class_name") or config["architectures"][0]
            index[name] = [lib, cls]
            (root / name).mkdir()
            (root / name / "config.json").write_text(json.dumps(config))
    (root / "model_index.json").write_text(json.dumps(index))
    return root


def _config(variant: str, component: str) -> dict:
    return json.loads((config_folder(variant) / component / "config.json").read_text())


FLUX1_TRANSFORMER = {  # FLUX.1-dev's transformer config (autopipe-flux ships it): no timestep_guidance_channels
    "_class_name": "FluxTransformer2DModel", "patch_size": 1, "in_channels": 64, "num_layers": 19, "num_single_layers": 38,
    "attention_head_dim": 128, "num_attention_heads": 24, "joint_attention_dim": 4096, "pooled_projection_dim": 768,
    "guidance_embeds": True, "axes_dims_rope": [16, 56, 56],
}


@pytest.mark.parametrize(("variant", "classes"), [
    ("flux2-dev", ("Flux2Pipeline", "Flux2Pipeline")),
    ("flux2-klein-4b", ("Flux2KleinPipeline", "Flux2KleinPipeline", "Flux2KleinInpaintPipeline")),
    ("flux2-klein-9b", ("Flux2KleinPipeline", "Flux2KleinPipeline", "Flux2KleinInpaintPipeline")),
])
def test_the_shipped_full_size_folders_resolve_as_their_checkpoints(variant, classes):
    folder = config_folder(variant)
    assert tuple(resolve(folder, t).pipeline_class for t in list(Task)[:len(classes)]) == classes
    if len(classes) == 2:
        with pytest.raises(UnsupportedTaskError, match="flux2 has no inpaint pipeline: diffusers 0.42.1 has no FLUX.2 \\[dev\\] inpainting"):
            resolve(folder, Task.INPAINT)


@pytest.mark.parametrize("class_name", ["Flux2Pipeline", "Flux2KleinPipeline"])
def test_a_flux1_transformer_under_a_flux2_class_is_refused(tmp_path, class_name):
    folder = _folder(tmp_path / "x", class_name, transformer=FLUX1_TRANSFORMER)
    with pytest.raises(UnsupportedModelError, match="its transformer config has no timestep_guidance_channels, which every FLUX.2 transformer"):
        resolve(folder, "t2i")


def test_a_klein_transformer_under_flux2pipeline_and_a_dev_one_under_klein_are_refused(tmp_path):
    klein = _folder(tmp_path / "a", "Flux2Pipeline", transformer=_config("flux2-klein-4b", "transformer"))
    with pytest.raises(UnsupportedModelError, match=r"it is not flux2: its transformer embeds no guidance scale \(guidance_embeds False\)"):
        resolve(klein, "t2i")
    dev = _folder(tmp_path / "b", "Flux2KleinPipeline", transformer=_config("flux2-dev", "transformer"))
    with pytest.raises(UnsupportedModelError, match=r"it is not flux2-klein: its transformer embeds a guidance scale \(guidance_embeds True"):
        resolve(dev, "t2i")


def test_a_klein_class_with_mistral_as_its_text_encoder_is_refused(tmp_path):
    folder = _folder(tmp_path / "x", "Flux2KleinPipeline", transformer=_config("flux2-klein-4b", "transformer"), text_encoder=_config("flux2-dev", "text_encoder"))
    with pytest.raises(UnsupportedModelError, match="its text_encoder is a mistral3 model where FLUX.2 \\[klein\\] has Qwen3"):
        resolve(folder, "t2i")


def test_mistral_requirement_tells_the_text_encoders_apart_though_the_kit_keeps_it_out_of_dev_s_requirements():
    """MISTRAL_TEXT_ENCODER is ready for the core change GUIDED_TRANSFORMER's docstring asks for."""
    from autopipe_flux2.plugin import MISTRAL_TEXT_ENCODER

    assert MISTRAL_TEXT_ENCODER.met({"text_encoder": _config("flux2-dev", "text_encoder")})
    qwen = {"text_encoder": _config("flux2-klein-4b", "text_encoder")}
    assert not MISTRAL_TEXT_ENCODER.met(qwen) and MISTRAL_TEXT_ENCODER.reason(qwen).startswith("its text_encoder is a qwen3 model")


def test_the_requirements_read_what_a_live_pipeline_shows(tiny_checkpoint):
    """A live pipeline's transformer and text_encoder configs carry the keys their config.json has: from_pipe decides as from_pretrained."""
    from autopipe_core.resolve import identify

    for family in (FLUX2, KLEIN):
        live = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family))
        configs = identify(live).configs
        assert configs["transformer"]["timestep_guidance_channels"] == 256
        assert configs["transformer"]["guidance_embeds"] is (family == FLUX2)
        for spec, _ in get_registry().families.values():
            assert (spec.unmet(configs) is None) == (spec.name == family)


# The KV row and FLUX.2 [klein]'s kinds


def test_the_kv_checkpoint_does_text2img_and_reference_img2img_and_refuses_inpaint_with_how(tiny_checkpoint):
    folder = tiny_checkpoint(KLEIN, KV)
    assert [resolve(folder, t).pipeline_class for t in (Task.TEXT2IMG, Task.IMG2IMG)] == ["Flux2KleinKVPipeline"] * 2
    with pytest.raises(UnsupportedTaskError, match=r"flux2-klein \+ kv has no inpaint pipeline: diffusers 0.42.1 has no KV-cache inpainting") as refusal:
        resolve(folder, Task.INPAINT)
    assert NO_KV_INPAINT in str(refusal.value)
    pipeline = AutoPipelineForText2Image.from_pretrained(folder)
    assert type(pipeline).__name__ == "Flux2KleinKVPipeline"
    _call(pipeline, Task.TEXT2IMG)
    img2img = AutoPipelineForImage2Image.from_pipe(pipeline)
    assert type(img2img).__name__ == "Flux2KleinKVPipeline" and img2img.transformer is pipeline.transformer
    _call(img2img, Task.IMG2IMG)  # the reference image's keys and values cached at the first step
    for task in (Task.TEXT2IMG, Task.IMG2IMG):
        assert resolve(pipeline, task).pipeline_class == "Flux2KleinKVPipeline"  # a live pipeline resolves as its folder


def test_the_kv_refusal_s_recipe_is_needed_and_works(tiny_checkpoint):
    """Flux2KleinKVPipeline keeps is_distilled nowhere: diffusers' from_pipe reads it as False unless told, as the refusal says;
    autopipe's own switches read it back with the family's reader."""
    from diffusers import Flux2KleinInpaintPipeline

    from autopipe_core.switch import live_state

    kv = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(KLEIN, KV))
    assert "is_distilled" not in kv.config
    assert Flux2KleinInpaintPipeline.from_pipe(kv).config.is_distilled is False
    inpaint = Flux2KleinInpaintPipeline.from_pipe(kv, is_distilled=True)
    inpaint._guidance_scale = 4.0
    assert inpaint.config.is_distilled is True and not inpaint.do_classifier_free_guidance
    _call(inpaint, Task.INPAINT)
    spec = get_registry().families[KLEIN][0]
    assert live_state(kv, spec.init_readers)["is_distilled"] is True
    assert autopipe_flux2.plugin.is_distilled(object()) is None  # a class without the argument


@pytest.mark.parametrize("variant", [None, BASE])
def test_distilled_and_base_klein_share_the_classes_and_differ_in_is_distilled(tiny_checkpoint, variant):
    folder = tiny_checkpoint(KLEIN, variant)
    assert json.loads((folder / "model_index.json").read_text())["is_distilled"] is (variant is None)
    pipeline = AutoPipelineForInpainting.from_pretrained(folder)
    assert type(pipeline).__name__ == "Flux2KleinInpaintPipeline" and pipeline.config.is_distilled is (variant is None)
    pipeline._guidance_scale = 4.0
    assert pipeline.do_classifier_free_guidance is (variant == BASE)  # the base model runs classifier-free guidance
    _call(pipeline, Task.INPAINT, guidance_scale=4.0)
    text2img = AutoPipelineForText2Image.from_pipe(pipeline)  # is_distilled carried through from_pipe
    assert type(text2img).__name__ == "Flux2KleinPipeline" and text2img.config.is_distilled is (variant is None)


def test_the_tiny_builder_refuses_a_variant_it_does_not_build(tmp_path):
    from autopipe_flux2.tiny import build

    with pytest.raises(ValueError, match="flux2 has no tiny variant 'kv'"):
        build(FLUX2, tmp_path / "x", KV)


def test_the_tiny_dev_tokenizer_stands_in_for_pixtral_processor(tiny_checkpoint):
    """The tiny [dev] checkpoint's tokenizer is the processor's tokenizer alone (transformers 5 builds PixtralProcessor only
    with torchvision). Where torchvision is installed, the processor over it must encode FLUX.2's messages identically."""
    from diffusers.pipelines.flux2.pipeline_flux2 import format_input
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint(FLUX2) / "tokenizer")
    messages = format_input(["a red fox"])
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, padding="max_length", max_length=512, truncation=True)["input_ids"]
    text = [i for i in ids[0] if i != tokenizer.pad_token_id]
    assert len(ids[0]) == 512 and text[0] == tokenizer.bos_token_id
    assert "[INST]aredfox[/INST]" in tokenizer.decode(ids[0], skip_special_tokens=True).replace(" ", "")
    try:
        from transformers import PixtralImageProcessor, PixtralProcessor

        processor = PixtralProcessor(image_processor=PixtralImageProcessor(), tokenizer=tokenizer, chat_template=tokenizer.chat_template)
    except ImportError as missing:
        assert "torchvision" in str(missing).lower()
        return
    through = processor.apply_chat_template(messages, tokenize=True, return_dict=True, padding="max_length", max_length=512, truncation=True)
    assert [list(map(int, row)) for row in through["input_ids"]] == ids


# Loading plans, the allowance, and what the memory saver leaves to the caller


def _identity(files=("model_index.json", "transformer/diffusion_pytorch_model.safetensors")) -> Identity:
    return Identity("folder", "x", "Flux2Pipeline", files=files)


def test_bfloat16_where_the_device_has_it_float32_elsewhere_with_the_reason():
    assert plan(FLUX2, _identity(), BF16_GPU).dtype == "bfloat16"
    old = plan(KLEIN, _identity(), OLD_GPU)
    assert (old.dtype, old.variant) == ("float32", None)
    assert "float32, not float16" in old.reason and "diffusers#9096" in old.reason and "cuda has no bfloat16" in old.reason
    cpu = plan(FLUX2, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.placement) == ("float32", "device") and "about 225 GB of RAM" in cpu.reason
    assert "32 GB" in plan(KLEIN, _identity(), DeviceFacts("cpu")).reason


def test_the_weight_variant_follows_the_files():
    files = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
    assert plan(FLUX2, _identity(files), BF16_GPU).variant == "bf16"
    assert plan(FLUX2, _identity(), BF16_GPU).variant is None  # the official repositories: one set of files, bfloat16, no variant
    fp32 = ("model_index.json", "transformer/diffusion_pytorch_model.fp32.safetensors")
    assert plan(KLEIN, _identity(fp32), OLD_GPU).variant == "fp32"


def test_the_allowance_at_1024_and_as_the_call_asks():
    bf16 = LoadPlan("bfloat16", None, "device", "cuda", "")
    dev = ALLOWANCES[FLUX2].activation(_identity(), bf16)
    assert (dev.nbytes, dev.width, dev.height) == (5 * GiB // 2, 1024, 1024)
    assert ALLOWANCES[KLEIN].activation(_identity(), bf16).nbytes == 2 * GiB
    assert ALLOWANCES[FLUX2].nbytes(512, 512, "bfloat16") == FIXED + GiB // 2  # the pixels' share scales with the area
    assert ALLOWANCES[KLEIN].nbytes(1024, 1024, "float32") == FIXED + 3 * GiB  # and with the itemsize


def test_no_library_keeps_a_flux2_module_in_float32():
    """The header counts are the loaded bytes: none of the four classes keeps modules in float32 under a half dtype."""
    import diffusers
    import transformers

    for cls in (transformers.Mistral3ForConditionalGeneration, transformers.Qwen3ForCausalLM, diffusers.Flux2Transformer2DModel, diffusers.AutoencoderKLFlux2):
        assert not getattr(cls, "_keep_in_fp32_modules", None), cls.__name__


def test_the_remote_text_encoder_route_is_the_caller_s_and_the_planner_honours_it(tiny_checkpoint):
    """Loaded with text_encoder=None, the pipeline is planned without it and runs from prompt_embeds computed elsewhere;
    a call with prompt= then fails, which is why no plan leaves the encoder out by itself."""
    import torch

    from autopipe_core.planning import plan as place

    folder = tiny_checkpoint(FLUX2)
    gpu = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
    counted = {c.name for c in place(resolve(folder, "text2img"), gpu).footprint.components}
    without = {c.name for c in place(resolve(folder, "text2img"), gpu, kwargs={"text_encoder": None}).footprint.components}
    assert counted - without == {"text_encoder"}
    elsewhere = AutoPipelineForText2Image.from_pretrained(folder)  # stands for the remote encoder
    prompt_embeds, _ = elsewhere.encode_prompt("a red fox", device="cpu")
    local = AutoPipelineForText2Image.from_pretrained(folder, text_encoder=None)
    assert local.text_encoder is None
    local.set_progress_bar_config(disable=True)
    image = local(prompt_embeds=prompt_embeds, num_inference_steps=2, height=SIZE, width=SIZE, generator=torch.Generator("cpu").manual_seed(0)).images[0]
    assert image.size == (SIZE, SIZE)
    with pytest.raises(AttributeError):
        local(prompt="a red fox", num_inference_steps=2, height=SIZE, width=SIZE)


def test_a_saved_checkpoint_folder_resolves_and_loads_again(tiny_checkpoint, tmp_path):
    """save_pretrained of a loaded pipeline writes a folder that resolves to the same family and classes."""
    for family in (FLUX2, KLEIN):
        pipeline = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family))
        pipeline.save_pretrained(tmp_path / family)
        assert resolve(tmp_path / family, Task.IMG2IMG).pipeline_class == type(pipeline).__name__
    shutil.rmtree(tmp_path)
