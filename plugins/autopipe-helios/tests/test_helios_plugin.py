"""autopipe-helios against diffusers' own tables and classes: the rows, why two families, the refusals, no single
files, the plans and the float32-kept modules, from_pipe's constructor values, and the tiny checkpoints' choices."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch

import autopipe_helios as helios
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, UnsupportedTaskError, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core import testing as kit
from autopipe_helios import tiny
from autopipe_helios.loading import (
    ACTIVATION_AT_NATIVE, FIXED, TEXT_ENCODER_KEEP_FLOAT32, TRANSFORMER_KEEP_FLOAT32, VAE_FLOAT32, activation, plan,
)

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors")
ONE_FRAME = dict(height=64, width=64, num_frames=1, num_latent_frames_per_chunk=1, max_sequence_length=16, output_type="pil")
#: Helios-Distilled's model_index.json as its repository has it (diffusers 0.37.0.dev0 wrote it).
DISTILLED_INDEX = {
    "_class_name": "HeliosPyramidPipeline",
    "is_cfg_zero_star": False,
    "is_distilled": True,
    "scheduler": ["diffusers", "HeliosDMDScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "HeliosTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}


# Registration, against diffusers' own tables and classes


def test_the_families_and_their_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-helios", helios.FAMILIES)


def test_every_row_of_diffusers_tables_for_helios_is_served_with_diffusers_class():
    keys = {"helios": helios.HELIOS, "helios-pyramid": helios.PYRAMID}
    served = kit.check_rows_serve_diffusers(keys, naming="helios")
    assert served == {"helios": {Task.TEXT2IMG: "HeliosPipeline"}, "helios-pyramid": {Task.TEXT2IMG: "HeliosPyramidPipeline"}}  # all in the text2img table
    table = get_registry().table
    for key, family in keys.items():
        assert served[key][Task.TEXT2IMG] == helios.CLASSES[family]
        assert dict(table[(family, frozenset())]) == {Task.TEXT2IMG: (f"diffusers:{helios.CLASSES[family]}", "autopipe-helios")}
        missing = get_registry().missing[(family, frozenset())]
        assert missing[Task.IMG2IMG] == helios.NO_IMG2IMG and missing[Task.INPAINT] == helios.NO_INPAINT


def test_diffusers_has_no_other_pipeline_for_the_helios_transformer():
    """Only the two served classes take HeliosTransformer3DModel: no image-to-image, inpainting, PAG or ControlNet one. When this fails, serve it."""
    assert kit.pipelines_taking("HeliosTransformer3DModel") == {"HeliosPipeline", "HeliosPyramidPipeline"}


def test_diffusers_classes_make_two_families_not_one_told_apart_by_config():
    """The facts the module's docstring decides from: the same components, different calls and constructor values."""
    from diffusers import HeliosPipeline, HeliosPyramidPipeline

    def components(cls):
        return {k: v.annotation for k, v in inspect.signature(cls.__init__).parameters.items() if k in ("tokenizer", "text_encoder", "vae", "transformer")}

    assert components(HeliosPipeline) == components(HeliosPyramidPipeline)
    plain_call = inspect.signature(HeliosPipeline.__call__).parameters
    pyramid_call = inspect.signature(HeliosPyramidPipeline.__call__).parameters
    assert "num_inference_steps" in plain_call and "pyramid_num_inference_steps_list" not in plain_call
    assert "num_inference_steps" not in pyramid_call and "pyramid_num_inference_steps_list" in pyramid_call
    assert set(inspect.signature(HeliosPyramidPipeline.__init__).parameters) - set(inspect.signature(HeliosPipeline.__init__).parameters) == {
        "is_cfg_zero_star", "is_distilled",
    }


def test_the_classes_the_refusals_name_exist():
    kit.check_named_pipelines_exist(helios.NO_IMG2IMG, helios.NO_INPAINT)


def test_a_helios_distilled_folder_resolves_as_diffusers_does(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(DISTILLED_INDEX))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (helios.PYRAMID, "HeliosPyramidPipeline")
    (tmp_path / "model_index.json").write_text(json.dumps({**DISTILLED_INDEX, "_class_name": "HeliosPipeline", "scheduler": ["diffusers", "HeliosScheduler"]}))
    assert resolve(tmp_path, Task.TEXT2IMG).family == helios.HELIOS


@pytest.mark.parametrize("family", helios.FAMILIES)
@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "pass the picture as image= (Helios's image-to-video)"),
    (Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, family, task, words):
    kit.check_refused(tiny_checkpoint(family), task, words, "use AutoPipelineForText2Image")


@pytest.mark.parametrize("family", helios.FAMILIES)
def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint, family):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(family), "Helios")


def test_diffusers_knows_no_helios_single_file_so_none_is_claimed():
    """Neither pipeline class has from_single_file, diffusers has no Helios key, and its transformer is not single-file loadable."""
    kit.check_no_diffusers_single_file("helios", classes=["HeliosPipeline", "HeliosPyramidPipeline"], models=["HeliosTransformer3DModel"], plugin=helios)


# Loading code: bfloat16 where the device has it, float16 elsewhere, Wan's VAE in float32; what is kept in float32


def _identity(files=PLAIN_FILES, class_name="HeliosPipeline") -> Identity:
    return Identity("folder", "x", class_name, files=files)


def test_the_plans_per_device():
    cpu = plan(_identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})
    bf16 = plan(_identity(), BF16_GPU)
    assert (bf16.dtype, dict(bf16.component_dtypes), bf16.skip) == ("bfloat16", {"vae": "float32"}, frozenset())
    assert VAE_FLOAT32 in bf16.reason
    t4 = plan(_identity(), T4)
    assert (t4.dtype, dict(t4.component_dtypes)) == ("float16", {"vae": "float32"}) and "cuda has no bfloat16" in t4.reason


def test_the_float32_modules_are_the_libraries_own():
    from diffusers import AutoencoderKLWan, HeliosTransformer3DModel
    from transformers import UMT5EncoderModel

    assert tuple(HeliosTransformer3DModel._keep_in_fp32_modules) == TRANSFORMER_KEEP_FLOAT32
    assert tuple(UMT5EncoderModel._keep_in_fp32_modules) == TEXT_ENCODER_KEEP_FLOAT32
    assert not AutoencoderKLWan._keep_in_fp32_modules


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_tiny_checkpoint_is_planned_at_exactly_its_loaded_bytes(tiny_checkpoint, dtype):
    """diffusers keeps the transformer's modules in float32 in bfloat16 too; transformers keeps UMT5's wo under float16 only."""
    path = tiny_checkpoint(helios.HELIOS)
    device = BF16_GPU if dtype == "bfloat16" else T4
    placed = plan_placement(resolve(path, Task.TEXT2IMG), device)
    counted = {c.name: c.nbytes for c in placed.footprint.components}
    loaded = AutoPipelineForText2Image.from_pretrained(path, torch_dtype={"default": getattr(torch, dtype), "vae": torch.float32})
    modules = {n: m for n, m in loaded.components.items() if isinstance(m, torch.nn.Module)}
    real = {n: sum({t.data_ptr(): t.numel() * t.element_size() for t in m.state_dict().values()}.values()) for n, m in modules.items()}  # tied once
    assert counted == real
    kept = {n for n, p in loaded.transformer.named_parameters() if p.dtype == torch.float32}
    assert kept and all(set(n.split(".")) & set(TRANSFORMER_KEEP_FLOAT32) for n in kept)
    wo = [p.dtype for n, p in loaded.text_encoder.named_parameters() if ".wo." in n]
    assert wo and set(wo) == {torch.float32 if dtype == "float16" else torch.bfloat16}


def test_the_allowance_is_stated_at_640_by_384_and_scales_with_pixels_and_dtype():
    native = activation("bfloat16")
    assert (native.width, native.height, native.nbytes) == (640, 384, FIXED + ACTIVATION_AT_NATIVE)
    assert "not measured" in native.reason
    assert activation("float32").nbytes == FIXED + 2 * ACTIVATION_AT_NATIVE
    assert activation("bfloat16", 1280, 768).nbytes == FIXED + 4 * ACTIVATION_AT_NATIVE


# from_pipe carries HeliosPyramidPipeline's constructor values


def test_from_pipe_carries_is_distilled_and_is_cfg_zero_star(tiny_checkpoint):
    """Given unlike the tiny checkpoint (distilled, no CFG-Zero*), both survive switches: the class records them in its config."""
    path = tiny_checkpoint(helios.PYRAMID)
    pipe = AutoPipelineForText2Image.from_pretrained(path, is_distilled=False, is_cfg_zero_star=True)
    for _ in range(2):
        pipe = AutoPipelineForText2Image.from_pipe(pipe)
        assert type(pipe).__name__ == "HeliosPyramidPipeline"
        assert (pipe.config.is_distilled, pipe.config.is_cfg_zero_star) == (False, True)
    assert "is_distilled" not in helios.autopipe_families()[1].init_readers  # a config entry needs no reader


def test_a_live_pipeline_of_either_class_stays_its_family(tiny_checkpoint):
    plain = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(helios.HELIOS))
    assert type(AutoPipelineForText2Image.from_pipe(plain)).__name__ == "HeliosPipeline"
    with pytest.raises(UnsupportedTaskError, match="image-to-video"):
        from autopipe_core import AutoPipelineForImage2Image

        AutoPipelineForImage2Image.from_pipe(plain)


# The tiny checkpoints' choices, shown against diffusers


def test_helios_returns_frames_not_images(tiny_checkpoint):
    """What the core's CLI and the kit's _run read (.images) HeliosPipelineOutput does not have: one frame is the picture."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(helios.HELIOS))
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a fox", num_inference_steps=2, generator=torch.Generator().manual_seed(0), **ONE_FRAME)
    assert not hasattr(out, "images") and len(out.frames) == 1 and len(out.frames[0]) == 1
    assert out.frames[0][0].size == (64, 64)


def test_helios_pipeline_needs_a_single_stage_scheduler():
    """HeliosPipeline passes no stage to set_timesteps: a multi-stage scheduler fails, hence the tiny's stages=1."""
    from diffusers import HeliosScheduler

    with pytest.raises(KeyError):
        HeliosScheduler(stages=3).set_timesteps(2, mu=0.5)
    single = HeliosScheduler(stages=1)
    single.set_timesteps(2, mu=0.5)
    assert len(single.timesteps) == 2 and tiny.scheduler(helios.HELIOS).config.stages == 1


def test_the_pyramid_block_noise_needs_gamma_below_a_third():
    """(1 + gamma) I - gamma J on 2 x 2 patches is singular at gamma 1/3: torch's CPU Cholesky refuses it, hence the tiny's 0.25."""
    pipe = tiny.pipeline(helios.PYRAMID)
    noise = pipe.sample_block_noise(1, 4, 1, 8, 8, (1, 2, 2), "cpu", torch.Generator().manual_seed(0))
    assert noise.shape == (1, 4, 1, 8, 8) and pipe.scheduler.config.gamma == tiny.TINY_GAMMA
    from diffusers import HeliosDMDScheduler

    pipe.scheduler = HeliosDMDScheduler()  # gamma 1/3, the class's default
    with pytest.raises(torch.linalg.LinAlgError):
        pipe.sample_block_noise(1, 4, 1, 8, 8, (1, 2, 2), "cpu", torch.Generator().manual_seed(0))


def test_the_tiny_checkpoints_are_small_and_named_as_helios_ones(tiny_checkpoint):
    for family in helios.FAMILIES:
        index = json.loads((tiny_checkpoint(family) / "model_index.json").read_text())
        assert index["_class_name"] == helios.CLASSES[family]
        assert index["text_encoder"] == ["transformers", "UMT5EncoderModel"] and index["vae"] == ["diffusers", "AutoencoderKLWan"]
        assert index["tokenizer"][1] in ("T5Tokenizer", "T5TokenizerFast")
    distilled = json.loads((tiny_checkpoint(helios.PYRAMID) / "model_index.json").read_text())
    assert (distilled["is_distilled"], distilled["is_cfg_zero_star"], distilled["scheduler"][1]) == (True, False, "HeliosDMDScheduler")
    pipe = tiny.pipeline(helios.HELIOS)
    assert sum(p.numel() for m in (pipe.transformer, pipe.vae, pipe.text_encoder) for p in m.parameters()) < 100_000
    with pytest.raises(ValueError, match="no tiny variant"):
        tiny.build(helios.HELIOS, Path("unused"), "mid")


def test_the_image_to_video_the_refusal_points_at_runs_through_the_text2img_pipeline(tiny_checkpoint):
    """The img2img refusal says to pass a picture as image= to the text2img pipeline: that call runs and starts from it."""
    from PIL import Image

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(helios.HELIOS))
    pipe.set_progress_bar_config(disable=True)
    picture = Image.new("RGB", (64, 64), (200, 100, 50))
    out = pipe("a fox", image=picture, num_inference_steps=2, generator=torch.Generator().manual_seed(0), **ONE_FRAME)
    assert out.frames[0][0].size == (64, 64)
