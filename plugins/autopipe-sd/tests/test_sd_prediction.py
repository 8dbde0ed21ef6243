"""autopipe-sd's single-file detection reads the prediction type through the core's shared reading.

Sparse files with the true SD 1.x / 2.x tensor names and shapes
(tests/single_file_layouts.py) plus the metadata and marker tensors real tools
write; only headers are read, except for the scheduler helper, which builds
diffusers schedulers from the shipped configs.
"""

import pytest

import single_file_layouts as layouts
from autopipe_core.headers import read_header
from autopipe_sd.single_file import config_folder, detect, zero_snr_scheduler

MARKER = ("F32", (0,))  # torch.tensor([]), as ComfyUI saves v_pred and ztsnr
ZERO_SNR = {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}


@pytest.fixture(scope="module")
def header(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd-prediction")
    count = iter(range(10_000))

    def get(variant, metadata=None, markers=()):
        tensors = {**layouts.layout(variant), **{name: MARKER for name in markers}}
        return read_header(layouts.write(root / f"{variant}-{next(count)}.safetensors", tensors, metadata))

    return get


def test_sd1_v_prediction_comes_from_the_metadata_into_detection_scheduler(header):
    (d,) = detect(header("sd1", {"modelspec.prediction_type": "v"}))
    assert (d.variant, d.scheduler) == ("sd1", {"prediction_type": "v_prediction"})
    assert "v-prediction from metadata modelspec.prediction_type = 'v'" in d.reason
    (plain,) = detect(header("sd1"))
    assert plain.scheduler == {} and "epsilon, as SD 1.x was released: the file states no prediction type" in plain.reason


def test_sd1_inpainting_and_sd2_inpainting_take_what_the_file_says(header):
    (d,) = detect(header("sd1-inpainting", markers=("v_pred",)))
    assert (d.variant, d.scheduler) == ("sd1-inpainting", {"prediction_type": "v_prediction"}) and "marker tensor v_pred" in d.reason
    (d2,) = detect(header("sd2-inpainting"))
    assert d2.scheduler == {} and "SD 2 inpainting predicts epsilon" in d2.reason
    (d3,) = detect(header("sd2-inpainting", {"modelspec.prediction_type": "epsilon"}))
    assert d3.scheduler == {"prediction_type": "epsilon"} and "modelspec.prediction_type = 'epsilon'" in d3.reason


@pytest.mark.parametrize(
    "metadata, markers, variant, source",
    [
        ({}, ("v_pred",), "sd2-v", "marker tensor v_pred"),
        ({"modelspec.predict_key": "epsilon"}, (), "sd2-base", "metadata modelspec.predict_key = 'epsilon'"),  # ComfyUI's key
        ({"modelspec.architecture": "stable-diffusion-v2-768-v/lora"}, (), "sd2-v", "metadata modelspec.architecture"),
        ({"modelspec.prediction_type": "v"}, (), "sd2-v", "metadata modelspec.prediction_type = 'v'"),
    ],
)
def test_sd2_picks_its_config_folder_from_the_shared_reading(header, metadata, markers, variant, source):
    (d,) = detect(header("sd2-v", metadata, markers))
    assert (d.variant, d.confidence) == (variant, 0.95)
    assert source in d.reason and f"the {variant} config" in d.reason
    assert d.scheduler["prediction_type"] == ("v_prediction" if variant == "sd2-v" else "epsilon")


def test_sd2_with_zero_terminal_snr_gets_the_entries_and_an_unsure_file_gets_none(header):
    (d,) = detect(header("sd2-v", {"ss_v_parameterization": "True", "ss_zero_terminal_snr": "True"}))
    assert (d.variant, d.scheduler) == ("sd2-v", ZERO_SNR) and "with zero terminal SNR" in d.reason
    unsure = detect(header("sd2-v", markers=("ztsnr",)))  # ztsnr alone says nothing about v or epsilon
    assert [(x.variant, dict(x.scheduler)) for x in unsure] == [("sd2-v", {}), ("sd2-base", {})]
    assert "cannot be told from the tensors" in unsure[0].reason and "marker tensor ztsnr" in unsure[0].reason


def test_a_zero_snr_file_gets_ddim_where_the_shipped_scheduler_cannot_rescale():
    ddim = zero_snr_scheduler(config_folder("sd1"), ZERO_SNR, {})  # PNDMScheduler: no rescale_betas_zero_snr
    assert type(ddim).__name__ == "DDIMScheduler"
    assert (ddim.config.prediction_type, ddim.config.rescale_betas_zero_snr, ddim.config.timestep_spacing) == ("v_prediction", True, "trailing")
    assert (ddim.config.beta_start, ddim.config.beta_end, ddim.config.clip_sample) == (0.00085, 0.012, False)  # the shipped betas
    assert zero_snr_scheduler(config_folder("sd2-v"), ZERO_SNR, {}) is None  # DDIM already: the core applies the entries
    assert zero_snr_scheduler(config_folder("sd1"), {"prediction_type": "v_prediction"}, {}) is None  # no zero SNR asked
    assert zero_snr_scheduler(config_folder("sd1"), ZERO_SNR, {"scheduler": object()}) is None  # the caller's win
    assert zero_snr_scheduler(config_folder("sd1"), ZERO_SNR, {"prediction_type": "epsilon"}) is None
