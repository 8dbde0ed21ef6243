"""autopipe_core.toolkit.allowance: the families' allowances as data give the figures their hand-written footprint hooks
gave (docs/placement.md's "activations" column), at the native size and at others, in each dtype."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autopipe_core import Activation, ComponentBytes, DeviceFacts, Footprint, GiB, Identity, InvalidModelError, LoadPlan, resolve
from autopipe_core.planning import plan, scaled
from autopipe_core.toolkit.allowance import Allowance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import fullsize  # noqa: E402

GPU = DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True)
F16 = LoadPlan("float16", None, "device", "cuda", "")
F32 = LoadPlan("float32", None, "device", "cpu", "")

#: docs/placement.md's activation column, as the hand-written hooks computed it: (GiB, side) at each checkpoint's native size.
TABLE = {"sd15": (1.5, 512), "sdxl": (3.0, 1024), "kandinsky21": (2.0, 768), "kandinsky22": (2.0, 768), "if-i-xl": (2.0, 64)}


@pytest.fixture(autouse=True)
def _every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fullsize")
    return {name: fullsize.write(name, root) for name in TABLE}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_full_size_checkpoints_get_the_figures_of_the_placement_table(checkpoints, name):
    act = plan(resolve(checkpoints[name], "text2img"), GPU).footprint.activation
    nbytes, side = TABLE[name]
    assert (act.nbytes, act.width, act.height) == (int(nbytes * GiB), side, side)


def _old(at: int, fixed: int, reference: int, w: int, h: int, dtype: str) -> int:
    """The hand-written hooks' arithmetic: planning.scaled with each family's constants."""
    return scaled(at, fixed, w, h, reference, dtype)


@pytest.mark.parametrize("size", [(512, 512), (768, 768), (1024, 576), (64, 64)])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_each_familys_allowance_scales_as_its_hook_did(size, dtype):
    from autopipe_deepfloyd_if.loading import ALLOWANCE as IF
    from autopipe_kandinsky.loading import ALLOWANCE as KANDINSKY
    from autopipe_sd.loading import ALLOWANCE as SD
    from autopipe_sdxl.loading import FP16_VAE, UPCAST_VAE

    w, h = size
    p = LoadPlan(dtype, None, "device", "cuda", "")
    identity = Identity("folder", "x", "AnyPipeline")
    expected = {
        SD: _old(GiB, GiB // 2, 512, w, h, dtype),
        UPCAST_VAE: _old(5 * GiB // 2, GiB // 2, 1024, w, h, dtype),
        FP16_VAE: _old(3 * GiB // 2, GiB // 2, 1024, w, h, dtype),
        KANDINSKY: _old(3 * GiB // 2, GiB // 2, 768, w, h, dtype),
        IF: _old(GiB // 2, 3 * GiB // 2, 64, w, h, dtype),
    }
    for allowance, nbytes in expected.items():
        act = allowance.activation(identity, p, w, h)
        assert (act.nbytes, act.width, act.height) == (nbytes, w, h), allowance.what


def test_the_native_side_is_read_from_the_config_and_checked():
    sd = Allowance(at=GiB, reference=512, fixed=GiB // 2, native=("unet", "sample_size", 8), what="UNet activations")
    sd2 = Identity("folder", "x", "StableDiffusionPipeline", configs={"unet": {"sample_size": 96}})
    act = sd.activation(sd2, F16)
    assert (act.width, act.height, act.nbytes) == (768, 768, GiB // 2 + GiB * 768 * 768 // (512 * 512))
    assert sd.side(Identity("folder", "x", "StableDiffusionPipeline")) == 512  # no config read: the reference
    assert Allowance(at=GiB, reference=512, default=640, native=("unet", "sample_size", 8), what="x").side(Identity("folder", "x", "P")) == 640
    assert sd.activation(sd2, F16, 256, None).width == 256 and sd.activation(sd2, F16, 256, None).height == 768
    corrupt = Identity("folder", "x", "StableDiffusionPipeline", configs={"unet": {"sample_size": 10**300}})
    with pytest.raises(InvalidModelError, match="sample_size"):
        sd.activation(corrupt, F16)


def test_the_reason_says_what_where_which_dtype_and_the_fixed_part():
    sd = Allowance(at=GiB, reference=512, fixed=GiB // 2, what="UNet activations at batch 2 and the VAE decode")
    act = sd.activation(Identity("folder", "x", "P"), F32, 640, 480)
    assert act.reason == "UNet activations at batch 2 and the VAE decode at 640x480 in float32, plus 0.5 GiB workspace"
    assert Allowance(at=GiB, reference=64, what="small").activation(Identity("folder", "x", "P"), F16).reason == "small at 64x64 in float16"


def test_footprint_keeps_the_weights_and_adds_the_activation():
    counted = Footprint((ComponentBytes("unet", 10, 5, "float16", "test"),), Activation(1, 1, 1, "old"))
    sd = Allowance(at=GiB, reference=512, what="x")
    out = sd.footprint(Identity("folder", "x", "P"), F16, counted, None, None)
    assert out.components == counted.components and out.activation.nbytes == GiB


def test_modules_a_library_keeps_in_float32_are_counted_again(checkpoints):
    """IF's T5: its wo layers stay float32 under float16 (transformers' _keep_in_fp32_modules), 2 GB more."""
    from autopipe_deepfloyd_if.loading import ALLOWANCE as IF

    placed = plan(resolve(checkpoints["if-i-xl"], "text2img"), GPU)
    text = placed.footprint.component("text_encoder")
    assert "wo kept in float32" in text.source and text.nbytes == 2 * text.parameters + 2 * 24 * 10240 * 4096
    bare = Allowance(at=IF.at, reference=IF.reference, fixed=IF.fixed, what=IF.what)  # the same without float32_modules
    plain = ComponentBytes("text_encoder", 2 * text.parameters, text.parameters, "float16", "safetensors headers", text.files)
    identity = resolve(checkpoints["if-i-xl"], "text2img").identity
    assert bare.footprint(identity, F16, Footprint((plain,)), None, None).component("text_encoder").nbytes == 2 * text.parameters
    recounted = IF.footprint(identity, F16, Footprint((plain,)), None, None).component("text_encoder")
    assert recounted.nbytes == text.nbytes
    # in float32 nothing is kept apart: nothing to count again
    in_float32 = ComponentBytes("text_encoder", 4 * text.parameters, text.parameters, "float32", "safetensors headers", text.files)
    assert IF.footprint(identity, F32, Footprint((in_float32,)), None, None).component("text_encoder") == in_float32


@pytest.mark.parametrize("bad", [
    dict(at=-1, reference=512, what="x"),
    dict(at=GiB, reference=0, what="x"),
    dict(at=GiB, reference=512, what=""),
    dict(at=GiB, reference=512, what="x", native=("unet", "sample_size")),
    dict(at=GiB, reference=512, what="x", native=("unet", "sample_size", 0)),
    dict(at=GiB, reference=512, what="x", float32_modules={"text_encoder": "wo"}),
    dict(at=True, reference=512, what="x"),
])
def test_bad_allowances_fail_when_declared(bad):
    with pytest.raises(ValueError, match="Allowance"):
        Allowance(**bad)


def test_an_allowance_is_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        Allowance(GiB, 512, "x")  # which number is which: say it
    allowance = Allowance(at=GiB, reference=512, what="x", float32_modules={"text_encoder": ["wo"]})
    assert allowance.float32_modules == {"text_encoder": ("wo",)}
    with pytest.raises(TypeError):
        allowance.float32_modules["vae"] = ("x",)
