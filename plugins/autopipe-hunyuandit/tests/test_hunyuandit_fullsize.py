"""HunyuanDiT v1.1 and v1.2 planned at full size, on header-only copies: the figures docs/hunyuandit.md gives.

Each component is built on the meta device from the published architecture
(:mod:`autopipe_hunyuandit.architectures`, with diffusers' and transformers'
own classes) and written as safetensors files whose header is real and whose
data is a hole, as the releases ship them (float32, mT5 in two shards). The
planner reads headers only, so it sees these as it would see the real
checkpoints. Building mT5-XL and the transformer on the meta device takes
several seconds: marked slow (``python -m pytest -m slow``). The numbers are
checked against the real v1.0 configs in ../shared/real_configs/hunyuandit
where that folder is present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import autopipe_hunyuandit as hunyuan
from autopipe_core import DeviceFacts, GiB, resolve
from autopipe_core.planning import plan
from autopipe_core.testing import gpu, placement_row, placements
from autopipe_hunyuandit import architectures

pytestmark = pytest.mark.slow

REAL = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[3].parent / "shared" / "real_configs") / "hunyuandit"
#: Elements each component holds, v1.2: the transformer (v1.1's has 16,582,016 more), the BERT text tower with its pooler,
#: mT5-XL's encoder (its release index's 6,679,834,624 float32 bytes / 4) and SDXL's VAE.
PARAMETERS = {"transformer": 1_499_952_032, "text_encoder": 352_035_840, "text_encoder_2": architectures.MT5_XL_PARAMETERS, "vae": 83_653_863}
V11_EXTRA = 16_582_016


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fullsize")
    return {version: architectures.write_fullsize(root / version, version) for version in ("v1.1", "v1.2")}


def test_every_component_is_counted_from_its_headers_in_float16(folders):
    resolution = resolve(folders["v1.2"], "text2img")
    assert (resolution.family, resolution.pipeline_class) == (hunyuan.FAMILY, "HunyuanDiTPipeline")
    placed = plan(resolution, gpu(80))
    assert {c.name: c.parameters for c in placed.footprint.components} == PARAMETERS
    assert {c.dtype for c in placed.footprint.components} == {"float16"}  # a GPU with bfloat16 too: HunyuanDiT is float16
    assert (placed.plan.dtype, placed.plan.variant, placed.plan.placement, placed.plan.skip) == ("float16", None, "device", frozenset())
    v11 = plan(resolve(folders["v1.1"], "text2img"), gpu(80)).footprint.component("transformer")
    assert v11.parameters == PARAMETERS["transformer"] + V11_EXTRA  # the style embedding and the wider extra-condition input


def test_mt5_holds_its_wo_layers_in_float32(folders):
    mt5 = plan(resolve(folders["v1.2"], "text2img"), gpu(80)).footprint.component("text_encoder_2")
    wo = 24 * 2048 * 5120  # one feed-forward output layer (5120 -> 2048) a block, kept in float32: 2 bytes more each
    assert mt5.nbytes == 2 * PARAMETERS["text_encoder_2"] + 2 * wo
    assert round(mt5.nbytes / GiB, 2) == 3.58


def test_on_a_cpu_the_whole_pipeline_is_about_14_gb_in_float32(folders):
    cpu = plan(resolve(folders["v1.2"], "text2img"), DeviceFacts("cpu"))
    assert cpu.plan.dtype == "float32" and cpu.footprint.weights == 4 * sum(PARAMETERS.values())
    assert round(cpu.footprint.weights / 1e9, 1) == 14.4 and "about 14 GB of weights in RAM" in cpu.plan.reason


@pytest.mark.parametrize("version, title, weights, largest", [
    ("v1.1", "HunyuanDiT v1.1", "7.22 GiB", "text_encoder_2 3.58 GiB"),
    ("v1.2", "HunyuanDiT v1.2", "7.18 GiB", "text_encoder_2 3.58 GiB"),
])
def test_the_placement_table_rows(folders, version, title, weights, largest):
    """docs/hunyuandit.md's rows, in docs/placement.md's wording (bench/placement_table.py's budgets)."""
    resolution = resolve(folders[version], "text2img")
    two = placements(resolution, 2)
    row = placement_row(resolution, title)
    assert row == (
        f"| {title} | {weights} | {largest} | 2.00 GiB at 1024x1024 | sequential offload | model offload "
        "| device | device | device | device | device |"
    )
    # Two 8 GiB GPUs hold it whole, spread (balanced); one 8 GiB GPU holds mT5 (3.58 GiB) with the 2 GiB allowance (model offload).
    assert two == ["sequential offload", "balanced"] + ["device"] * 5


def test_the_numbers_are_the_real_releases_configs():
    """The v1.0 release's configs (the corpus's hunyuandit folder: HunyuanDiT-Diffusers) say what :mod:`architectures` says."""
    if not REAL.is_dir():
        pytest.skip(f"the corpus of real configs is not at {REAL}")
    read = {name: json.loads((REAL / name / "config.json").read_text()) for name in ("transformer", "text_encoder", "text_encoder_2", "vae")}
    ours = architectures.numbers("v1.1")
    for name, numbers in ours.items():
        for key, value in numbers.items():
            if (name, key) == ("text_encoder_2", "is_encoder_decoder"):
                continue  # the release saved mT5's whole config (true); T5EncoderModel builds the encoder alone either way
            theirs = read[name].get(key)
            assert theirs == (list(value) if isinstance(value, tuple) else value), (name, key, theirs, value)
