"""autopipe-cogview's registration against diffusers' own tables and sources, refusals, loading plans, no single files."""

from __future__ import annotations

import json

import pytest
import torch

import autopipe_cogview as cogview
from autopipe_cogview import tiny
from autopipe_cogview.loading import ALLOWANCE, plan
from autopipe_core import (
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedModelError,
    resolve,
)
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core import testing as kit

#: diffusers' AutoPipeline keys this plugin serves (diffusers.pipelines.auto_pipeline, 0.42.1) -> (family, modifiers, class).
DIFFUSERS_KEYS = {
    "cogview3": (cogview.COGVIEW3, frozenset(), "CogView3PlusPipeline"),
    "cogview4": (cogview.COGVIEW4, frozenset(), "CogView4Pipeline"),
    "cogview4-control": (cogview.COGVIEW4, frozenset({cogview.CONTROL}), "CogView4ControlPipeline"),
}
BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors")
BF16_FILES = (*PLAIN_FILES, "transformer/diffusion_pytorch_model.bf16.safetensors", "text_encoder/model.bf16.safetensors")


# Registration, against diffusers' own tables and classes


def test_the_two_families_and_their_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-cogview", cogview.FAMILIES, [cogview.COGVIEW3, cogview.COGVIEW4, (cogview.COGVIEW4, {cogview.CONTROL})])


def test_every_row_of_diffusers_tables_for_these_keys_is_served_with_diffusers_class():
    """Each key diffusers maps is served with its class, under the (family, modifiers) its class name gives; the tasks its
    tables leave out are refused, with why."""
    # diffusers 0.42.1 has no other CogView key
    served = kit.check_rows_serve_diffusers({key: (family, modifiers) for key, (family, modifiers, _) in DIFFUSERS_KEYS.items()}, naming="cogview")
    assert served == {key: {Task.TEXT2IMG: cls} for key, (_, _, cls) in DIFFUSERS_KEYS.items()}


def test_diffusers_has_no_other_pipeline_for_these_transformers():
    """No image-to-image, inpainting, PAG or ControlNet class takes either transformer: the refusals are true.

    When this fails, diffusers has added one: serve it.
    """
    assert kit.pipelines_taking("CogView3PlusTransformer2DModel") == {"CogView3PlusPipeline"}
    assert kit.pipelines_taking("CogView4Transformer2DModel") == {"CogView4Pipeline", "CogView4ControlPipeline"}


@pytest.mark.parametrize("family, task, words", [
    (cogview.COGVIEW3, Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"),
    (cogview.COGVIEW3, Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
    (cogview.COGVIEW4, Task.IMG2IMG, "THUDM/CogView4-6B-Control"),
    (cogview.COGVIEW4, Task.INPAINT, "StableDiffusionXLInpaintPipeline, autopipe-sdxl"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, family, task, words):
    kit.check_refused(tiny_checkpoint(family), task, words, "use AutoPipelineForText2Image")


@pytest.mark.parametrize("family, what", [(cogview.COGVIEW3, "CogView3-Plus"), (cogview.COGVIEW4, "CogView4")])
def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint, family, what):
    pag, controlnet = kit.check_no_pag_or_controlnet(tiny_checkpoint(family), what)
    assert f"no PAG pipeline for {what} " in str(pag)
    assert ("THUDM/CogView4-6B-Control" in str(controlnet)) == (family == cogview.COGVIEW4)


def test_cogview_index_files_resolve_as_diffusers_does(tmp_path):
    """A folder laid out as a diffusers CogView checkpoint is (model_index.json naming the component classes, the transformer's config; no weights)."""
    layouts = {
        "CogView3PlusPipeline": ("CogView3PlusTransformer2DModel", "T5EncoderModel", "T5Tokenizer", "CogVideoXDPMScheduler", 16),
        "CogView4Pipeline": ("CogView4Transformer2DModel", "GlmModel", "PreTrainedTokenizerFast", "FlowMatchEulerDiscreteScheduler", 16),
        "CogView4ControlPipeline": ("CogView4Transformer2DModel", "GlmModel", "PreTrainedTokenizerFast", "FlowMatchEulerDiscreteScheduler", 32),
    }
    for cls, (transformer, encoder, tokenizer, scheduler, channels) in layouts.items():
        root = tmp_path / cls
        (root / "transformer").mkdir(parents=True)
        (root / "model_index.json").write_text(json.dumps({
            "_class_name": cls, "text_encoder": ["transformers", encoder], "tokenizer": ["transformers", tokenizer],
            "transformer": ["diffusers", transformer], "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", scheduler],
        }))
        (root / "transformer" / "config.json").write_text(json.dumps({"_class_name": transformer, "in_channels": channels, "sample_size": 128}))
        resolution = resolve(root, Task.TEXT2IMG)
        assert resolution.pipeline_class == cls and resolution.identity.configs["transformer"]["sample_size"] == 128


# Loading code: bfloat16 as trained, float32 where the device has none, the allowance


def _identity(files=BF16_FILES, sample_size: int | None = 128) -> Identity:
    configs = {} if sample_size is None else {"transformer": {"sample_size": sample_size}}
    return Identity("folder", "x", "CogView4Pipeline", files=files, configs=configs)


@pytest.mark.parametrize("family", cogview.FAMILIES)
def test_the_plan_is_float32_on_a_cpu_and_bfloat16_from_bf16_files_where_the_device_has_it(family):
    cpu = plan(family, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})
    gpu = plan(family, _identity(), BF16_GPU)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("bfloat16", "bf16", {}, frozenset())
    assert "as CogView is trained" in gpu.reason
    plain = plan(family, _identity(PLAIN_FILES), BF16_GPU)
    assert (plain.dtype, plain.variant) == ("bfloat16", None) and "no bf16 variant" in plain.reason


def test_an_accelerator_without_bfloat16_loads_float32_and_says_why():
    older = plan(cogview.COGVIEW4, _identity(), T4)
    assert (older.dtype, older.variant, older.device) == ("float32", None, "cuda")
    assert "cuda has no bfloat16" in older.reason and "no float16 run" in older.reason


def test_the_allowance_is_stated_at_the_native_side_read_from_sample_size():
    bf16 = plan(cogview.COGVIEW4, _identity(), BF16_GPU)
    native = ALLOWANCE.activation(_identity(), bf16)
    assert (native.width, native.height, native.nbytes) == (1024, 1024, 2 * GiB)
    assert ALLOWANCE.activation(_identity(sample_size=None), bf16).width == 1024  # config not read: the usual 1024
    assert ALLOWANCE.activation(_identity(), bf16, 2048, 2048).nbytes == 6 * GiB + GiB // 2
    float32 = ALLOWANCE.activation(_identity(), plan(cogview.COGVIEW4, _identity(), T4))
    assert float32.nbytes == 3 * GiB + GiB // 2


@pytest.mark.parametrize("family", cogview.FAMILIES)
def test_the_footprint_counts_each_component_as_loading_gives_it(tiny_checkpoint, family):
    path = tiny_checkpoint(family)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    assert placed.plan.dtype == "bfloat16" and placed.footprint.activation.width == 64  # the tiny sample_size 8 x 8
    pipe = AutoPipelineForText2Image.from_pretrained(path, torch_dtype=torch.bfloat16)
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "vae", "transformer"))


# No single files: diffusers' from_single_file knows neither family


def test_diffusers_from_single_file_knows_no_cogview():
    """Why the plugin has no autopipe_detect: diffusers 0.42.1 has no CogView key, and none of the classes can load one file."""
    kit.check_no_diffusers_single_file("cogview", classes=(
        "CogView3PlusPipeline", "CogView4Pipeline", "CogView4ControlPipeline", "CogView3PlusTransformer2DModel", "CogView4Transformer2DModel",
    ))
    assert "autopipe_detect" not in next(p for p in get_registry().plugins if p.distribution == "autopipe-cogview").hooks


def test_a_cogview_transformer_file_is_not_claimed(tmp_path):
    from safetensors.torch import save_file

    from autopipe_core.single_file import identify_file

    path = tmp_path / "cogview4.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.cogview4_transformer().state_dict().items()}, str(path))
    with pytest.raises(UnsupportedModelError, match="no installed plugin recognises this checkpoint"):
        identify_file(path)


# The tiny builder


def test_the_tiny_builder_refuses_what_it_does_not_build(tmp_path):
    with pytest.raises(ValueError, match="cogview3 has no tiny variant 'control'; it builds only its ordinary checkpoint"):
        tiny.build(cogview.COGVIEW3, tmp_path / "a", "control")
    with pytest.raises(ValueError, match="cogview4 has no tiny variant 'fill'; choose None or 'control'"):
        tiny.build(cogview.COGVIEW4, tmp_path / "b", "fill")
    with pytest.raises(ValueError, match="builds no tiny 'cogview2'"):
        tiny.build("cogview2", tmp_path / "c")


def test_the_tiny_checkpoints_have_the_families_classes_and_channels(tiny_checkpoint):
    for (family, variant), (cls, transformer, encoder, channels) in {
        (cogview.COGVIEW3, None): ("CogView3PlusPipeline", "CogView3PlusTransformer2DModel", "T5EncoderModel", 16),
        (cogview.COGVIEW4, None): ("CogView4Pipeline", "CogView4Transformer2DModel", "GlmModel", 16),
        (cogview.COGVIEW4, cogview.CONTROL): ("CogView4ControlPipeline", "CogView4Transformer2DModel", "GlmModel", 32),
    }.items():
        folder = tiny_checkpoint(family, variant)
        index = json.loads((folder / "model_index.json").read_text())
        config = json.loads((folder / "transformer" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        assert (index["_class_name"], index["transformer"][1], index["text_encoder"][1]) == (cls, transformer, encoder)
        assert (config["in_channels"], config["out_channels"], vae["latent_channels"]) == (channels, 16, 16)


def test_cogview3_samples_with_the_dpm_scheduler_and_draws_its_default_size(tiny_checkpoint):
    """CogView3PlusPipeline steps a CogVideoX DPM scheduler with its previous prediction; with no size given it draws
    sample_size x 8 (64 px on the tiny checkpoint, 1024 on THUDM's)."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(cogview.COGVIEW3))
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
    assert pipe("a red fox", num_inference_steps=2).images[0].size == (64, 64)
