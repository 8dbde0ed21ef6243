"""Single files say their prediction type: the shared reading (autopipe_core.prediction) and loading end to end.

The headers carry the true tensor names and shapes of SD 1.x and SDXL
checkpoints (single_file_layouts.py: sparse files, only the header is read),
with the metadata and marker tensors real tools write: the SAI model spec's
``modelspec.prediction_type`` / ``modelspec.architecture`` (kohya-ss/sd-scripts
writes them), ComfyUI's ``modelspec.predict_key`` and its ``v_pred`` / ``ztsnr``
empty marker tensors, kohya's ``ss_zero_terminal_snr``. The end-to-end tests
load the tiny SD and SDXL files in the original layout through
``from_single_file`` and look at the scheduler diffusers was given.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import single_file_layouts as layouts
from autopipe_core import prediction
from autopipe_core.headers import read_header
from autopipe_core.prediction import EPSILON, V_PREDICTION, Prediction

#: The marker tensors as ComfyUI saves them: ``torch.tensor([])``, float32 of shape (0,).
MARKER = ("F32", (0,))
ZERO_SNR = {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}


@pytest.fixture(scope="module")
def header(tmp_path_factory):
    """header(variant, metadata=None, markers=()) -> the header of a sparse full-size file with those extras."""
    root = tmp_path_factory.mktemp("prediction-headers")
    count = iter(range(10_000))

    def get(variant: str, metadata: dict | None = None, markers: tuple[str, ...] = ()):
        tensors = {**layouts.layout(variant), **{name: MARKER for name in markers}}
        return read_header(layouts.write(root / f"{variant}-{next(count)}.safetensors", tensors, metadata))

    return get


# The shared reading.

def test_modelspec_prediction_type_v_reads_as_v_prediction(header):
    got = prediction.read(header("sd1", {"modelspec.sai_model_spec": "1.0.1", "modelspec.architecture": "stable-diffusion-v1", "modelspec.prediction_type": "v"}))
    assert got == Prediction(V_PREDICTION, None, "metadata modelspec.prediction_type = 'v'")
    assert got.scheduler_config() == {"prediction_type": "v_prediction"}
    assert "v-prediction from metadata modelspec.prediction_type = 'v'" in got.describe()


def test_kohya_epsilon_metadata_on_sdxl_reads_as_epsilon(header):
    # what kohya-ss/sd-scripts writes on an SDXL checkpoint trained without --v_parameterization
    got = prediction.read(header("xl-base", {"modelspec.architecture": "stable-diffusion-xl-v1-base", "modelspec.prediction_type": "epsilon"}))
    assert (got.type, got.zero_terminal_snr, got.scheduler_config()) == (EPSILON, None, {"prediction_type": "epsilon"})


def test_v_pred_and_ztsnr_marker_tensors_read_as_v_prediction_with_zero_terminal_snr(header):
    h = header("xl-base", markers=("v_pred", "ztsnr"))
    assert h.tensors["v_pred"].shape == (0,) and h.tensors["ztsnr"].numel == 0
    got = prediction.read(h)
    assert got == Prediction(V_PREDICTION, True, "marker tensors v_pred, ztsnr")
    assert got.scheduler_config() == ZERO_SNR
    assert prediction.scheduler_config(h) == ZERO_SNR


def test_comfyui_saved_checkpoint_reads_from_its_marker_and_its_predict_key(header):
    # comfy_extras/nodes_model_merging.py save_checkpoint: modelspec.predict_key = "v" and an empty v_pred tensor
    metadata = {"modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": "stable-diffusion-xl-v1-base", "modelspec.predict_key": "v"}
    with_marker = prediction.read(header("xl-base", metadata, ("v_pred",)))
    assert (with_marker.type, with_marker.source) == (V_PREDICTION, "marker tensor v_pred")
    metadata_only = prediction.read(header("xl-base", metadata))
    assert (metadata_only.type, metadata_only.source) == (V_PREDICTION, "metadata modelspec.predict_key = 'v'")


@pytest.mark.parametrize(
    "architecture, expected",
    [
        ("stable-diffusion-v2-768-v", V_PREDICTION),
        ("stable-diffusion-v2-768-v/lora", V_PREDICTION),  # kohya's adapter form
        ("stable-diffusion-v2-768-v-lora", V_PREDICTION),  # the model spec's adapter form
        ("stable-diffusion-v2-512", EPSILON),
        ("stable-diffusion-v2-512-inpainting", EPSILON),
        ("stable-diffusion-v1", None),  # says nothing about prediction
        ("stable-diffusion-xl-v1-base", None),  # written for epsilon and v-prediction SDXL files alike
    ],
)
def test_modelspec_architecture_says_v_or_epsilon_only_where_the_spec_names_it(header, architecture, expected):
    got = prediction.read(header("sd2-v", {"modelspec.architecture": architecture}))
    assert got.type == expected
    assert (got.source == f"metadata modelspec.architecture = {architecture!r}") == (expected is not None)


def test_kohya_style_flags_give_v_prediction_and_zero_terminal_snr(header):
    got = prediction.read(header("sd1", {"ss_v_parameterization": "True", "ss_zero_terminal_snr": "True"}))
    assert (got.type, got.zero_terminal_snr) == (V_PREDICTION, True)
    assert got.source == "metadata ss_v_parameterization = 'True'; metadata ss_zero_terminal_snr = 'True'"
    assert got.scheduler_config() == ZERO_SNR
    off = prediction.read(header("sd1", {"modelspec.prediction_type": "v", "ss_zero_terminal_snr": "False"}))
    assert (off.zero_terminal_snr, off.scheduler_config()) == (False, {"prediction_type": "v_prediction"})


def test_ztsnr_without_v_prediction_is_recorded_and_applies_nothing(header):
    got = prediction.read(header("xl-base", markers=("ztsnr",)))
    assert (got.type, got.zero_terminal_snr, got.scheduler_config()) == (None, True, {})
    assert "marker tensor ztsnr" in got.source and "v-prediction only" in got.source
    eps = prediction.read(header("xl-base", {"modelspec.prediction_type": "epsilon"}, ("ztsnr",)))
    assert eps.scheduler_config() == {"prediction_type": "epsilon"}  # never rescaled to zero SNR with epsilon


def test_a_marker_and_metadata_that_disagree_follow_the_marker_and_say_so(header):
    got = prediction.read(header("xl-base", {"modelspec.prediction_type": "epsilon"}, ("v_pred",)))
    assert got.type == V_PREDICTION
    assert got.source.startswith("marker tensor v_pred; metadata modelspec.prediction_type = 'epsilon' disagrees")
    between = prediction.read(header("sd1", {"modelspec.prediction_type": "epsilon", "ss_v_parameterization": "true"}))
    assert between.type == EPSILON and "ss_v_parameterization = 'true' disagrees" in between.source


def test_values_not_understood_and_edm_markers_apply_nothing(header):
    odd = prediction.read(header("sd1", {"modelspec.prediction_type": "flow"}))
    assert (odd.type, odd.scheduler_config()) == (None, {}) and "'flow' is not a prediction type" in odd.source
    edm = prediction.read(header("xl-base", markers=("edm_vpred.sigma_max", "edm_vpred.sigma_min", "v_pred")))
    assert (edm.type, edm.scheduler_config()) == (None, {}) and "EDM v-prediction" in edm.source


def test_a_file_that_says_nothing_reads_as_nothing(header):
    got = prediction.read(header("xl-base", {"format": "pt"}))
    assert got == Prediction() and not got.found and got.scheduler_config() == {}
    assert "does not say" in got.describe()
    with pytest.raises(ValueError, match="prediction type must be"):
        Prediction("v")


def test_the_shared_reading_imports_nothing_heavy():
    code = "import autopipe_core.prediction, sys; print([m for m in ('torch', 'diffusers', 'transformers', 'safetensors') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


# Every shipped family's detection uses it.

@pytest.fixture
def both_plugins(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd,autopipe-sdxl")


def test_an_sd1_file_with_v_metadata_resolves_with_v_prediction_in_its_detection(header, both_plugins):
    from autopipe_core import single_file

    best = single_file.detect(header("sd1", {"modelspec.prediction_type": "v"})).best
    assert (best.plugin, best.variant) == ("autopipe-sd", "sd1")
    assert best.scheduler == {"prediction_type": "v_prediction"}
    assert "v-prediction from metadata modelspec.prediction_type = 'v'" in best.reason
    plain = single_file.detect(header("sd1")).best
    assert plain.scheduler == {} and "states no prediction type" in plain.reason


def test_an_sdxl_file_with_v_pred_and_ztsnr_markers_resolves_with_zero_terminal_snr(header, both_plugins):
    from autopipe_core import resolve

    for variant, path_variant in (("xl-base", "xl-base"), ("xl-inpainting", "xl-inpainting"), ("xl-refiner", "xl-refiner")):
        h = header(path_variant, markers=("v_pred", "ztsnr"))
        r = resolve(h.path, "inpaint")
        detection = r.identity.detection
        assert (detection.plugin, detection.variant) == ("autopipe-sdxl", variant)
        assert detection.scheduler == ZERO_SNR
        assert "v-prediction with zero terminal SNR from marker tensors v_pred, ztsnr" in detection.reason


# End to end on the tiny checkpoints.

def _resave(source: Path, target: Path, metadata: dict[str, str] | None = None, markers: tuple[str, ...] = ()) -> Path:
    """The same weights with this metadata and these ComfyUI-style marker tensors (``torch.tensor([])``) added."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), framework="pt") as f:
        meta = dict(f.metadata() or {})
    state = load_file(str(source))
    state.update({name: torch.tensor([]) for name in markers})
    save_file(state, str(target), metadata={**meta, **(metadata or {})})
    return target


@pytest.fixture(scope="module")
def tiny_sd_file(tmp_path_factory) -> Path:
    from autopipe_sd.tiny import build_single_file

    return build_single_file(tmp_path_factory.mktemp("tiny-prediction") / "tiny-sd.safetensors")


def test_a_tiny_sd_file_with_v_metadata_loads_with_a_v_prediction_scheduler_and_the_callers_win(tiny_sd_file, tmp_path):
    from diffusers import DDIMScheduler

    from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image

    path = _resave(tiny_sd_file, tmp_path / "tiny-v.safetensors", {"modelspec.prediction_type": "v"})
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"  # the shipped scheduler, configured as the file says
    assert pipe("a cat", height=64, width=64, num_inference_steps=2, output_type="np").images.shape == (1, 64, 64, 3)
    assert AutoPipelineForImage2Image.from_single_file(str(path)).scheduler.config.prediction_type == "v_prediction"
    # the caller's own scheduler, or their own entry, wins over the file
    own = DDIMScheduler(prediction_type="epsilon")
    assert AutoPipelineForText2Image.from_single_file(str(path), scheduler=own).scheduler is own
    with pytest.warns(FutureWarning):  # diffusers' legacy kwarg, deprecated but honoured
        legacy = AutoPipelineForText2Image.from_single_file(str(path), prediction_type="epsilon")
    assert legacy.scheduler.config.prediction_type == "epsilon"
    # and a file that says nothing keeps the shipped epsilon config
    assert AutoPipelineForText2Image.from_single_file(str(tiny_sd_file)).scheduler.config.prediction_type == "epsilon"


def test_a_tiny_sd_file_with_zero_terminal_snr_gets_a_scheduler_that_can_rescale(tiny_sd_file, tmp_path):
    from autopipe_core import AutoPipelineForText2Image

    path = _resave(tiny_sd_file, tmp_path / "tiny-ztsnr.safetensors", markers=("v_pred", "ztsnr"))
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    config = pipe.scheduler.config
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"  # PNDM has no rescale_betas_zero_snr; diffusers documents it on DDIM
    assert (config.prediction_type, config.rescale_betas_zero_snr, config.timestep_spacing) == ("v_prediction", True, "trailing")
    assert float(pipe.scheduler.alphas_cumprod[-1]) == 0.0  # zero terminal SNR
    assert pipe.scheduler.config.beta_schedule == "scaled_linear" and pipe.scheduler.config.beta_end == 0.012  # the shipped betas, rescaled
    pipe.scheduler.set_timesteps(4)
    assert int(pipe.scheduler.timesteps[0]) == 999  # trailing: sampling starts at the last timestep
    assert pipe("a cat", height=64, width=64, num_inference_steps=2, output_type="np").images.shape == (1, 64, 64, 3)


def test_a_tiny_sdxl_file_with_v_pred_and_ztsnr_markers_loads_with_zero_terminal_snr(tmp_path, both_plugins):
    from diffusers import EulerDiscreteScheduler

    from autopipe_core import AutoPipelineForText2Image

    built = layouts.build_tiny_sdxl_file(tmp_path / "tiny-sdxl.safetensors")
    path = _resave(built, tmp_path / "tiny-sdxl-vpred.safetensors", markers=("v_pred", "ztsnr"))
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    config = pipe.scheduler.config
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert (config.prediction_type, config.rescale_betas_zero_snr, config.timestep_spacing) == ("v_prediction", True, "trailing")
    assert pipe("a cat", height=64, width=64, num_inference_steps=2, output_type="np").images.shape == (1, 64, 64, 3)
    own = EulerDiscreteScheduler()  # the caller's own scheduler wins
    assert AutoPipelineForText2Image.from_single_file(str(path), scheduler=own).scheduler is own
