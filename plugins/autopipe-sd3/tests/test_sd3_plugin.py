"""autopipe-sd3's own pieces: its table against diffusers', the inpainting-only transformer, real configs, the loading
plans (T5 left out where that makes it fit), the tiny builder, and what importing and planning import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import autopipe_sd3.plugin
from autopipe_core import (
    AutoPipelineForText2Image,
    DeviceFacts,
    Identity,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    loading,
    resolve,
)
from autopipe_core.builtin import CONTROLNET_CLASSES
from autopipe_core.planning import plan as placement_plan
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_rows_serve_diffusers
from autopipe_sd3 import FAMILY
from autopipe_sd3.loading import ALLOWANCE, FIXED, T5, plan
from autopipe_sd3.plugin import INPAINTING, NO_CONTROLNET_IMG2IMG

GiB = 1 << 30
BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
FP16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, False)
REAL = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[4] / "shared" / "real_configs")


def _identity(files=None, components=None, configs=None):
    return Identity("folder", "x", "StableDiffusion3Pipeline", components=components or {}, configs=configs or {}, files=files)


# Registration: the rows are diffusers' AutoPipeline tables


def test_the_family_and_its_rows_load_alone():
    registry = get_registry()
    assert {p.distribution for p in registry.plugins if p.ok} == {"autopipe-core", "autopipe-sd3"}
    spec, owner = registry.families[FAMILY]
    assert owner == "autopipe-sd3" and spec.variants == (INPAINTING,) and spec.config_components == ("transformer",)
    assert registry.conflicts == ()


def test_each_row_is_diffusers_autopipeline_key_and_each_gap_is_one_there():
    """stable-diffusion-3, -pag and -controlnet in diffusers 0.42.1's three tables: the same class per task, and a
    task this plugin says is missing is one diffusers' table lacks. The tables are read from diffusers'
    pipelines/auto_pipeline.py as written (importing it imports every pipeline diffusers has)."""
    keys = {"stable-diffusion-3": FAMILY, "stable-diffusion-3-pag": (FAMILY, {"pag"}), "stable-diffusion-3-controlnet": (FAMILY, {"controlnet"})}
    served = check_rows_serve_diffusers(keys, naming="stable-diffusion-3")
    assert {key: set(tasks) for key, tasks in served.items()} == {
        "stable-diffusion-3": set(Task), "stable-diffusion-3-pag": {Task.TEXT2IMG, Task.IMG2IMG},
        "stable-diffusion-3-controlnet": {Task.TEXT2IMG, Task.INPAINT},
    }
    # The rows diffusers has no key for at all say so for every task.
    rows = {row.modifiers: row for row in autopipe_sd3.plugin.autopipe_pipelines()}
    for modifiers in ({"controlnet", "pag"}, {"controlnet-union"}):
        row = rows[frozenset(modifiers)]
        assert not row.classes and set(row.missing) == set(Task)


def test_sd3_controlnet_models_are_what_controlnet_takes():
    assert {"SD3ControlNetModel", "SD3MultiControlNetModel"} <= CONTROLNET_CLASSES


def test_controlnet_img2img_is_refused_with_what_to_do_instead(tiny_sd3):
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(tiny_sd3, "img2img", controlnet=object())
    assert NO_CONTROLNET_IMG2IMG in str(refusal.value) and "AutoPipelineForText2Image or AutoPipelineForInpainting" in str(refusal.value)


def test_pag_with_controlnet_and_union_models_are_refused_saying_why(tiny_sd3):
    with pytest.raises(UnsupportedTaskError, match="no PAG ControlNet pipeline for SD3"):
        resolve(tiny_sd3, "text2img", controlnet=object(), enable_pag=True)

    class ControlNetUnionModel:  # the core picks the union rows by the class name along the MRO, as for diffusers' model
        pass

    with pytest.raises(UnsupportedTaskError, match="ControlNet Union models are SDXL models; SD3 takes an SD3ControlNetModel"):
        resolve(tiny_sd3, "inpaint", controlnet=ControlNetUnionModel())


# The inpainting-only transformer


def test_a_33_channel_transformer_inpaints_only(tiny_sd3_inpainting):
    assert INPAINTING.value == 33 and INPAINTING.component == "transformer"
    assert resolve(tiny_sd3_inpainting, "inpaint").pipeline_class == "StableDiffusion3InpaintPipeline"
    for task in ("text2img", "img2img"):
        with pytest.raises(UnsupportedTaskError, match="transformer takes 33 input channels.*AutoPipelineForInpainting"):
            resolve(tiny_sd3_inpainting, task)
    with pytest.raises(UnsupportedTaskError, match="33 input channels"):
        resolve(tiny_sd3_inpainting, "img2img", enable_pag=True)


def test_diffusers_would_fail_text2img_with_a_33_channel_transformer(tiny_sd3_inpainting):
    """Why the Variant refuses: diffusers' text2img pipeline draws 33-channel latents the 16-channel output cannot step."""
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(tiny_sd3_inpainting)
    with pytest.raises(RuntimeError, match="size of tensor"):
        pipe("a red fox", num_inference_steps=2, output_type="np")


# Real checkpoints' configurations (../shared/real_configs; absent on a fresh clone)


@pytest.mark.parametrize("folder", ["sd3-medium", "sd35-large"])
def test_the_real_configs_resolve_as_diffusers_does(folder):
    if not (REAL / folder).is_dir():
        pytest.skip(f"the corpus of real configs is not at {REAL}")
    expected = {"text2img": "StableDiffusion3Pipeline", "img2img": "StableDiffusion3Img2ImgPipeline", "inpaint": "StableDiffusion3InpaintPipeline"}
    for task, cls in expected.items():
        r = resolve(REAL / folder, task)
        assert (r.family, r.pipeline_class, r.variant) == (FAMILY, cls, None)
    assert ALLOWANCE.side(resolve(REAL / folder, "text2img").identity) == 1024  # sample_size 128 x 8


def test_a_custom_component_library_is_refused_before_diffusers_imports_it(tiny_sd3, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_sd3, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["transformer"] = ["diffusers_sd3_control", "SD3Transformer2DModel"]
    (folder / "model_index.json").write_text(json.dumps(index))
    from autopipe_core import UntrustedCodeError

    assert resolve(folder, "text2img").pipeline_class == "StableDiffusion3Pipeline"  # JSON only: nothing imported
    with pytest.raises(UntrustedCodeError, match="diffusers_sd3_control"):
        AutoPipelineForText2Image.from_pretrained(folder)
    assert "diffusers_sd3_control" not in sys.modules


# Loading code


def test_cpu_loads_float32():
    p = plan(_identity(), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement, p.device, p.skip) == ("float32", None, "device", "cpu", frozenset())


def test_bfloat16_where_the_device_has_it_else_float16():
    assert plan(_identity(), BF16_GPU).dtype == "bfloat16"
    fp16 = plan(_identity(), FP16_GPU)
    assert fp16.dtype == "float16" and "cuda has no bfloat16" in fp16.reason
    mps = plan(_identity(), DeviceFacts("mps", 1))
    assert mps.dtype == "float16" and mps.placement == "device"


def test_the_weight_variant_comes_from_the_files_present():
    plain = ("transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors")
    bf16 = plain + ("transformer/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
    assert plan(_identity(plain), BF16_GPU).variant is None
    assert plan(_identity(bf16), BF16_GPU).variant == "bf16"
    assert plan(_identity(bf16), FP16_GPU).variant is None  # no fp16 files: the plain ones, in float16
    only_fp16 = plain[1:] + ("transformer/diffusion_pytorch_model.fp16.safetensors",)
    p = plan(_identity(only_fp16), BF16_GPU)  # a transformer saved only as fp16 files: diffusers can load nothing else
    assert (p.dtype, p.variant) == ("bfloat16", "fp16") and "transformer has no others" in p.reason


def test_t5_is_counted_with_its_float32_layers_under_float16_and_not_under_bfloat16(tiny_sd3):
    r = resolve(tiny_sd3, "text2img")
    half = placement_plan(r, FP16_GPU).footprint.component(T5)
    bf16 = placement_plan(r, BF16_GPU).footprint.component(T5)
    assert (half.dtype, bf16.dtype) == ("float16", "bfloat16")
    assert half.nbytes > bf16.nbytes and "wo kept in float32" in half.source and "float32" not in bf16.source


def _fitting(tiny, leave: str) -> DeviceFacts:
    """A GPU with room for the tiny pipeline and its activations without T5, but not with it ("without"), or with room
    for it whole ("whole"), or for less than the pipeline without T5 ("neither")."""
    fp = placement_plan(resolve(tiny, "text2img"), BF16_GPU).footprint
    need = fp.weights + fp.activation.nbytes
    t5 = fp.component(T5).nbytes
    budget = {"whole": need, "without": need - t5 // 2, "neither": need - t5 - 1}[leave]
    return DeviceFacts("cuda", 1, budget, budget, True)


def test_t5_is_left_out_when_that_makes_the_pipeline_fit(tiny_sd3):
    r = resolve(tiny_sd3, "text2img")
    placed = placement_plan(r, _fitting(tiny_sd3, "without"))
    assert placed.plan.skip == {T5} and placed.plan.placement == "device"
    assert placed.footprint.component(T5) is None  # not counted: not loaded
    assert "text_encoder_3 left out" in placed.plan.reason and "pass text_encoder_3= to keep it" in placed.plan.reason


@pytest.mark.parametrize("room", ["whole", "neither"])
def test_t5_stays_when_the_pipeline_fits_with_it_or_does_not_fit_without_it(tiny_sd3, room):
    placed = placement_plan(resolve(tiny_sd3, "text2img"), _fitting(tiny_sd3, room))
    assert placed.plan.skip == frozenset()
    assert placed.plan.placement == ("device" if room == "whole" else "model_cpu_offload")


def test_t5_stays_when_the_budget_is_unknown_or_several_gpus_hold_it(tiny_sd3):
    r = resolve(tiny_sd3, "text2img")
    assert plan(r.identity, DeviceFacts("cuda", 1, None, None, True)).skip == frozenset()
    one = _fitting(tiny_sd3, "without")
    four = placement_plan(r, DeviceFacts("cuda", 4, one.free_bytes, one.total_bytes, True))
    assert four.plan.skip == frozenset() and four.plan.placement == "balanced"


def test_the_callers_own_text_encoder_3_wins(tiny_sd3):
    import torch

    r = resolve(tiny_sd3, "text2img")
    mine = torch.nn.Linear(4, 4)
    placed = placement_plan(r, _fitting(tiny_sd3, "without"), kwargs={T5: mine})
    assert T5 not in placed.plan.skip and placed.footprint.component(T5).nbytes == 4 * 4 * 4 + 4 * 4
    assert loading.load_kwargs(placed.plan, {T5: mine})[T5] is mine


def test_a_plan_without_t5_loads_and_runs(tiny_sd3):
    p = loading.plan(resolve(tiny_sd3, "text2img"), _fitting(tiny_sd3, "without"))
    kwargs = loading.load_kwargs(p, {})
    assert kwargs[T5] is None
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd3, **kwargs)
    assert pipe.text_encoder_3 is None and pipe.transformer.dtype.is_floating_point
    out = pipe("a red fox", num_inference_steps=2, output_type="np").images
    assert out.shape == (1, 64, 64, 3)


def test_the_allowance_is_stated_at_1024_and_scales_with_pixels_and_itemsize():
    from autopipe_core import LoadPlan

    real = {"transformer": {"sample_size": 128, "in_channels": 16}}
    bf16 = LoadPlan("bfloat16", None, "device", "cuda", "")
    act = ALLOWANCE.activation(_identity(configs=real), bf16)
    assert (act.width, act.height, act.nbytes) == (1024, 1024, 2 * GiB)
    assert ALLOWANCE.nbytes(512, 512, "bfloat16") == FIXED + 3 * GiB // 8
    assert ALLOWANCE.nbytes(1024, 1024, "float32") == FIXED + 3 * GiB
    assert "transformer at batch 2 and the VAE decode" in act.reason


def test_a_float16_plan_applied_keeps_t5_wo_in_float32_and_runs(tiny_sd3):
    """The float16 GPU plan's from_pretrained keywords, on the CPU: transformers keeps T5's wo layers in float32, which the
    footprint counts, and diffusers' SD3 pipeline runs with them."""
    import numpy as np
    import torch

    p = loading.plan(resolve(tiny_sd3, "text2img"), FP16_GPU)
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sd3, **loading.load_kwargs(p, {}))
    wo = {n: w.dtype for n, w in pipe.text_encoder_3.named_parameters() if ".wo." in n}
    assert wo and set(wo.values()) == {torch.float32} and pipe.transformer.dtype == torch.float16
    out = pipe("a red fox", num_inference_steps=2, output_type="np").images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()


# The tiny builder


def _config(folder: Path, component: str) -> dict:
    return json.loads((folder / component / "config.json").read_text())


def test_the_tiny_checkpoint_has_sd3s_shape(tiny_sd3):
    index = json.loads((tiny_sd3 / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusion3Pipeline" and index["scheduler"] == ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    transformer, te1, te2, te3, vae = (_config(tiny_sd3, c) for c in ("transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "vae"))
    assert transformer["pooled_projection_dim"] == te1["projection_dim"] + te2["projection_dim"]  # 768 + 1280 = 2048 in SD3
    assert transformer["joint_attention_dim"] == te3["d_model"] >= te1["hidden_size"] + te2["hidden_size"]  # 4096 >= 2048
    assert te1["hidden_size"] != te2["hidden_size"]  # diffusers' single-file loader tells the CLIPs apart by width
    assert transformer["in_channels"] == transformer["out_channels"] == vae["latent_channels"] == 16
    assert (vae["scaling_factor"], vae["shift_factor"], vae["use_quant_conv"]) == (1.5305, 0.0609, False)
    scheduler = json.loads((tiny_sd3 / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["shift"] == 3.0
    assert sum(f.stat().st_size for f in tiny_sd3.rglob("*")) < 3 << 20


def test_the_tiny_builder_refuses_a_variant_it_does_not_build(tmp_path):
    from autopipe_sd3.tiny import VARIANT_NAMES, build

    assert set(VARIANT_NAMES) == {None, *(v.name for v in autopipe_sd3.plugin.VARIANTS)}
    with pytest.raises(ValueError, match="stable-diffusion-3 has no tiny variant 'turbo'"):
        build(tmp_path / "x", "turbo")


# Imports


def test_registering_resolving_and_planning_import_nothing_heavy(tiny_sd3):
    code = (
        "import json, sys\n"
        "import autopipe_sd3.plugin\n"
        "from autopipe_core import DeviceFacts, resolve\n"
        "from autopipe_core.planning import plan\n"
        f"r = resolve({str(tiny_sd3)!r}, 'text2img')\n"
        "for device in (DeviceFacts('cuda', 1, 1 << 20, 1 << 20, True), DeviceFacts('cuda', 1, 1 << 36, 1 << 36, False)):\n"
        "    plan(r, device)\n"
        "print(json.dumps([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]))"
    )
    env = {**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sd3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_an_unknown_family_member_is_not_claimed(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusion3ModularPipeline"}))
    with pytest.raises(UnsupportedModelError):
        resolve(tmp_path, "text2img")
