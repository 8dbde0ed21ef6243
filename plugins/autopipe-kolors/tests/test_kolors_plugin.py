"""autopipe-kolors' own pieces: registration against diffusers' tables, the claim on the original repo's SDXL class name
(on its real configs and beside autopipe-sdxl), the loading code on made-up devices, the tiny builder."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import pytest

import autopipe_kolors
from autopipe_core import DeviceFacts, Identity, Task, UnsupportedModelError, UnsupportedTaskError, loading, resolve
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_registered_alone
from autopipe_kolors import ADD_EMBED_DIM, CHATGLM, FAMILY, NO_INPAINT, ORIGINAL_CLASS, ORIGINAL_LAYOUT, PROJECTS_TEXT
from autopipe_kolors.loading import ACTIVATION_AT_NATIVE, ACTIVATION_AT_NATIVE_FP16_VAE, FIXED, plan

GiB = 1 << 30
ROOMY_GPU = DeviceFacts("cuda", 1, 40 * GiB, 80 * GiB, True)
BOTH = "autopipe-kolors,autopipe-sdxl"
KOLORS_CLASSES = {"KolorsPipeline", "KolorsImg2ImgPipeline", "KolorsPAGPipeline"}

#: The corpus of real checkpoint configurations (JSON only), beside the repository; never copied into it.
REAL_CONFIGS = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[3].parent / "shared" / "real_configs")
needs_real_configs = pytest.mark.skipif(not (REAL_CONFIGS / "kolors").is_dir(), reason=f"the real configs are not at {REAL_CONFIGS}")


# Registration, against diffusers' own tables


def test_family_and_rows_are_registered_without_autopipe_sdxl():
    registry = check_registered_alone("autopipe-kolors", {FAMILY}, [FAMILY, (FAMILY, {"pag"})])
    spec, _ = registry.families[FAMILY]
    assert spec.requires == (PROJECTS_TEXT, CHATGLM) and spec.also_named == {ORIGINAL_CLASS}
    assert spec.config_components == ("unet", "text_encoder", "vae") and spec.variants == ()


def test_the_rows_are_diffusers_autopipeline_tables_for_kolors():
    """Every class diffusers 0.42.1 maps for the keys kolors and kolors-pag, and none it does not."""
    from diffusers.pipelines import auto_pipeline as auto

    plain, pag = autopipe_kolors.autopipe_pipelines()
    ours = {(task, bool(row.modifiers)): ref.partition(":")[2] for row in (plain, pag) for task, ref in row.classes.items()}
    tables = {Task.TEXT2IMG: auto.AUTO_TEXT2IMAGE_PIPELINES_MAPPING, Task.IMG2IMG: auto.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
              Task.INPAINT: auto.AUTO_INPAINT_PIPELINES_MAPPING}
    theirs = {(task, key.endswith("-pag")): table[key].__name__ for task, table in tables.items() for key in ("kolors", "kolors-pag") if key in table}
    assert ours == theirs == {
        (Task.TEXT2IMG, False): "KolorsPipeline", (Task.IMG2IMG, False): "KolorsImg2ImgPipeline", (Task.TEXT2IMG, True): "KolorsPAGPipeline",
    }
    assert dict(plain.missing) == {Task.INPAINT: NO_INPAINT} and pag.missing[Task.INPAINT] == NO_INPAINT


def test_diffusers_still_has_no_kolors_inpainting_pipeline():
    """Why inpaint is missing: when this fails, diffusers has one; add it to the row and drop NO_INPAINT."""
    import diffusers

    names = [n for n in dir(diffusers) if "Kolors" in n and ("Inpaint" in n or "Fill" in n)]
    assert names == [], f"diffusers now ships {names}: serve it for inpaint"


def test_every_class_takes_chatglm_components():
    for row in autopipe_kolors.autopipe_pipelines():
        for ref in row.classes.values():
            module, _, name = ref.partition(":")
            cls = getattr(importlib.import_module(module), name)
            expected, optional = cls._get_signature_keys(cls)
            assert {"text_encoder", "tokenizer", "unet", "vae", "scheduler"} <= set(expected) - set(optional), name


def test_no_conflict_with_autopipe_sdxl_when_both_are_installed(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", BOTH)
    registry = get_registry()
    assert registry.conflicts == ()
    assert registry.classes[ORIGINAL_CLASS].family == "stable-diffusion-xl"  # the owner keeps its class
    assert [e.family for e in registry.candidates([ORIGINAL_CLASS])] == ["stable-diffusion-xl", FAMILY]
    assert registry.classes["KolorsPipeline"].plugin == "autopipe-kolors"


# The original repository's real configs (Kwai-Kolors/Kolors: StableDiffusionXLPipeline, ChatGLM from library "kolors")


@needs_real_configs
@pytest.mark.parametrize("plugins", ["autopipe-kolors", BOTH])
def test_the_original_repos_real_configs_resolve_to_the_kolors_classes(monkeypatch, plugins):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugins)
    folder = REAL_CONFIGS / "kolors"
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ORIGINAL_CLASS and index["text_encoder"] == ["kolors", "ChatGLMModel"]
    assert json.loads((folder / "unet" / "config.json").read_text())["projection_class_embeddings_input_dim"] == ADD_EMBED_DIM
    r = resolve(folder, "text2img")
    assert (r.family, r.pipeline_class, r.plugin) == (FAMILY, "KolorsPipeline", "autopipe-kolors")
    assert resolve(folder, "img2img").pipeline_class == "KolorsImg2ImgPipeline"
    assert resolve(folder, "text2img", enable_pag=True).pipeline_class == "KolorsPAGPipeline"
    with pytest.raises(UnsupportedTaskError, match="kolors has no inpaint pipeline: diffusers 0.42.1 has no Kolors inpainting"):
        resolve(folder, "inpaint")


@needs_real_configs
@pytest.mark.parametrize("task", list(Task))
def test_a_real_sdxl_checkpoint_stays_sdxl_beside_kolors(monkeypatch, task):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", BOTH)
    r = resolve(REAL_CONFIGS / "sdxl-base", task)
    assert r.family == "stable-diffusion-xl" and r.pipeline_class.startswith("StableDiffusionXL")


@needs_real_configs
def test_without_autopipe_sdxl_a_real_sdxl_checkpoint_is_refused_with_what_it_is():
    with pytest.raises(UnsupportedModelError, match="it is not kolors: its UNet has no encoder_hid_dim.*Stable Diffusion XL.*autopipe-sdxl"):
        resolve(REAL_CONFIGS / "sdxl-base", "text2img")


def _layout(root: Path, files: dict[str, dict]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(content))
    return root


def _sdxl_named(root: Path, unet: dict, text_encoder: dict) -> Path:
    index = {"_class_name": ORIGINAL_CLASS, "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["kolors", "ChatGLMModel"], "tokenizer": ["kolors", "ChatGLMTokenizer"], "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    return _layout(root, {"model_index.json": index, "unet/config.json": {"_class_name": "UNet2DConditionModel", **unet},
                          "text_encoder/config.json": text_encoder, "vae/config.json": {"_class_name": "AutoencoderKL"}})


def test_a_unet_projecting_text_under_an_sdxl_name_but_no_chatglm_is_neither_family(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", BOTH)
    folder = _sdxl_named(tmp_path / "other", {"encoder_hid_dim": 4096}, {"model_type": "t5"})
    with pytest.raises(UnsupportedModelError, match="it is not stable-diffusion-xl: its UNet projects 4096-wide"):
        resolve(folder, "text2img")
    kolors = _sdxl_named(tmp_path / "kolors", {"encoder_hid_dim": 4096}, {"model_type": "chatglm"})
    assert resolve(kolors, "text2img").pipeline_class == "KolorsPipeline"


def test_a_kolors_class_whose_text_encoder_is_not_chatglm_is_refused_saying_so(tmp_path):
    folder = _sdxl_named(tmp_path / "x", {"encoder_hid_dim": 4096}, {"model_type": "t5"})
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "KolorsPipeline"}))
    with pytest.raises(UnsupportedModelError, match="it is not kolors: its text encoder's config says model_type t5"):
        resolve(folder, "text2img")


# Loading code


def _identity(files=("model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors"), vae=None):
    configs = {} if vae is None else {"vae": {"_class_name": "AutoencoderKL", **vae}}
    return Identity("folder", "x", "KolorsPipeline", files=files, configs=configs)


def test_cpu_loads_float32_whole():
    p = plan(_identity(), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement, p.device, dict(p.component_dtypes)) == ("float32", None, "device", "cpu", {})


def test_an_accelerator_loads_float16_from_the_fp16_files_even_where_it_has_bfloat16():
    p = plan(_identity(vae={}), ROOMY_GPU)
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("float16", "fp16", {})
    assert "fp16 weight files" in p.reason and "rather than bfloat16" in p.reason and "force_upcast" in p.reason
    plain = plan(_identity(files=("model_index.json", "unet/diffusion_pytorch_model.safetensors")), DeviceFacts("mps", 1, None, 16 * GiB))
    assert (plain.dtype, plain.variant) == ("float16", None) and "not read" in plain.reason


def test_a_float16_safe_vae_is_said_and_gets_the_smaller_allowance():
    from autopipe_core import Footprint
    from autopipe_kolors.loading import footprint

    upcast, safe = _identity(vae={}), _identity(vae={"force_upcast": False})
    assert "force_upcast false" in plan(safe, ROOMY_GPU).reason
    big = footprint(upcast, plan(upcast, ROOMY_GPU), Footprint(()), None, None).activation
    small = footprint(safe, plan(safe, ROOMY_GPU), Footprint(()), None, None).activation
    assert (big.nbytes, big.width, big.height) == (ACTIVATION_AT_NATIVE + FIXED, 1024, 1024)
    assert small.nbytes == ACTIVATION_AT_NATIVE_FP16_VAE + FIXED < big.nbytes
    half = footprint(upcast, plan(upcast, ROOMY_GPU), Footprint(()), 512, 512).activation
    assert half.nbytes == ACTIVATION_AT_NATIVE // 4 + FIXED


def test_the_gpu_plan_applied_loads_every_chatglm_weight_in_float16_and_runs(tiny_checkpoint):
    """The plan's keywords for a roomy GPU, run on the CPU (which has float16 kernels): ChatGLM needs nothing in float32."""
    import numpy as np
    import torch

    from autopipe_core import AutoPipelineForText2Image

    folder = tiny_checkpoint(FAMILY)
    p = loading.plan(resolve(folder, "text2img"), ROOMY_GPU)
    pipe = AutoPipelineForText2Image.from_pretrained(folder, **loading.load_kwargs(p, {}))
    assert {t.dtype for t in pipe.text_encoder.parameters()} == {torch.float16} and pipe.unet.dtype == torch.float16
    out = pipe("a red fox", num_inference_steps=2, output_type="np").images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    assert pipe.vae.dtype == torch.float16  # upcast by diffusers for the decode, and put back


def test_the_original_repos_float16_pickle_text_encoder_is_counted_at_16_bit(tiny_checkpoint, tmp_path):
    """The core sizes a .bin file as 32-bit; ChatGLM3's shards in Kwai-Kolors/Kolors are float16, as its config says."""
    from autopipe_core.planning import plan as plan_placement

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint(FAMILY), folder)
    encoder = folder / "text_encoder"
    (encoder / "model.safetensors").unlink()
    shard = 3 * (1 << 20)
    for n in (1, 2):
        with open(encoder / f"pytorch_model-0000{n}-of-00002.bin", "wb") as f:
            f.truncate(shard)  # never opened: the planner reads the size alone
    config = json.loads((encoder / "config.json").read_text())
    config.pop("dtype", None)

    def counted(torch_dtype):
        (encoder / "config.json").write_text(json.dumps({**config, "torch_dtype": torch_dtype}))
        fp = plan_placement(resolve(folder, "text2img"), DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB)).footprint
        return fp.component("text_encoder")

    half = counted("float16")
    assert (half.nbytes, half.parameters) == (2 * shard, shard) and "16-bit as its config" in half.source
    full = counted("float32")  # saved 32-bit: the core's assumption holds, and its figure stays
    assert (full.nbytes, full.parameters) == (shard, shard // 2) and "assumed 32-bit" in full.source


# Tiny builder


def _config(folder: Path, component: str) -> dict:
    return json.loads((folder / component / ("scheduler_config.json" if component == "scheduler" else "config.json")).read_text())


def test_the_tiny_checkpoint_has_kolors_make_up(tiny_checkpoint):
    from autopipe_kolors.tiny import TEXT_HIDDEN, TIME_EMBED_DIM

    folder = tiny_checkpoint(FAMILY)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "KolorsPipeline" and index["force_zeros_for_empty_prompt"] is False
    assert index["text_encoder"] == ["kolors", "ChatGLMModel"] and index["tokenizer"] == ["kolors", "ChatGLMTokenizer"]
    unet, encoder, scheduler = _config(folder, "unet"), _config(folder, "text_encoder"), _config(folder, "scheduler")
    assert encoder["model_type"] == "chatglm" and encoder["hidden_size"] == TEXT_HIDDEN == unet["encoder_hid_dim"]
    assert unet["encoder_hid_dim_type"] == "text_proj" and unet["cross_attention_dim"] * 2 == TEXT_HIDDEN
    assert unet["projection_class_embeddings_input_dim"] == TEXT_HIDDEN + 6 * TIME_EMBED_DIM
    assert (scheduler["_class_name"], scheduler["num_train_timesteps"], scheduler["beta_end"]) == ("EulerDiscreteScheduler", 1100, 0.014)
    assert _config(folder, "vae")["force_upcast"] is True and (folder / "tokenizer" / "tokenizer.model").is_file()
    assert sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) < 4 << 20


def test_the_original_layout_is_the_original_repos(tiny_checkpoint):
    folder, diffusers_layout = tiny_checkpoint(FAMILY, ORIGINAL_LAYOUT), tiny_checkpoint(FAMILY)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ORIGINAL_CLASS and index["force_zeros_for_empty_prompt"] is True
    assert sorted(k for k in index if not k.startswith("_") and k != "force_zeros_for_empty_prompt") == ["scheduler", "text_encoder", "tokenizer", "unet", "vae"]
    for component in ("unet", "vae", "scheduler"):
        assert _config(folder, component) == _config(diffusers_layout, component)
    encoder = folder / "text_encoder"
    assert sorted(p.name for p in encoder.iterdir()) == [
        "config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
    ]
    config = _config(folder, "text_encoder")
    assert config["torch_dtype"] == "float16" and "dtype" not in config
    weight_map = json.loads((encoder / "pytorch_model.bin.index.json").read_text())["weight_map"]
    assert all(key.startswith("transformer.") for key in weight_map) and "transformer.rotary_pos_emb.inv_freq" in weight_map


def test_the_tiny_builder_refuses_a_variant_it_does_not_build(tmp_path):
    from autopipe_kolors.tiny import build

    with pytest.raises(ValueError, match="kolors has no tiny variant 'inpainting-only'; choose None or 'original-layout'"):
        build(tmp_path / "x", "inpainting-only")
