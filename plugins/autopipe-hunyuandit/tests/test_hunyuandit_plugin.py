"""autopipe-hunyuandit's registration against diffusers' own tables, its ControlNet rows, its refusals and its loading plans."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import autopipe_hunyuandit as hunyuan
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.builtin import CONTROLNET_CLASSES
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_registered_alone, check_rows_serve_diffusers, loaded_bytes
from autopipe_hunyuandit.loading import ALLOWANCE, plan
from autopipe_hunyuandit.tiny import controlnet

FAMILY = hunyuan.FAMILY
#: diffusers' AutoPipeline keys this plugin serves (diffusers.pipelines.auto_pipeline, 0.42.1) -> the row serving each.
DIFFUSERS_KEYS = {"hunyuan": (FAMILY, ()), "hunyuan-pag": (FAMILY, ("pag",))}
SMALL = {"num_inference_steps": 2, "height": 64, "width": 64, "use_resolution_binning": False}
ROOMY_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
FP16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.fp16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors")
REAL = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[3].parent / "shared" / "real_configs") / "hunyuandit"


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint) -> Path:
    return tiny_checkpoint(FAMILY)


@pytest.fixture(scope="module")
def pipe(tiny):
    pipeline = AutoPipelineForText2Image.from_pretrained(tiny)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


# Registration, against diffusers' own AutoPipeline tables


def test_the_family_and_its_rows_are_registered_alone():
    check_registered_alone("autopipe-hunyuandit", {FAMILY}, [FAMILY, (FAMILY, {"pag"}), (FAMILY, {"controlnet"})])


def test_every_row_of_diffusers_tables_for_the_hunyuan_keys_is_served_with_diffusers_class():
    """For each key and task diffusers' AutoPipeline maps, resolving a folder of that class gives the same class."""
    served = check_rows_serve_diffusers(DIFFUSERS_KEYS, naming="hunyuan")  # diffusers 0.42.1 has no other key for HunyuanDiT
    # text2img only: diffusers' image-to-image and inpainting tables have no HunyuanDiT key (the others are refused with why)
    assert served == {"hunyuan": {Task.TEXT2IMG: "HunyuanDiTPipeline"}, "hunyuan-pag": {Task.TEXT2IMG: "HunyuanDiTPAGPipeline"}}


def test_every_class_takes_hunyuandits_components():
    import diffusers

    for (family, _), tasks in get_registry().table.items():
        if family != FAMILY:
            continue
        for ref, _ in tasks.values():
            cls = getattr(diffusers, ref.partition(":")[2])
            expected, _ = cls._get_signature_keys(cls)
            assert {"transformer", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2", "vae", "scheduler"} <= set(expected), ref


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "StableDiffusionXLImg2ImgPipeline"),
    (Task.INPAINT, "StableDiffusionXLInpaintPipeline"),
])
@pytest.mark.parametrize("enable_pag", [False, True])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny, task, words, enable_pag):
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(tiny, task, enable_pag=enable_pag)
    message = str(refusal.value)
    assert "diffusers has no" in message and words in message and "use AutoPipelineForText2Image" in message


def test_the_tiny_builder_refuses_a_variant_it_does_not_build(tmp_path):
    from autopipe_hunyuandit.tiny import build

    with pytest.raises(ValueError, match="hunyuandit has no tiny variant 'distilled'; it builds only its ordinary checkpoint"):
        build(tmp_path / "x", "distilled")


# The real checkpoint's configs (../shared/real_configs; absent on a fresh clone)


def test_the_real_v1_configs_resolve_as_diffusers_does():
    """Tencent-Hunyuan/HunyuanDiT-Diffusers: text2img is diffusers' class; img2img and inpaint, where diffusers errors, refused."""
    if not REAL.is_dir():
        pytest.skip(f"the corpus of real configs is not at {REAL}")
    from diffusers.pipelines import auto_pipeline

    index = json.loads((REAL / "model_index.json").read_text())
    assert resolve(REAL, Task.TEXT2IMG).pipeline_class == auto_pipeline._get_task_class(
        auto_pipeline.AUTO_TEXT2IMAGE_PIPELINES_MAPPING, index["_class_name"]
    ).__name__ == "HunyuanDiTPipeline"
    assert resolve(REAL, Task.TEXT2IMG, enable_pag=True).pipeline_class == "HunyuanDiTPAGPipeline"
    for task, table in ((Task.IMG2IMG, auto_pipeline.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING), (Task.INPAINT, auto_pipeline.AUTO_INPAINT_PIPELINES_MAPPING)):
        with pytest.raises(ValueError, match="can't find a pipeline linked to HunyuanDiTPipeline"):
            auto_pipeline._get_task_class(table, index["_class_name"])
        with pytest.raises(UnsupportedTaskError, match="diffusers has no .* pipeline for HunyuanDiT"):
            resolve(REAL, task)


# ControlNet: the core's controlnet= selects HunyuanDiTControlNetPipeline


def test_the_core_takes_hunyuandits_controlnet_models_as_controlnet():
    assert set(hunyuan.CONTROLNET_MODELS) <= CONTROLNET_CLASSES


def test_a_saved_hunyuandit_controlnet_is_a_component_to_pass_as_controlnet(tmp_path, pipe):
    controlnet(pipe.transformer).save_pretrained(tmp_path / "controlnet")
    assert json.loads((tmp_path / "controlnet" / "config.json").read_text())["_class_name"] == "HunyuanDiT2DControlNetModel"
    with pytest.raises(UnsupportedModelError, match="controlnet="):
        resolve(tmp_path / "controlnet", Task.TEXT2IMG)


def test_a_list_of_controlnets_runs_as_a_multi_controlnet_and_none_goes_back(pipe):
    nets = [controlnet(pipe.transformer, seed=0), controlnet(pipe.transformer, seed=1)]
    multi = AutoPipelineForText2Image.from_pipe(pipe, controlnet=nets)
    assert type(multi).__name__ == "HunyuanDiTControlNetPipeline"
    assert type(multi.controlnet).__name__ == "HunyuanDiT2DMultiControlNetModel" and multi.transformer is pipe.transformer
    control = [torch.zeros(1, 3, 64, 64), torch.ones(1, 3, 64, 64)]
    assert multi("a red fox", control_image=control, controlnet_conditioning_scale=[1.0, 0.5], **SMALL).images[0].size == (64, 64)
    plain = AutoPipelineForText2Image.from_pipe(multi, controlnet=None)
    assert type(plain).__name__ == "HunyuanDiTPipeline" and plain.transformer is pipe.transformer


def test_the_controlnet_changes_the_picture(pipe):
    """The tiny ControlNet reaches the transformer: its blocks add to the skip connection of the transformer's second half."""
    net = controlnet(pipe.transformer)
    with torch.no_grad():
        for block in net.controlnet_blocks:  # diffusers zero-initialises them; give them weight so the residual is not zero
            block.weight.normal_(0, 0.5)
    with_net = AutoPipelineForText2Image.from_pipe(pipe, controlnet=net)
    call = dict(SMALL, output_type="np", generator=torch.Generator().manual_seed(0))
    plain = pipe("a red fox", **call).images
    call["generator"] = torch.Generator().manual_seed(0)
    controlled = with_net("a red fox", control_image=torch.ones(1, 3, 64, 64), **call).images
    assert abs(plain - controlled).max() > 1e-3


def test_controlnet_img2img_pag_and_union_are_refused_saying_why(tiny):
    with pytest.raises(UnsupportedTaskError, match="HunyuanDiTControlNetPipeline does text2img only"):
        resolve(tiny, Task.IMG2IMG, controlnet=object())
    with pytest.raises(UnsupportedTaskError, match="no PAG ControlNet pipeline for HunyuanDiT"):
        resolve(tiny, Task.TEXT2IMG, controlnet=object(), enable_pag=True)

    class ControlNetUnionModel:  # the core picks the union rows by the class name along the MRO, as for diffusers' model
        pass

    with pytest.raises(UnsupportedTaskError, match="ControlNet Union models are SDXL models; HunyuanDiT takes a HunyuanDiT2DControlNetModel"):
        resolve(tiny, Task.TEXT2IMG, controlnet=ControlNetUnionModel())


def test_a_live_pipeline_cannot_switch_to_a_task_hunyuandit_lacks(pipe):
    with pytest.raises(UnsupportedTaskError, match="no image-to-image pipeline for HunyuanDiT"):
        AutoPipelineForImage2Image.from_pipe(pipe)


# v1.2's transformer: no style and image-size conditions, the same classes


def test_a_v1_2_transformer_resolves_and_runs_through_the_same_rows(tmp_path):
    from autopipe_hunyuandit.tiny import pipeline

    pipeline(use_style_cond_and_image_meta_size=False).save_pretrained(tmp_path / "v12")
    assert resolve(tmp_path / "v12", Task.TEXT2IMG).family == FAMILY
    plain = AutoPipelineForText2Image.from_pretrained(tmp_path / "v12")
    assert plain.transformer.config.use_style_cond_and_image_meta_size is False
    for switched in (plain, AutoPipelineForText2Image.from_pipe(plain, enable_pag=True),
                     AutoPipelineForText2Image.from_pipe(plain, controlnet=controlnet(plain.transformer))):
        switched.set_progress_bar_config(disable=True)
        extra = {"control_image": torch.zeros(1, 3, 64, 64)} if hasattr(switched, "controlnet") else {}
        assert switched("a red fox", **SMALL, **extra).images[0].size == (64, 64), type(switched).__name__


# Loading code: float16 as published, mT5 never left out, its float32 layers counted


def _identity(files=FP16_FILES, sample_size=128):
    return Identity("folder", "x", "HunyuanDiTPipeline", files=files, configs={"transformer": {"sample_size": sample_size}})


def test_a_cpu_loads_float32_and_a_gpu_float16_from_the_files_it_has():
    cpu = plan(_identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {}) and "14 GB" in cpu.reason
    gpu = plan(_identity(FP16_FILES), ROOMY_GPU)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("float16", "fp16", {}, frozenset())
    assert "fp16 weight files" in gpu.reason and "wo layers kept in float32" in gpu.reason
    plain = plan(_identity(PLAIN_FILES), ROOMY_GPU)  # a GPU with bfloat16: HunyuanDiT stays float16, as diffusers' docs load it
    assert (plain.dtype, plain.variant) == ("float16", None) and "no fp16 variant" in plain.reason
    assert plan(_identity(PLAIN_FILES), T4).dtype == "float16"


@pytest.mark.parametrize("sample_size, side", [(64, 512), (128, 1024)])
def test_the_allowance_is_stated_at_the_transformers_native_side(sample_size, side):
    identity = _identity(sample_size=sample_size)
    activation = ALLOWANCE.activation(identity, plan(identity, ROOMY_GPU))
    assert (activation.width, activation.height) == (side, side)
    assert activation.nbytes == GiB // 2 + (3 * GiB // 2) * side * side // (1024 * 1024)


def test_mt5s_float32_layers_are_counted_and_loaded_as_the_plan_says(tiny):
    """Planned in float16, mT5 (text_encoder_2) holds its wo layers in float32: the footprint counts what loading gives."""
    placed = plan_placement(resolve(tiny, Task.TEXT2IMG), ROOMY_GPU)
    counted = placed.footprint.component("text_encoder_2")
    assert counted.dtype == "float16" and "wo kept in float32" in counted.source
    loaded = AutoPipelineForText2Image.from_pretrained(tiny, dtype=torch.float16)
    held = {n: p.dtype for n, p in loaded.text_encoder_2.named_parameters()}
    assert {d for n, d in held.items() if n.endswith("wo.weight")} == {torch.float32}
    assert counted.nbytes == loaded_bytes(loaded.text_encoder_2)
    assert placed.footprint.component("text_encoder").nbytes == 2 * placed.footprint.component("text_encoder").parameters  # BERT: none


def test_mt5_is_never_left_out_because_the_pipeline_cannot_encode_a_prompt_without_it(tiny):
    """Why the plan skips nothing, even where it does not fit: every HunyuanDiT pipeline tokenizes with tokenizer_2 at every call.

    When this fails, diffusers encodes prompts without mT5: the plan could then leave it out where that makes the
    pipeline fit, as autopipe-sd3 does with SD3's T5.
    """
    from diffusers import HunyuanDiTPipeline

    small = DeviceFacts("cuda", 1, 1 * GiB, 2 * GiB, True)
    assert plan(_identity(), small).skip == frozenset()
    without = HunyuanDiTPipeline.from_pretrained(tiny, text_encoder_2=None, tokenizer_2=None)
    without.set_progress_bar_config(disable=True)
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        without("a red fox", **SMALL)
