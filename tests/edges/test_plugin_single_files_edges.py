"""The plugins' single-file detection (autopipe-sd, autopipe-sdxl, autopipe-controlnet) at its edges: each variant's
whole Detection from the few tensors it reads, what is left alone, and how SD and ControlNet files are loaded.

Headers hold only the tensors detection reads, with their true shapes (written sparse by write_header); the loading
tests use autopipe-sd's tiny single file and a tiny ControlNet built from the configs the plugins ship.
"""

from __future__ import annotations

import json
import shutil

import pytest

from autopipe_core import Detection, InvalidModelError, UnsafeCheckpointError
from autopipe_core.headers import read_header, write_header
from autopipe_core.prediction import read as read_prediction

UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
CROSS = UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
LABEL = UNET + "label_emb.0.0.weight"
SD_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
NO_TEXT = "; the file has no text encoder (cond_stage_model.*): pass text_encoder= when loading"
MARKER = ("F32", (0,))  # torch.tensor([]), as ComfyUI saves v_pred and ztsnr


@pytest.fixture
def header(tmp_path):
    count = iter(range(10_000))

    def make(tensors, metadata=None):
        typed = {k: v if isinstance(v[0], str) else ("F16", v) for k, v in tensors.items()}
        return read_header(write_header(tmp_path / f"f{next(count)}.safetensors", typed, metadata))

    return make


# --- autopipe-sd -----------------------------------------------------------------------------------------------------


def _sd(variant, config, confidence, reason, inpainting=False, scheduler=None):
    from autopipe_sd.single_file import PREFIXES, config_folder

    cls = "StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline"
    return Detection("stable-diffusion", variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=str(config_folder(config)),
                     prefixes=PREFIXES, scheduler=scheduler or {})


SD1 = "Stable Diffusion 1.x (CLIP ViT-L text encoder, cross-attention 768): input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight takes 768"
SD2 = "Stable Diffusion 2.x (OpenCLIP ViT-H text encoder, cross-attention 1024): input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight takes 1024"


def test_sd1_and_its_inpainting_file_are_each_one_whole_detection(header):
    from autopipe_sd.single_file import detect

    plain = detect(header({CONV_IN: (320, 4, 3, 3), CROSS: (320, 768), SD_TEXT: (49408, 768)}))
    assert plain == [_sd("sd1", "sd1", 0.95, SD1 + ", input_blocks.0.0.weight is [320, 4, 3, 3]; epsilon, as SD 1.x was released: the file states no prediction type")]
    inpainting = detect(header({CONV_IN: (320, 9, 3, 3), CROSS: (320, 768)}))
    assert inpainting == [_sd(
        "sd1-inpainting", "sd1-inpainting", 0.95,
        SD1 + ", input_blocks.0.0.weight is [320, 9, 3, 3] (9 input channels: latents, mask, masked image); epsilon, as SD 1.x was released: "
        "the file states no prediction type" + NO_TEXT, inpainting=True,
    )]


def test_sd2_files_take_the_config_the_file_states_or_both_readings(header):
    from autopipe_sd.single_file import detect

    base = {CONV_IN: (320, 4, 3, 3), CROSS: (320, 1024), SD_TEXT: (49408, 1024)}
    facts = SD2 + ", input_blocks.0.0.weight is [320, 4, 3, 3]"
    stated = header(base, {"modelspec.prediction_type": "epsilon"})
    said = read_prediction(stated).describe()
    assert detect(stated) == [_sd("sd2-base", "sd2-base", 0.95, f"{facts}; {said}: the sd2-base config", scheduler={"prediction_type": "epsilon"})]
    v = header(base, {"modelspec.prediction_type": "v"})
    assert detect(v) == [_sd("sd2-v", "sd2-v", 0.95, f"{facts}; {read_prediction(v).describe()}: the sd2-v config", scheduler={"prediction_type": "v_prediction"})]
    silent = detect(header(base))
    unsure = (
        "; v-prediction (768-v) or epsilon (512-base) cannot be told from the tensors and the file states neither "
        "(no model-spec or kohya metadata, no v_pred marker): taken as 768-v like diffusers; if images come out as noise, "
        "load with config=str(autopipe_sd.single_file.config_folder('sd2-base'))"
    )
    assert silent == [_sd("sd2-v", "sd2-v", 0.6, facts + unsure), _sd("sd2-base", "sd2-base", 0.4, facts + "; the epsilon (512-base) reading of the same tensors")]
    marked = header({**base, "ztsnr": MARKER})  # a marker that decides nothing is named in the unsure reason
    source = read_prediction(marked).source
    (first, _) = detect(marked)
    assert first.reason == facts + unsure.replace("no v_pred marker)", f"no v_pred marker; {source})")
    inpainting = detect(header({CONV_IN: (320, 9, 3, 3), CROSS: (320, 1024), SD_TEXT: (49408, 1024)}))
    assert inpainting == [_sd(
        "sd2-inpainting", "sd2-inpainting", 0.95,
        SD2 + ", input_blocks.0.0.weight is [320, 9, 3, 3] (9 input channels: latents, mask, masked image); SD 2 inpainting predicts epsilon; "
        "the file states nothing else", inpainting=True,
    )]


def test_the_tiny_sd_layout_and_a_cross_attention_found_elsewhere(header):
    from autopipe_sd.single_file import detect

    other = UNET + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"
    tiny = detect(header({CONV_IN: (16, 4, 3, 3), other: (32, 32), SD_TEXT: (49408, 32)}))
    assert tiny == [_sd("tiny", "tiny", 0.9, "autopipe-sd's tiny test checkpoint (16 model channels, cross-attention 32): input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight "
                        "takes 32, input_blocks.0.0.weight is [16, 4, 3, 3]; epsilon: the file states no prediction type")]


@pytest.mark.parametrize(
    "tensors",
    [
        {CONV_IN: (320, 4, 3, 3), CROSS: (320, 768), LABEL: (1280, 2816)},  # SDXL's micro-conditioning: not SD's
        {CONV_IN: (320, 4, 3), CROSS: (320, 768)},  # a first convolution of another rank
        {CROSS: (320, 768)},  # no first convolution
        {CONV_IN: (320, 4, 3, 3)},  # no cross-attention
        {CONV_IN: (320, 4, 3, 3), CROSS: (320, 768, 1)},  # a cross-attention of another rank
        {CONV_IN: (320, 5, 3, 3), CROSS: (320, 1024)},  # depth
        {CONV_IN: (320, 8, 3, 3), CROSS: (320, 768)},  # instruct-pix2pix
        {CONV_IN: (320, 4, 3, 3), CROSS: (320, 512)},  # another text encoder width
        {CONV_IN: (640, 4, 3, 3), CROSS: (640, 768)},  # another UNet width
    ],
)
def test_what_is_not_an_sd_checkpoint_autopipe_sd_ships_is_left_alone(header, tensors):
    from autopipe_sd.single_file import detect

    assert detect(header(tensors)) == []


# --- autopipe-sdxl ---------------------------------------------------------------------------------------------------

XL_UNSTATED = "; epsilon, as SDXL was released: the file states no prediction type (no model-spec or kohya metadata, no v_pred marker)"
BASE_TEXT = "conditioner.embedders.1.model.token_embedding"
REFINER_TEXT = "conditioner.embedders.0.model.token_embedding"
NO_XL_TEXT = "; the file has no text encoders (conditioner.*): pass text_encoder=/text_encoder_2= when loading"


def _xl(variant, cls, confidence, reason, scheduler=None):
    from autopipe_sdxl.single_file import PREFIXES, REFINER_PREFIXES, config_folder

    prefixes = REFINER_PREFIXES if variant == "xl-refiner" else PREFIXES
    return Detection("stable-diffusion-xl", variant, confidence, reason, pipeline_class=f"diffusers:{cls}", config=str(config_folder(variant)),
                     prefixes=prefixes, scheduler=scheduler or {})


def test_sdxl_files_are_each_one_whole_detection(header):
    from autopipe_sdxl.single_file import detect

    base = detect(header({LABEL: (1280, 2816), CONV_IN: (320, 4, 3, 3), BASE_TEXT: (49408, 1280)}))
    assert base == [_xl("xl-base", "StableDiffusionXLPipeline", 0.95, "SDXL base: label_emb.0.0.weight is [1280, 2816]: pooled text 1280 + 6 time ids x 256" + XL_UNSTATED)]
    refiner = detect(header({LABEL: (1536, 2560), CONV_IN: (384, 4, 3, 3), REFINER_TEXT: (49408, 1280)}))
    assert refiner == [_xl("xl-refiner", "StableDiffusionXLImg2ImgPipeline", 0.95,
                           "SDXL refiner: label_emb.0.0.weight is [1536, 2560]: pooled text 1280 + 5 conditioning numbers x 256 (aesthetic score)" + XL_UNSTATED)]
    inpainting = detect(header({LABEL: (1280, 2816), CONV_IN: (320, 9, 3, 3)}))
    assert inpainting == [_xl("xl-inpainting", "StableDiffusionXLInpaintPipeline", 0.95,
                              "SDXL inpainting: label_emb.0.0.weight is [1280, 2816]: pooled text 1280 + 6 time ids x 256" + NO_XL_TEXT
                              + "; input_blocks.0.0.weight takes 9 channels (latents, mask, masked image)" + XL_UNSTATED)]
    tiny = detect(header({LABEL: (64, 2816)}))
    assert tiny == [_xl("xl-tiny", "StableDiffusionXLPipeline", 0.9, "autopipe-sdxl's tiny test layout: label_emb.0.0.weight is [64, 2816]" + XL_UNSTATED)]


def test_sdxl_without_label_emb_is_told_by_its_text_encoders_and_without_a_convolution_is_half_sure(header):
    from autopipe_sdxl.single_file import detect

    base = detect(header({CONV_IN: (320, 4, 3, 3), BASE_TEXT: (49408, 1280), REFINER_TEXT: (49408, 1280)}))
    assert base == [_xl("xl-base", "StableDiffusionXLPipeline", 0.95,
                        "SDXL base: it has the base's two text encoders (conditioner.embedders.1.model.*) but no UNet label_emb" + XL_UNSTATED)]
    refiner = detect(header({CONV_IN: (384, 4, 3, 3), REFINER_TEXT: (49408, 1280)}))
    assert refiner == [_xl("xl-refiner", "StableDiffusionXLImg2ImgPipeline", 0.95,
                           "SDXL refiner: it has only the refiner's text encoder (conditioner.embedders.0.model.*) and no UNet label_emb" + XL_UNSTATED)]
    unsure = detect(header({LABEL: (1280, 2816)}))
    assert unsure == [_xl("xl-base", "StableDiffusionXLPipeline", 0.5, "SDXL base: label_emb.0.0.weight is [1280, 2816]: pooled text 1280 + 6 time ids x 256" + NO_XL_TEXT + XL_UNSTATED)]
    three = detect(header({LABEL: (1280, 2816), CONV_IN: (320, 9, 3)}))  # a first convolution of another rank is no inpainting one
    assert [(d.variant, d.confidence) for d in three] == [("xl-base", 0.95)]


def test_an_sdxl_file_that_states_v_prediction_says_so_and_gets_its_scheduler(header):
    from autopipe_sdxl.single_file import detect

    marked = header({LABEL: (1280, 2816), CONV_IN: (320, 4, 3, 3), BASE_TEXT: (49408, 1280), "v_pred": MARKER, "ztsnr": MARKER})
    prediction = read_prediction(marked)
    assert detect(marked) == [_xl("xl-base", "StableDiffusionXLPipeline", 0.95,
                                  "SDXL base: label_emb.0.0.weight is [1280, 2816]: pooled text 1280 + 6 time ids x 256; " + prediction.describe(),
                                  scheduler={"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"})]


@pytest.mark.parametrize(
    "tensors",
    [
        {LABEL: (1280, 2816), CONV_IN: (320, 4, 3, 3), "edm_mean": ("F32", (1, 4, 1, 1))},  # Playground v2.5
        {LABEL: (1280, 2048), CONV_IN: (320, 4, 3, 3)},  # another label_emb
        {CONV_IN: (320, 4, 3, 3)},  # no label_emb, no text encoder
        {BASE_TEXT: (49408, 1280)},  # text encoders alone, no UNet
        {REFINER_TEXT: (49408, 1280)},
    ],
)
def test_what_is_not_an_sdxl_checkpoint_is_left_alone(header, tensors):
    from autopipe_sdxl.single_file import detect

    assert detect(header(tensors)) == []


# --- autopipe-controlnet ---------------------------------------------------------------------------------------------


def test_a_controlnet_says_exactly_how_to_load_and_use_it(header):
    from autopipe_controlnet.single_file import detect

    (shipped,) = detect(header({"control_model.input_hint_block.0.weight": (16, 3, 3, 3), "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768)}))
    assert shipped.use == (
        "It is a ControlNet for Stable Diffusion 1.x: load it with autopipe_controlnet.from_single_file(PATH) (diffusers' ControlNetModel.from_single_file "
        "over the config autopipe-controlnet ships, offline), then pass it as controlnet= when loading a Stable Diffusion 1.x checkpoint (from_pretrained or from_single_file)."
    )
    small = {"controlnet_cond_embedding.conv_in.weight": (16, 3, 3, 3), "add_embedding.linear_1.weight": (1280, 2816),
             "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": (640, 2048)}
    (unshipped,) = detect(header(small))
    assert (unshipped.variant, unshipped.config) == ("controlnet-sdxl-small", None)
    assert unshipped.use == (
        "It is a ControlNet for Stable Diffusion XL: load it with diffusers.ControlNetModel.from_single_file(PATH, config=<a folder with its config.json>), "
        "then pass it as controlnet= when loading a Stable Diffusion XL checkpoint (from_pretrained or from_single_file)."
    )


# --- loading: autopipe-sd's zero-terminal-SNR scheduler, autopipe-controlnet's loader ---------------------------------

ZERO_SNR = {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}


@pytest.fixture(scope="module")
def zero_snr_file(tmp_path_factory):
    """autopipe-sd's tiny single file with the v_pred and ztsnr marker tensors ComfyUI writes."""
    import torch
    from safetensors.torch import load_file, save_file

    from autopipe_sd.tiny import build_single_file

    root = tmp_path_factory.mktemp("zero-snr")
    state = load_file(str(build_single_file(root / "tiny.safetensors")))
    state["v_pred"], state["ztsnr"] = torch.tensor([]), torch.tensor([])
    save_file(state, str(root / "tiny-zsnr.safetensors"))
    return root / "tiny-zsnr.safetensors"


def test_a_zero_snr_sd_file_loads_with_ddim_rescaling_and_a_callers_config_decides(zero_snr_file, tmp_path, monkeypatch):
    from autopipe_core import AutoPipelineForText2Image
    from autopipe_sd.single_file import config_folder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = AutoPipelineForText2Image.from_single_file(str(zero_snr_file))  # the tiny config's PNDMScheduler cannot rescale
    config = pipe.scheduler.config
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"
    assert (config.prediction_type, config.rescale_betas_zero_snr, config.timestep_spacing, config.beta_end) == ("v_prediction", True, "trailing", 0.012)
    own = tmp_path / "own-config"
    shutil.copytree(config_folder("tiny"), own)
    scheduler_file = own / "scheduler" / "scheduler_config.json"
    scheduler_file.write_text(json.dumps({**json.loads(scheduler_file.read_text()), "_class_name": "EulerDiscreteScheduler"}))
    index = json.loads((own / "model_index.json").read_text())
    (own / "model_index.json").write_text(json.dumps({**index, "scheduler": ["diffusers", "EulerDiscreteScheduler"]}))
    euler = AutoPipelineForText2Image.from_single_file(str(zero_snr_file), config=str(own))  # a scheduler that rescales itself
    assert type(euler.scheduler).__name__ == "EulerDiscreteScheduler"
    assert (euler.scheduler.config.rescale_betas_zero_snr, euler.scheduler.config.prediction_type) == (True, "v_prediction")


def test_zero_snr_builds_ddim_for_a_scheduler_diffusers_does_not_have_and_names_a_broken_config(tmp_path):
    from autopipe_sd.single_file import config_folder, zero_snr_scheduler

    own = tmp_path / "own"
    shutil.copytree(config_folder("sd1"), own)
    scheduler_file = own / "scheduler" / "scheduler_config.json"
    shipped = json.loads(scheduler_file.read_text())
    for config in ({**shipped, "_class_name": "MySchedulerOfMyOwn"}, {k: v for k, v in shipped.items() if k != "_class_name"}):
        scheduler_file.write_text(json.dumps(config))
        built = zero_snr_scheduler(own, ZERO_SNR, {})
        assert type(built).__name__ == "DDIMScheduler" and built.config.rescale_betas_zero_snr is True
    scheduler_file.write_text("{not json")
    with pytest.raises(InvalidModelError) as info:
        zero_snr_scheduler(own, ZERO_SNR, {})
    assert str(info.value).startswith(f"scheduler/scheduler_config.json ({scheduler_file}) is not valid JSON: ")


@pytest.fixture
def diffusers_gets(monkeypatch):
    """What autopipe_controlnet.from_single_file hands diffusers' ControlNetModel.from_single_file (recorded, not loaded)."""
    from diffusers import ControlNetModel

    calls = []
    monkeypatch.setattr(ControlNetModel, "from_single_file", classmethod(lambda cls, path, **kwargs: calls.append((path, kwargs)) or "loaded"))
    return calls


def test_a_controlnet_file_is_loaded_offline_over_the_shipped_config_and_the_callers_keywords_win(tmp_path, diffusers_gets):
    import single_file_layouts as layouts

    from pathlib import Path

    import autopipe_controlnet
    from autopipe_controlnet.single_file import CONFIGS

    path = str(layouts.write(tmp_path / "control.safetensors", layouts.controlnet_layout("controlnet-sd1")))
    assert autopipe_controlnet.from_single_file(path, allow_pickle=False) == "loaded"
    assert diffusers_gets.pop() == (path, {"config": str(Path(CONFIGS) / "controlnet-sd1"), "local_files_only": True})
    autopipe_controlnet.from_single_file(path, config="mine", local_files_only=False, torch_dtype="x")
    assert diffusers_gets.pop() == (path, {"config": "mine", "local_files_only": False, "torch_dtype": "x"})
    small = str(layouts.write(tmp_path / "small.safetensors", layouts.controlnet_layout("controlnet-sdxl-small")))
    autopipe_controlnet.from_single_file(small)  # no config shipped for it: diffusers is given none
    assert diffusers_gets.pop() == (small, {"local_files_only": True})


def test_a_pickled_controlnet_is_refused_unless_allowed_and_then_loads(tmp_path):
    from pathlib import Path

    import torch
    from diffusers import ControlNetModel

    import autopipe_controlnet
    from autopipe_controlnet.single_file import CONFIGS

    torch.manual_seed(0)
    source = ControlNetModel.from_config(json.loads((Path(CONFIGS) / "controlnet-tiny" / "config.json").read_text()))
    path = tmp_path / "control_tiny.ckpt"
    torch.save({k: v.contiguous() for k, v in source.state_dict().items()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"control_tiny\.ckpt is a torch\.save zip archive with a pickle inside"):
        autopipe_controlnet.from_single_file(str(path))
    loaded = autopipe_controlnet.from_single_file(str(path), allow_pickle=True)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())


def test_the_canonical_cross_attention_is_read_before_any_name_that_sorts_first(header):
    from autopipe_controlnet.single_file import detect as detect_controlnet
    from autopipe_sd.single_file import detect as detect_sd

    earlier = UNET + "input_blocks.1.0.attn2.to_k.weight"  # sorts before input_blocks.1.1...: a stray tensor of another width
    (sd,) = detect_sd(header({CONV_IN: (320, 4, 3, 3), CROSS: (320, 768), earlier: (320, 1024), SD_TEXT: (49408, 768)}))
    assert sd.variant == "sd1"
    cond = "controlnet_cond_embedding.conv_in.weight"
    canonical = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    stray = "down_blocks.0.attentions.0.a.transformer_blocks.0.attn2.to_k.weight"
    (controlnet,) = detect_controlnet(header({cond: (16, 3, 3, 3), canonical: (320, 768), stray: (320, 1024)}))
    assert (controlnet.variant, controlnet.reason) == ("controlnet-sd1", f"diffusers layout ({cond}); {canonical} takes 768")
    assert controlnet.use.startswith("It is a ControlNet for Stable Diffusion 1.x: load it with autopipe_controlnet.from_single_file(PATH)")
    assert detect_controlnet(header({cond: (16, 3, 3, 3), canonical: (320, 768, 1)})) == []  # a cross-attention of another rank


def test_the_tiny_sdxl_layout_reads_what_the_file_states_too(header):
    from autopipe_sdxl.single_file import detect

    (d,) = detect(header({LABEL: (64, 2816), "v_pred": MARKER}))
    assert (d.variant, dict(d.scheduler)) == ("xl-tiny", {"prediction_type": "v_prediction"})
