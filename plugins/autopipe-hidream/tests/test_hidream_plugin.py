"""autopipe-hidream against diffusers' own tables and sources, its refusals, the bfloat16 plan, the drawn size and the Llama."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
import torch

import autopipe_hidream as hidream
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, InvalidModelError, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core import testing as kit
from autopipe_hidream.loading import ALLOWANCE, drawn, footprint, lacks_llama, native_side, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
#: HiDream-ai/HiDream-I1-Dev's files (the upload of 6d5c9cf): bfloat16 weights as the plain files, no text_encoder_4 or tokenizer_4.
HIDREAM_AI_FILES = (
    "model_index.json", "scheduler/scheduler_config.json",
    "text_encoder/model.safetensors", "text_encoder_2/model.safetensors",
    "text_encoder_3/model-00001-of-00002.safetensors", "text_encoder_3/model-00002-of-00002.safetensors",
    "transformer/diffusion_pytorch_model-00001-of-00007.safetensors", "vae/diffusion_pytorch_model.safetensors",
)
#: The model_index.json of a checkpoint without the Llama (the components HiDream-ai's repositories ship).
WITHOUT_LLAMA = {
    "_class_name": "HiDreamImagePipeline",
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_3": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "tokenizer_3": ["transformers", "T5Tokenizer"],
    "transformer": ["diffusers", "HiDreamImageTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_rows_are_registered_alone():
    registry = kit.check_registered_alone("autopipe-hidream", {hidream.HIDREAM})
    assert registry.table[(hidream.HIDREAM, frozenset())][Task.TEXT2IMG][0] == "diffusers:HiDreamImagePipeline"


def test_diffusers_tables_have_no_hidream_key_and_diffusers_autopipeline_refuses_what_autopipe_serves(tiny_checkpoint):
    """HiDream-I1 is a class beyond diffusers' tables: no key, no class in any of the three; diffusers' AutoPipeline fails."""
    from diffusers import AutoPipelineForText2Image as DiffusersAuto

    assert kit.check_rows_serve_diffusers({}, naming="hidream") == {}  # no key or class naming HiDream
    path = tiny_checkpoint(hidream.HIDREAM)
    with pytest.raises(ValueError, match="HiDreamImagePipeline"):
        DiffusersAuto.from_pretrained(path)
    resolution = resolve(path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (hidream.HIDREAM, "HiDreamImagePipeline")


def test_diffusers_has_no_other_pipeline_for_hidreams_transformer():
    """HiDreamImagePipeline is diffusers' only HiDream pipeline (no Edit, Img2Img, Inpaint, PAG or ControlNet class): the refusals are true.

    Read from diffusers' pipeline sources with ast (nothing imported), and from its public names. When this fails,
    diffusers has added one: serve it.
    """
    import diffusers

    assert kit.pipelines_taking("HiDreamImageTransformer2DModel") == {"HiDreamImagePipeline"}
    assert [n for n in dir(diffusers) if "HiDream" in n and n.endswith("Pipeline")] == ["HiDreamImagePipeline"]


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"),
    (Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, task, words):
    kit.check_refused(tiny_checkpoint(hidream.HIDREAM), task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(hidream.HIDREAM), "HiDream-I1")


def test_the_tiny_builder_builds_no_variant(tmp_path):
    from autopipe_hidream.tiny import build

    with pytest.raises(ValueError, match="hidream has no tiny variant 'dev'"):
        build(hidream.HIDREAM, tmp_path / "x", "dev")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        build("flux", tmp_path / "y")


# Loading code: bfloat16, float32 without it, the drawn size


def _identity(files=HIDREAM_AI_FILES, vae: dict | None = None) -> Identity:
    return Identity("folder", "x", "HiDreamImagePipeline", files=files, configs={"vae": vae or {}})


def test_the_plan_is_bfloat16_where_the_device_has_it_float32_elsewhere():
    plans = kit.check_bfloat16_plan(functools.partial(plan, hidream.HIDREAM), _identity())  # bfloat16 weights as the plain files
    assert "123 GB of RAM" in plans.cpu.reason
    assert "not float16" in plans.without_bf16.reason and "cuda has no bfloat16" in plans.without_bf16.reason


def test_the_drawn_size_is_the_native_area_as_the_pipeline_draws_it(tiny_checkpoint):
    """HiDreamImagePipeline keeps the aspect ratio and draws the native area, whatever the size asked: checked on the pipeline."""
    assert drawn(320, 192) == (1312, 784) and drawn(2048, 2048) == (1024, 1024) and drawn(None, None) == (1024, 1024)
    path = tiny_checkpoint(hidream.HIDREAM)
    assert native_side(resolve(path, Task.TEXT2IMG).identity) == 256  # 128 latents x the tiny VAE's factor 2
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(path))
    image = pipe("a red fox", height=64, width=128, num_inference_steps=1).images[0]
    assert image.size == drawn(128, 64, native=256) == (360, 180)


def test_the_allowance_is_that_of_the_drawn_size_and_names_the_size_asked():
    identity = _identity(vae={"block_out_channels": [128, 256, 512, 512]})
    gpu = plan(hidream.HIDREAM, identity, BF16_GPU)
    from autopipe_core import Footprint

    small = footprint(hidream.HIDREAM, identity, gpu, Footprint(()), 320, 192).activation
    native = footprint(hidream.HIDREAM, identity, gpu, Footprint(()), None, None).activation
    assert (small.width, small.height, native.width, native.height) == (320, 192, 1024, 1024)
    assert small.nbytes == ALLOWANCE.nbytes(1312, 784, "bfloat16") and native.nbytes == 2 * GiB
    assert abs(small.nbytes - native.nbytes) < native.nbytes // 50 and "draws the native 1024x1024 area" in small.reason


def test_the_tiny_checkpoint_is_counted_as_it_loads_in_bfloat16(tiny_checkpoint):
    path = tiny_checkpoint(hidream.HIDREAM)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    assert placed.plan.dtype == "bfloat16" and placed.footprint.activation.nbytes > 0
    pipe = AutoPipelineForText2Image.from_pretrained(path, torch_dtype=torch.bfloat16)
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "text_encoder_2", "text_encoder_3", "text_encoder_4", "transformer", "vae"))


def test_hidream_i1_fulls_unipc_flow_scheduler_runs(tiny_checkpoint):
    """Full runs a UniPC scheduler on flow sigmas (HiDreamImagePipeline's own branch for it), Dev and Fast flow-match Euler."""
    from diffusers import UniPCMultistepScheduler

    unipc = UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=3.0, prediction_type="flow_prediction")
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(hidream.HIDREAM), scheduler=unipc))
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    assert pipe("a red fox", num_inference_steps=2, guidance_scale=5.0).images[0].size == (256, 256)


# The Llama: HiDream-ai's repositories do not ship it


def _without_llama(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "hidream-without-llama"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("text_encoder_4", "tokenizer_4"))
    (copy / "model_index.json").write_text(json.dumps(WITHOUT_LLAMA))
    return copy


def test_a_checkpoint_without_its_llama_is_refused_before_any_weight_is_read(tiny_checkpoint, tmp_path):
    """The core refuses it (check_components), naming both keywords; lacks_llama, which the single-file loader uses, agrees."""
    folder = tiny_checkpoint(hidream.HIDREAM)
    copy = _without_llama(folder, tmp_path)
    assert lacks_llama(copy) == ["text_encoder_4", "tokenizer_4"] and lacks_llama(folder) == []
    listed = tmp_path / "listed"
    shutil.copytree(copy, listed)
    (listed / "model_index.json").write_text(json.dumps({**WITHOUT_LLAMA, "text_encoder_4": ["transformers", "LlamaForCausalLM"]}))
    assert lacks_llama(listed) == ["text_encoder_4", "tokenizer_4"]  # listed without a folder is lacking too
    with pytest.raises(InvalidModelError, match=r"has no text_encoder_4, tokenizer_4.*pass text_encoder_4=\.\.\., tokenizer_4=\.\.\."):
        AutoPipelineForText2Image.from_pretrained(copy)


def test_a_checkpoint_without_its_llama_loads_with_the_llama_passed(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(hidream.HIDREAM)
    copy = _without_llama(folder, tmp_path)
    full = AutoPipelineForText2Image.from_pretrained(folder)
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(copy, text_encoder_4=full.text_encoder_4, tokenizer_4=full.tokenizer_4))
    assert pipe.text_encoder_4 is full.text_encoder_4
    assert pipe("a red fox", num_inference_steps=2).images[0].size == (256, 256)


def test_the_plan_counts_the_llama_a_checkpoint_lacks_and_a_passed_one_as_passed(tiny_checkpoint, tmp_path):
    """HiDream-ai's repositories cannot load without the Llama: the plan counts the one that will be passed."""
    from autopipe_hidream.loading import LLAMA_PARAMETERS

    folder = tiny_checkpoint(hidream.HIDREAM)
    copy = _without_llama(folder, tmp_path)
    lacking = plan_placement(resolve(copy, Task.TEXT2IMG), BF16_GPU).footprint.component("text_encoder_4")
    assert (lacking.nbytes, lacking.dtype) == (2 * LLAMA_PARAMETERS, "bfloat16") and "the caller must pass" in lacking.source
    full = AutoPipelineForText2Image.from_pretrained(folder)
    passed = plan_placement(resolve(copy, Task.TEXT2IMG), BF16_GPU, kwargs={"text_encoder_4": full.text_encoder_4, "tokenizer_4": full.tokenizer_4})
    assert passed.footprint.component("text_encoder_4").parameters == sum(p.numel() for p in full.text_encoder_4.parameters())
    own = plan_placement(resolve(folder, Task.TEXT2IMG), BF16_GPU).footprint.component("text_encoder_4")
    assert own.source == "safetensors headers"


def test_the_llama_counted_is_llama_31_8b_instruct_built_from_its_config():
    """LLAMA_PARAMETERS is LlamaForCausalLM of Llama 3.1 8B's config (8.03 B: Meta's "8B"), built on the meta device."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from autopipe_hidream.fullsize import LLAMA_31_8B
    from autopipe_hidream.loading import LLAMA_PARAMETERS

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_31_8B))
    assert sum(p.numel() for p in model.parameters()) == LLAMA_PARAMETERS
