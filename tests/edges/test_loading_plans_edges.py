"""The loading plans of autopipe-sd, -sdxl, -kandinsky and -deepfloyd-if, at their edges: each plan and allowance written
out whole (dtype, variant, per-component dtypes and the reason a user reads in ``autopipe plan``), on made-up devices
and checkpoints laid out on disk."""

from __future__ import annotations

import pytest

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan, resolve
from autopipe_core.headers import write_header
from autopipe_core.specs import Activation, ComponentBytes, Footprint
from autopipe_core.toolkit.plans import CPU_REASON

CUDA = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
FP16_FILES = ("model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors", "vae/config.json")
PLAIN_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors")


def test_deepfloyd_ifs_plans_say_how_much_ram_stage_one_needs_on_a_cpu():
    from autopipe_deepfloyd_if.loading import plan

    identity = Identity("folder", "/if", "IFPipeline", files=FP16_FILES)
    assert plan(identity, DeviceFacts("cpu")) == LoadPlan("float32", None, "device", "cpu", f"{CPU_REASON} (IF-I-XL then needs about 36 GB of RAM)")
    assert plan(identity, CUDA) == LoadPlan("float16", "fp16", "device", "cuda", "float16 from its fp16 weight files")


def test_stable_diffusions_plan_is_the_half_precision_one():
    from autopipe_sd.loading import plan

    assert plan(Identity("folder", "/sd", "StableDiffusionPipeline", files=PLAIN_FILES), CUDA) == LoadPlan(
        "float16", None, "device", "cuda", "float16 from its full-precision files (no fp16 variant found)")


def _sdxl(vae=None, files=FP16_FILES, sample_size=128):
    configs = {"unet": {"sample_size": sample_size}}
    if vae is not None:
        configs["vae"] = vae
    return Identity("folder", "/sdxl", "StableDiffusionXLPipeline", configs=configs, files=files)


LEFT_TO_DIFFUSERS = (
    "VAE loaded in float16 but {said}: diffusers moves a force_upcast VAE to float32 around each encode and decode, so it does "
    "not overflow (loading it in float32 instead breaks text2img in diffusers 0.42.1, huggingface/diffusers#12847)"
)


def test_sdxls_vae_config_decides_between_float16_and_an_upcast():
    from autopipe_sdxl.loading import vae_force_upcast

    assert vae_force_upcast(_sdxl()) is None  # the config was not read
    assert vae_force_upcast(_sdxl({})) is True  # AutoencoderKL's default when the key is absent
    assert vae_force_upcast(_sdxl({"force_upcast": True})) is True
    assert vae_force_upcast(_sdxl({"force_upcast": False})) is False


def test_sdxls_plans_say_what_happens_to_the_vae():
    from autopipe_sdxl.loading import plan

    assert plan(_sdxl({"force_upcast": True}), DeviceFacts("cpu")) == LoadPlan("float32", None, "device", "cpu", CPU_REASON)
    half = "float16 from its fp16 weight files"
    assert plan(_sdxl({}), CUDA) == LoadPlan("float16", "fp16", "device", "cuda", f"{half}; " + LEFT_TO_DIFFUSERS.format(said="its config says force_upcast true"))
    assert plan(_sdxl(), CUDA) == LoadPlan("float16", "fp16", "device", "cuda", f"{half}; " + LEFT_TO_DIFFUSERS.format(said="its config was not read"))
    safe = LoadPlan("float16", "fp16", "device", "cuda", f"{half}; VAE in float16 too: its config says force_upcast false (a float16-safe VAE)")
    assert plan(_sdxl({"force_upcast": False}), CUDA) == safe
    assert plan(_sdxl({"force_upcast": False}), CUDA, float32_vae=True) == safe
    assert plan(_sdxl({"force_upcast": True}), CUDA, float32_vae=True) == LoadPlan(
        "float16", "fp16", "device", "cuda",
        f"{half}; VAE in float32: its config says force_upcast true, and SDXL's original VAE overflows in float16 (black images)",
        component_dtypes={"vae": "float32"},
    )
    assert plan(_sdxl(), CUDA, float32_vae=True).reason.endswith("VAE in float32: its config was not read, and SDXL's original VAE overflows in float16 (black images)")
    assert plan(_sdxl({}), CUDA, float32_vae=False) == plan(_sdxl({}), CUDA)  # FLOAT32_VAE is False: the same as not saying


def test_sdxls_allowance_is_smaller_with_a_float16_safe_vae_and_grows_with_the_pixels():
    from autopipe_sdxl.loading import footprint

    weights = Footprint((ComponentBytes("unet", 5 * GiB, 5 * GiB // 2, "float16", "headers"),))
    half = LoadPlan("float16", "fp16", "device", "cuda", "r")
    upcast = footprint(_sdxl({}), half, weights, None, None)
    assert upcast == Footprint(weights.components, Activation(
        3 * GiB, 1024, 1024, "UNet activations at batch 2 and the VAE decode upcast to float32 (force_upcast) at 1024x1024 in float16, plus 0.5 GiB workspace"))
    assert footprint(_sdxl(), half, weights, None, None).activation == upcast.activation  # an unread config: the upcast
    assert footprint(_sdxl({"force_upcast": False}), half, weights, 2048, 512).activation == Activation(
        2 * GiB, 2048, 512, "UNet activations at batch 2 and the VAE decode at 2048x512 in float16, plus 0.5 GiB workspace")
    full = LoadPlan("float32", None, "device", "cpu", "r")
    assert footprint(_sdxl({}), full, weights, None, None).activation == Activation(
        3 * GiB + GiB // 2, 1024, 1024, "UNet activations at batch 2 and the VAE decode at 1024x1024 in float32, plus 0.5 GiB workspace")
    assert footprint(_sdxl({}, sample_size=96), half, weights, None, None).activation.width == 768  # the UNet's sample_size x 8


# --- Kandinsky: the decoder's plan, its prior counted from the folder its card names, never balanced ---------------


def _kandinsky(tmp_path, card=True):
    decoder, prior = tmp_path / "decoder", tmp_path / "prior"
    for folder, component, shape in ((decoder, "unet", (8, 8)), (prior, "prior", (4, 4)), (prior, "text_encoder", (2, 3))):
        (folder / component).mkdir(parents=True, exist_ok=True)
        write_header(folder / component / "diffusion_pytorch_model.safetensors", {"w": ("F32", shape)})
    if card:
        (decoder / "README.md").write_text("---\nprior: [../prior]\n---\n")
    return Identity("folder", str(decoder), "KandinskyV22Pipeline", {"unet": ("diffusers", "UNet2DConditionModel")}, {"unet": {"sample_size": 96}},
                    ("README.md", "unet/diffusion_pytorch_model.safetensors"))


def test_kandinskys_plan_is_the_half_precision_one_for_both_families():
    from autopipe_kandinsky.loading import plan

    identity = Identity("folder", "/k", "KandinskyV22Pipeline", files=FP16_FILES)
    for family in ("kandinsky", "kandinsky22"):
        assert plan(family, identity, DeviceFacts("cpu")) == LoadPlan("float32", None, "device", "cpu", CPU_REASON)
        assert plan(family, identity, CUDA) == LoadPlan("float16", "fp16", "device", "cuda", "float16 from its fp16 weight files")


def test_kandinskys_footprint_adds_the_prior_its_card_names_and_the_allowance(tmp_path):
    from autopipe_kandinsky.loading import footprint

    identity = _kandinsky(tmp_path)
    plan = LoadPlan("float16", None, "device", "cuda", "r")
    unet = ComponentBytes("unet", 128, 64, "float16", "headers")
    counted = footprint("kandinsky22", identity, plan, Footprint((unet,)), 1536, 768)
    assert [(c.name, c.nbytes, c.parameters) for c in counted.components] == [("unet", 128, 64), ("prior_prior", 32, 16), ("prior_text_encoder", 12, 6)]
    assert counted.activation == Activation(3 * GiB + GiB // 2, 1536, 768, "decoder UNet at batch 2 and the MoVQ decode at 1536x768 in float16, plus 0.5 GiB workspace")
    assert footprint("kandinsky", identity, plan, Footprint((unet,)), None, None).activation.width == 768  # the UNet's sample_size x 8
    nameless = footprint("kandinsky22", _kandinsky(tmp_path / "no-card", card=False), plan, Footprint((unet,)), None, None)
    assert nameless.components[1] == ComponentBytes("prior", None, None, "float16", "unknown: the decoder's model card names no prior")


def test_kandinskys_combined_pipeline_is_never_balanced_over_gpus(tmp_path):
    from autopipe_kandinsky.loading import placement

    identity = _kandinsky(tmp_path)
    two = DeviceFacts("cuda", 2, 4 * GiB, 8 * GiB, True)
    fp = Footprint((ComponentBytes("unet", 3 * GiB, 1, "float16", "headers"), ComponentBytes("prior_prior", 2 * GiB, 1, "float16", "headers")))
    balanced = LoadPlan("float16", None, "balanced", "cuda", "float16 from its files; the rules said balanced")
    assert placement("kandinsky22", identity, two, fp, balanced) == LoadPlan("float16", None, "model_cpu_offload", "cuda", (
        "float16 from its files; weights 5.00 GiB + no activation allowance = 5.00 GiB exceed 4.00 GiB; the largest component, unet (3.00 GiB), "
        "fits with the activations (3.00 GiB): models go to the GPU one at a time; not balanced over 2 GPUs: "
        "diffusers does not support device_map for connected (combined) pipelines"))
    assert placement("kandinsky", Identity("folder", "/k", "KandinskyCombinedPipeline"), two, fp, balanced).placement == "model_cpu_offload"
    assert placement("kandinsky22", identity, two, fp, LoadPlan("float16", None, "model_cpu_offload", "cuda", "r")) is None
    assert placement("kandinsky22", Identity("folder", "/k", "KandinskyV22PriorPipeline"), two, fp, balanced) is None


def test_a_path_whose_name_is_not_utf8_is_refused_before_loading_not_inside_safetensors(tmp_path, tiny_sd):
    # Found by a hostile-input trial: such a folder resolved and planned, then failed inside safetensors with
    # "Unable to load weights from checkpoint file", after loading began.
    import os
    import shutil

    from autopipe_core import AutoPipelineForText2Image, ModelNotFoundError

    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xff")
    shutil.copytree(tiny_sd, folder)
    assert resolve(folder, "text2img").pipeline_class == "StableDiffusionPipeline"
    with pytest.raises(ModelNotFoundError, match=r"a name on this path is not valid UTF-8, and safetensors, which reads the weights, opens UTF-8 paths only"):
        AutoPipelineForText2Image.from_pretrained(folder)
