"""autopipe-flux's own pieces: registration, FLUX against Chroma under one class name, the real configurations, loading
plans, the activation allowance, the model-offload override, and full-size plans on header-only copies."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from real_checkpoints_data import corpus_dir

import autopipe_flux.plugin
from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan, Task, UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.testing import check_registered_alone
from autopipe_flux import CHROMA, CONTROL, FILL, FLUX, KONTEXT
from autopipe_flux.loading import FIXED, FLUX_ALLOWANCE, TRANSFORMER_ALLOWANCE, plan
from autopipe_flux.plugin import CLIP_TEXT_ENCODER, T5_TEXT_ENCODER

CORPUS = corpus_dir()  # ../shared/real_configs, or $AUTOPIPE_REAL_CONFIGS; read in place, never copied
BF16_GPU = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
OLD_GPU = DeviceFacts("cuda", 1, 16 * GiB, 16 * GiB, False)  # a pre-Ampere GPU: no bfloat16
CLIP = {"_class": "CLIPTextModel", "model_type": "clip_text_model", "hidden_size": 768}
T5 = {"_class": "T5EncoderModel", "model_type": "t5", "d_model": 4096}


def _folder(root: Path, class_name: str, text_encoder: dict | None, **extra: list) -> Path:
    """A checkpoint folder of JSON only: model_index.json naming `class_name`, and text_encoder/config.json when given."""
    root.mkdir(parents=True)
    index = {"_class_name": class_name, "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], **extra}
    if text_encoder is not None:
        config = {k: v for k, v in text_encoder.items() if k != "_class"}
        index["text_encoder"] = ["transformers", text_encoder["_class"]]
        (root / "text_encoder").mkdir()
        (root / "text_encoder" / "config.json").write_text(json.dumps(config))
    (root / "model_index.json").write_text(json.dumps(index))
    return root


# Registration


def test_both_families_and_their_rows_are_registered_without_any_other_plugin():
    registry = check_registered_alone("autopipe-flux", {FLUX, CHROMA}, [
        FLUX, (FLUX, {CONTROL}), (FLUX, {FILL}), (FLUX, {KONTEXT}), (FLUX, {"controlnet"}), CHROMA,
    ])
    assert registry.families[FLUX][0].config_components == ("text_encoder",) == registry.families[CHROMA][0].config_components


def test_every_class_reference_names_a_diffusers_pipeline_of_the_family():
    for row in autopipe_flux.plugin.autopipe_pipelines():
        for task, ref in row.classes.items():
            module, _, name = ref.partition(":")
            cls = getattr(importlib.import_module(module), name)
            expected, _ = cls._get_signature_keys(cls)
            assert {"transformer", "vae", "text_encoder", "tokenizer"} <= set(expected), name
            assert ("text_encoder_2" in expected) == (row.family == FLUX), name
            assert ("controlnet" in expected) == ("controlnet" in row.modifiers), name


# FLUX or Chroma: one class name, told by the text encoder


@pytest.mark.parametrize("task", list(Task))
def test_a_flux_class_with_a_t5_text_encoder_is_chroma(tmp_path, task):
    folder = _folder(tmp_path / "chroma", "FluxPipeline", T5, transformer=["diffusers", "ChromaTransformer2DModel"])
    r = resolve(folder, task)
    assert (r.family, r.pipeline_class) == (CHROMA, {Task.TEXT2IMG: "ChromaPipeline", Task.IMG2IMG: "ChromaImg2ImgPipeline", Task.INPAINT: "ChromaInpaintPipeline"}[task])


def test_a_flux_class_with_clip_or_no_text_encoder_config_is_flux(tmp_path):
    assert resolve(_folder(tmp_path / "dev", "FluxPipeline", CLIP), "t2i").family == FLUX
    assert resolve(_folder(tmp_path / "bare", "FluxPipeline", None), "t2i").family == FLUX  # nothing read, nothing refused


def test_a_text_encoder_neither_family_has_is_refused_with_what_flux_says(tmp_path):
    folder = _folder(tmp_path / "other", "FluxPipeline", {"_class": "UMT5EncoderModel", "model_type": "umt5"})
    with pytest.raises(UnsupportedModelError, match="it is not flux: its text_encoder is a umt5 model where FLUX.1 has CLIP ViT-L"):
        resolve(folder, "t2i")


def test_a_chroma_class_with_a_clip_text_encoder_is_refused(tmp_path):
    with pytest.raises(UnsupportedModelError, match="it is not chroma: its text_encoder is a clip_text_model model, where Chroma encodes prompts with T5-XXL alone"):
        resolve(_folder(tmp_path / "odd", "ChromaPipeline", CLIP), "t2i")


def test_the_requirements_read_what_a_live_pipeline_shows(tiny_checkpoint):
    """A live pipeline's text_encoder config carries model_type as its config.json does: from_pipe decides as from_pretrained."""
    from autopipe_core import AutoPipelineForText2Image
    from autopipe_core.resolve import identify

    for family in (FLUX, CHROMA):
        live = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family))
        configs = identify(live).configs
        assert CLIP_TEXT_ENCODER.met(configs) == (family == FLUX) and T5_TEXT_ENCODER.met(configs) == (family == CHROMA)


@pytest.mark.skipif(not (CORPUS / "manifest.json").is_file(), reason=f"the real-configuration corpus is not at {CORPUS}")
@pytest.mark.parametrize(("folder", "family", "classes"), [
    ("flux1-dev", FLUX, ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline")),
    ("flux1-schnell", FLUX, ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline")),
    # Forge's Chroma folder names FluxPipeline, holds T5 as its text_encoder and no transformer config.
    ("chroma", CHROMA, ("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline")),
])
def test_the_real_configurations_resolve(folder, family, classes):
    answers = [resolve(CORPUS / folder, t) for t in Task]
    assert {r.family for r in answers} == {family} and tuple(r.pipeline_class for r in answers) == classes


@pytest.mark.skipif(not (CORPUS / "manifest.json").is_file(), reason=f"the real-configuration corpus is not at {CORPUS}")
def test_diffusers_answer_for_the_chroma_folder_cannot_load_it():
    """diffusers picks FluxPipeline from the name; FluxPipeline needs text_encoder_2 and tokenizer_2, which the folder lacks."""
    from diffusers import FluxPipeline
    from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING, _get_task_class

    index = json.loads((CORPUS / "chroma" / "model_index.json").read_text())
    assert _get_task_class(AUTO_TEXT2IMAGE_PIPELINES_MAPPING, index["_class_name"]) is FluxPipeline
    expected, _ = FluxPipeline._get_signature_keys(FluxPipeline)
    assert {"text_encoder_2", "tokenizer_2"} <= set(expected) - set(index)


def test_fill_is_refused_for_text2img_and_img2img_with_the_reason(tiny_checkpoint):
    fill = tiny_checkpoint(FLUX, FILL)
    assert resolve(fill, "inpaint").pipeline_class == "FluxFillPipeline"
    for task, words in (("text2img", "generate with FLUX.1-dev"), ("img2img", "use FLUX.1-dev (FluxImg2ImgPipeline)")):
        with pytest.raises(UnsupportedTaskError, match=r"flux \+ fill has no .* pipeline: FLUX.1 Fill's transformer takes 384 input channels") as refusal:
            resolve(fill, task)
        assert words in str(refusal.value) and "use AutoPipelineForInpainting" in str(refusal.value)


def test_controlnet_over_a_control_checkpoint_is_refused_where_diffusers_would_build_a_class_name(tiny_checkpoint):
    """diffusers' AutoPipeline turns FluxControlPipeline + controlnet= into "FluxControlNetControlPipeline" by string
    replacement; a Control transformer takes the control image itself, and no pipeline takes both."""
    from diffusers import FluxControlNetModel, FluxTransformer2DModel

    control = tiny_checkpoint(FLUX, CONTROL)
    transformer = FluxTransformer2DModel.from_pretrained(control / "transformer")
    net = FluxControlNetModel.from_transformer(transformer, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2)
    with pytest.raises(UnsupportedModelError, match=r"there is no flux \+ control \+ controlnet pipeline"):
        resolve(control, "t2i", controlnet=net)


# Loading plans


def _identity(files=("model_index.json", "transformer/diffusion_pytorch_model.safetensors")) -> Identity:
    return Identity("folder", "x", "FluxPipeline", files=files)


def test_bfloat16_where_the_device_has_it_float16_elsewhere_float32_on_a_cpu():
    assert plan(FLUX, _identity(), BF16_GPU).dtype == "bfloat16"
    old = plan(FLUX, _identity(), OLD_GPU)
    assert old.dtype == "float16" and "cuda has no bfloat16" in old.reason
    cpu = plan(CHROMA, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.placement) == ("float32", "device") and "Chroma1-HD then needs about 55 GB of RAM" in cpu.reason


def test_the_weight_variant_follows_the_files():
    files = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
    assert plan(FLUX, _identity(files), BF16_GPU).variant == "bf16"
    assert plan(FLUX, _identity(), BF16_GPU).variant is None  # FLUX.1-dev's repo: one set of files, bfloat16, no variant


def test_the_allowance_at_1024_and_as_the_call_asks():
    at_native = LoadPlan("bfloat16", None, "device", "cuda", "")
    activation = FLUX_ALLOWANCE.activation(_identity(), at_native)
    assert (activation.nbytes, activation.width, activation.height) == (2 * GiB, 1024, 1024)
    assert FLUX_ALLOWANCE.nbytes(512, 512, "bfloat16") == FIXED + 3 * GiB // 8  # the pixels' share scales with the area
    assert FLUX_ALLOWANCE.nbytes(1024, 1024, "float32") == FIXED + 3 * GiB  # and with the itemsize
    assert TRANSFORMER_ALLOWANCE.nbytes(1024, 1024, "bfloat16") == GiB


# Full size: header-only copies of FLUX.1-dev and Chroma1-HD (true names and shapes, no data)


@pytest.fixture(scope="module")
def fullsize(tmp_path_factory):
    from autopipe_flux.layout import CHROMA_SHARDS, write_header_only
    from autopipe_flux.single_file import config_folder

    root = tmp_path_factory.mktemp("fullsize")
    return {"flux-dev": write_header_only(config_folder("flux-dev"), root / "FLUX.1-dev"),
            "chroma": write_header_only(config_folder("chroma"), root / "Chroma1-HD", shards=CHROMA_SHARDS)}


def _placements(folder: Path, count: int) -> list[str]:
    from autopipe_core.planning import plan as place

    r = resolve(folder, "text2img")
    return [place(r, DeviceFacts("cuda", count, g * GiB, g * GiB, True)).plan.placement for g in (4, 8, 12, 16, 24, 40, 80)]


def test_full_size_flux_dev_is_counted_from_its_headers(fullsize):
    from autopipe_core.planning import plan as place

    placed = place(resolve(fullsize["flux-dev"], "text2img"), BF16_GPU)
    fp = placed.footprint
    assert {c.name: c.parameters for c in fp.components} == {"transformer": 11_901_408_320, "text_encoder_2": 4_762_310_656, "text_encoder": 123_060_480, "vae": 83_819_683}
    assert fp.weights == 2 * (11_901_408_320 + 4_762_310_656 + 123_060_480 + 83_819_683) and fp.activation.nbytes == 2 * GiB
    old = place(resolve(fullsize["flux-dev"], "text2img"), OLD_GPU).footprint
    assert old.component("text_encoder_2").nbytes == 2 * 4_762_310_656 + 2 * 1_006_632_960  # T5's wo layers (1.0 B) kept in float32


def test_full_size_placements_one_and_two_gpus(fullsize):
    seq, model, dev, bal = "sequential_cpu_offload", "model_cpu_offload", "device", "balanced"
    # FLUX.1-dev: 31.42 GiB of weights, 2 GiB of activations; its transformer 22.17 GiB needs 1 GiB more while it runs.
    assert _placements(fullsize["flux-dev"], 1) == [seq, seq, seq, seq, model, dev, dev]
    # Two 24 GiB GPUs: 22 GiB each once the activations are kept free, less than the transformer: no balanced split.
    assert _placements(fullsize["flux-dev"], 2) == [seq, seq, seq, seq, model, dev, dev]
    # Chroma1-HD: 25.60 GiB; its transformer (16.58 GiB) on one 24 GiB GPU and T5 on the other.
    assert _placements(fullsize["chroma"], 1) == [seq, seq, seq, seq, model, dev, dev]
    assert _placements(fullsize["chroma"], 2) == [seq, seq, seq, seq, bal, dev, dev]


def test_model_offload_on_24_gib_is_this_plugin_s_override_and_says_why(fullsize):
    from autopipe_core.planning import plan as place

    placed = place(resolve(fullsize["flux-dev"], "text2img"), DeviceFacts("cuda", 1, 24 * GiB, 24 * GiB, True))
    assert (placed.rule, placed.plan.placement, placed.overridden_by) == ("sequential_cpu_offload", "model_cpu_offload", "autopipe-flux")
    assert "the most any model needs while it runs is transformer's 23.17 GiB" in placed.plan.reason
    assert "streamed" not in placed.plan.reason  # the rules' reason for what they chose is not repeated
    small = place(resolve(fullsize["flux-dev"], "text2img"), DeviceFacts("cuda", 1, 23 * GiB, 23 * GiB, True))
    assert (small.plan.placement, small.overridden_by) == ("sequential_cpu_offload", None)  # 23.17 GiB does not fit 23
