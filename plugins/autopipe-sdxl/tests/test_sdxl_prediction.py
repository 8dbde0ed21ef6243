"""autopipe-sdxl's single-file detection reads v-prediction and zero terminal SNR through the core's shared reading.

Headers hold the tensors SDXL detection reads, with their true names and
shapes (the base's and refiner's ``label_emb``, the first convolution, one
tensor of each text encoder), plus ``v_pred`` / ``ztsnr`` as ComfyUI saves
them (``torch.tensor([])``) or model-spec metadata as kohya writes it.
"""

import pytest

from autopipe_core.headers import read_header, write_header
from autopipe_sdxl.single_file import detect

MARKER = ("F32", (0,))
ZERO_SNR = {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}
UNET = "model.diffusion_model."
CLIP_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
LAYOUTS = {
    "xl-base": {UNET + "label_emb.0.0.weight": (1280, 2816), UNET + "input_blocks.0.0.weight": (320, 4, 3, 3), CLIP_L: (49408, 768),
                "conditioner.embedders.1.model.token_embedding.weight": (49408, 1280)},
    "xl-inpainting": {UNET + "label_emb.0.0.weight": (1280, 2816), UNET + "input_blocks.0.0.weight": (320, 9, 3, 3), CLIP_L: (49408, 768),
                      "conditioner.embedders.1.model.token_embedding.weight": (49408, 1280)},
    "xl-refiner": {UNET + "label_emb.0.0.weight": (1536, 2560), UNET + "input_blocks.0.0.weight": (384, 4, 3, 3),
                   "conditioner.embedders.0.model.token_embedding.weight": (49408, 1280)},
}


def _header(tmp_path, variant, metadata=None, markers=()):
    tensors = {**{k: ("F16", shape) for k, shape in LAYOUTS[variant].items()}, **{m: MARKER for m in markers}}
    return read_header(write_header(tmp_path / f"{variant}-{len(list(tmp_path.iterdir()))}.safetensors", tensors, metadata))


@pytest.mark.parametrize("variant", sorted(LAYOUTS))
def test_v_pred_and_ztsnr_markers_give_v_prediction_with_zero_terminal_snr(tmp_path, variant):
    (d,) = detect(_header(tmp_path, variant, markers=("v_pred", "ztsnr")))
    assert (d.variant, d.scheduler) == (variant, ZERO_SNR)
    assert "v-prediction with zero terminal SNR from marker tensors v_pred, ztsnr" in d.reason
    (plain,) = detect(_header(tmp_path, variant))
    assert plain.variant == variant and plain.scheduler == {} and "states no prediction type" in plain.reason


def test_v_pred_alone_and_kohya_metadata_give_v_prediction(tmp_path):
    (marker,) = detect(_header(tmp_path, "xl-base", markers=("v_pred",)))
    assert marker.scheduler == {"prediction_type": "v_prediction"} and "marker tensor v_pred" in marker.reason
    kohya = {"modelspec.architecture": "stable-diffusion-xl-v1-base", "modelspec.prediction_type": "v"}
    (meta,) = detect(_header(tmp_path, "xl-base", kohya))
    assert meta.scheduler == {"prediction_type": "v_prediction"} and "metadata modelspec.prediction_type = 'v'" in meta.reason


def test_a_ztsnr_marker_without_v_prediction_is_named_and_applies_nothing(tmp_path):
    (d,) = detect(_header(tmp_path, "xl-base", markers=("ztsnr",)))
    assert d.scheduler == {} and "marker tensor ztsnr" in d.reason and "v-prediction only" in d.reason
