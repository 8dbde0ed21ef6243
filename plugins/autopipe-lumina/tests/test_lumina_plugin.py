"""autopipe-lumina's registration against diffusers' own tables, the two families told apart by configs, refusals and loading plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import autopipe_lumina as lumina
from autopipe_core import (
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedModelError,
    resolve,
)
from autopipe_core.registry import get_registry
from autopipe_core import testing as kit
from autopipe_core.testing import write_json_files
from autopipe_lumina.loading import ALLOWANCE, plan

#: diffusers' AutoPipeline keys this plugin serves (diffusers.pipelines.auto_pipeline, 0.42.1).
DIFFUSERS_KEYS = {"lumina": "LuminaPipeline", "lumina2": "Lumina2Pipeline"}
BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors")
BF16_FILES = (*PLAIN_FILES, "transformer/diffusion_pytorch_model.bf16.safetensors", "text_encoder/model.bf16.safetensors")

#: The JSON that decides, as the real repositories ship it (the keys that matter; no weights): Lumina-Next's diffusers
#: release (saved by diffusers 0.30's LuminaText2ImgPipeline, gemma-2b), Lumina-Image 2.0's (first saved as
#: Lumina2Text2ImgPipeline, later Lumina2Pipeline) and Neta Lumina's (neta-art/Neta-Lumina-diffusers, Lumina2Pipeline).
INDEX = {
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "tokenizer": ["transformers", "GemmaTokenizerFast"],
    "vae": ["diffusers", "AutoencoderKL"],
}
GEMMA = {"architectures": ["GemmaModel"], "model_type": "gemma", "hidden_size": 2048}
GEMMA2 = {"architectures": ["Gemma2Model"], "model_type": "gemma2", "hidden_size": 2304}
T5 = {"architectures": ["T5EncoderModel"], "model_type": "t5"}
NEXT_TRANSFORMER = {"_class_name": "LuminaNextDiT2DModel", "sample_size": 128, "hidden_size": 2304, "cross_attention_dim": 2048}
IMAGE2_TRANSFORMER = {"_class_name": "Lumina2Transformer2DModel", "sample_size": 128, "hidden_size": 2304, "cap_feat_dim": 2304}


def _layout(root: Path, cls: str, text_encoder: dict, transformer: dict) -> Path:
    encoder_class = text_encoder["architectures"][0]
    files = {
        "model_index.json": {"_class_name": cls, **INDEX, "text_encoder": ["transformers", encoder_class], "transformer": ["diffusers", transformer["_class_name"]]},
        "text_encoder/config.json": text_encoder,
        "transformer/config.json": transformer,
    }
    return write_json_files(root, files)


# Registration, against diffusers' own tables and classes


def test_the_two_families_and_their_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-lumina", lumina.FAMILIES, [lumina.LUMINA, lumina.LUMINA2])


def test_every_row_of_diffusers_tables_for_these_keys_is_served_with_diffusers_class():
    """Each key diffusers maps is served with its class; the tasks its tables leave out are refused, with why."""
    # each key is its family's name; diffusers 0.42.1 has no other key for this lineage
    served = kit.check_rows_serve_diffusers({key: key for key in DIFFUSERS_KEYS}, naming="lumina")
    assert served == {key: {Task.TEXT2IMG: cls} for key, cls in DIFFUSERS_KEYS.items()}


def test_diffusers_has_no_other_pipeline_for_these_transformers():
    """No image-to-image, inpainting, PAG or ControlNet class takes Lumina's transformers: the refusals are true.

    When this fails, diffusers has added one: serve it here (a row, or the modifier's row) instead of refusing.
    """
    assert kit.pipelines_taking("LuminaNextDiT2DModel", "Lumina2Transformer2DModel") == {"LuminaPipeline", "Lumina2Pipeline"}


@pytest.mark.parametrize("family", lumina.FAMILIES)
def test_every_class_takes_the_lineages_components(family):
    import diffusers

    ref, _ = get_registry().table[(family, frozenset())][Task.TEXT2IMG]
    cls = getattr(diffusers, ref.partition(":")[2])
    expected, _ = cls._get_signature_keys(cls)
    assert set(expected) == {"transformer", "scheduler", "vae", "text_encoder", "tokenizer"}


# Telling Lumina-Next from Lumina 2: the text encoder's model_type, whatever the class name says


@pytest.mark.parametrize("cls, text_encoder, transformer, family, resolved", [
    ("LuminaText2ImgPipeline", GEMMA, NEXT_TRANSFORMER, lumina.LUMINA, "LuminaPipeline"),  # Lumina-Next-SFT-diffusers
    ("LuminaPipeline", GEMMA, NEXT_TRANSFORMER, lumina.LUMINA, "LuminaPipeline"),
    ("Lumina2Text2ImgPipeline", GEMMA2, IMAGE2_TRANSFORMER, lumina.LUMINA2, "Lumina2Pipeline"),  # Lumina-Image 2.0, first release
    ("Lumina2Pipeline", GEMMA2, IMAGE2_TRANSFORMER, lumina.LUMINA2, "Lumina2Pipeline"),  # Lumina-Image 2.0 now, Neta Lumina
    ("LuminaPipeline", GEMMA2, IMAGE2_TRANSFORMER, lumina.LUMINA2, "Lumina2Pipeline"),  # saved under the other family's class
    ("Lumina2Pipeline", GEMMA, NEXT_TRANSFORMER, lumina.LUMINA, "LuminaPipeline"),
])
def test_the_text_encoder_says_which_family_a_checkpoint_is(tmp_path, cls, text_encoder, transformer, family, resolved):
    resolution = resolve(_layout(tmp_path, cls, text_encoder, transformer), Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (family, resolved)


def test_diffusers_own_autopipeline_refuses_the_old_names_autopipe_serves(tmp_path):
    """diffusers 0.42.1 no longer has LuminaText2ImgPipeline or Lumina2Text2ImgPipeline: its AutoPipeline cannot map such folders."""
    import diffusers

    for cls, encoder, transformer in (("LuminaText2ImgPipeline", GEMMA, NEXT_TRANSFORMER), ("Lumina2Text2ImgPipeline", GEMMA2, IMAGE2_TRANSFORMER)):
        folder = _layout(tmp_path / cls, cls, encoder, transformer)
        assert not hasattr(diffusers, cls)
        with pytest.raises((ValueError, AttributeError)):
            diffusers.AutoPipelineForText2Image.from_pretrained(folder)


@pytest.mark.parametrize("cls", ["LuminaPipeline", "Lumina2Pipeline", "LuminaText2ImgPipeline"])
def test_a_lumina_name_over_another_text_encoder_is_refused_saying_what_it_is(tmp_path, cls):
    with pytest.raises(UnsupportedModelError, match="its text_encoder is a t5 model, where Lumina"):
        resolve(_layout(tmp_path, cls, T5, NEXT_TRANSFORMER), Task.TEXT2IMG)


@pytest.mark.parametrize("family, old_name", [(lumina.LUMINA, "LuminaText2ImgPipeline"), (lumina.LUMINA2, "Lumina2Text2ImgPipeline")])
def test_a_tiny_checkpoint_saved_under_its_old_name_loads_and_draws(tiny_checkpoint, tmp_path, family, old_name):
    """What the real releases are: diffusers' current class loads a folder whose model_index.json names the old one."""
    import shutil

    folder = Path(shutil.copytree(tiny_checkpoint(family), tmp_path / "old"))
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": old_name}))
    pipe = AutoPipelineForText2Image.from_pretrained(folder)
    assert type(pipe).__name__ == DIFFUSERS_KEYS[family]
    pipe.set_progress_bar_config(disable=True)
    call = {"clean_caption": False} if family == lumina.LUMINA else {}
    assert pipe("a red fox", num_inference_steps=2, **call).images[0].size == (64, 64)


# What diffusers has no class for: refused before any weight is read, saying what to use


@pytest.mark.parametrize("family", lumina.FAMILIES)
@pytest.mark.parametrize("task, words", [(Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"), (Task.INPAINT, "FluxFillPipeline, autopipe-flux")])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, family, task, words):
    kit.check_refused(tiny_checkpoint(family), task, words, "use AutoPipelineForText2Image")


@pytest.mark.parametrize("family", lumina.FAMILIES)
def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint, family):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(family), "Lumina")


# Loading code: bfloat16 as trained, float32 where the device lacks it, the allowance at the native size


def _identity(files=PLAIN_FILES, sample_size=128, cls="Lumina2Pipeline") -> Identity:
    return Identity("folder", "x", cls, files=files, configs={"transformer": {"sample_size": sample_size}})


@pytest.mark.parametrize("family", lumina.FAMILIES)
def test_the_plan_is_float32_on_a_cpu_and_bfloat16_on_a_gpu_that_has_it(family):
    cpu = plan(family, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})
    gpu = plan(family, _identity(), BF16_GPU)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("bfloat16", None, {}, frozenset())
    assert "full-precision files" in gpu.reason and "as Lumina is trained" in gpu.reason
    assert plan(family, _identity(BF16_FILES), BF16_GPU).variant == "bf16"


@pytest.mark.parametrize("family", lumina.FAMILIES)
def test_a_gpu_without_bfloat16_loads_float32_not_float16(family):
    t4 = plan(family, _identity(BF16_FILES), T4)
    assert (t4.dtype, t4.variant, dict(t4.component_dtypes)) == ("float32", None, {})
    assert "cuda has no bfloat16" in t4.reason and "no float16 run" in t4.reason


@pytest.mark.parametrize("sample_size, side", [(64, 512), (128, 1024), (256, 2048)])
def test_the_allowance_is_stated_at_the_transformers_native_side(sample_size, side):
    identity = _identity(sample_size=sample_size)
    activation = ALLOWANCE.activation(identity, plan(lumina.LUMINA2, identity, BF16_GPU))
    assert (activation.width, activation.height) == (side, side)
    assert activation.nbytes == GiB // 2 + (3 * GiB // 2) * side * side // (1024 * 1024)


@pytest.mark.parametrize("family", lumina.FAMILIES)
def test_the_tiny_checkpoint_loads_in_the_plans_dtype_and_draws(tiny_checkpoint, family):
    """The bfloat16 plan applied: every component's weights in bfloat16, and a call on the CPU returns an image."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family), dtype=torch.bfloat16)
    for name in ("transformer", "text_encoder", "vae"):
        assert {p.dtype for p in getattr(pipe, name).parameters()} == {torch.bfloat16}, name
