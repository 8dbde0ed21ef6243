"""FLUX.2 [dev] and [klein] 4B/9B at full size, without their weights: the planner on header-only folders of the true
tensor names and shapes (every component, the text encoders' vision tower and LM heads included).

Marked slow (the meta-device builds of a 32 B transformer and a 24 B text encoder, and the headers written from them,
take about ten seconds on two CPU cores, as long as the rest of the suite); `make test-slow` and .ci/run run it. The rows at the end are docs/flux2.md's
placement table (bench/placement_table.py's budgets and wording), from the weights and the family's allowance alone:
no GPU measured them.
"""

from __future__ import annotations

import pytest

from autopipe_core import resolve
from autopipe_core.planning import plan
from autopipe_core.testing import gpu, placement_row, placements
from autopipe_flux2.layout import write_header_only
from autopipe_flux2.single_file import config_folder

pytestmark = pytest.mark.slow

#: Elements each component holds: its parameters, and the VAE's batch-norm statistics (running mean and variance, 128 each,
#: and the int64 step counter) which the weight files carry.
VAE = 84_046_115 + 2 * 128 + 1
PARAMETERS = {
    "flux2-dev": {"transformer": 32_223_281_152, "text_encoder": 24_011_361_280, "vae": VAE},
    "flux2-klein-4b": {"transformer": 3_875_544_576, "text_encoder": 4_022_468_096, "vae": VAE},
    "flux2-klein-9b": {"transformer": 9_078_581_248, "text_encoder": 8_190_735_360, "vae": VAE},
}
NAMES = {"flux2-dev": "FLUX.2 [dev]", "flux2-klein-4b": "FLUX.2 [klein] 4B", "flux2-klein-9b": "FLUX.2 [klein] 9B"}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = tmp_path_factory.mktemp("fullsize")
    return {variant: resolve(write_header_only(config_folder(variant), root / variant), "text2img") for variant in PARAMETERS}


@pytest.mark.parametrize("variant", sorted(PARAMETERS))
def test_every_component_is_counted_from_its_headers_in_bfloat16(full, variant):
    placed = plan(full[variant], gpu(80))
    fp = placed.footprint
    assert {c.name: c.parameters for c in fp.components} == PARAMETERS[variant]
    assert {c.dtype for c in fp.components} == {"bfloat16"}
    assert fp.weights == 2 * sum(PARAMETERS[variant].values()) + 8 - 2  # the step counter is an int64: 8 bytes, not 2
    assert (placed.plan.dtype, placed.plan.variant, placed.plan.skip) == ("bfloat16", None, frozenset())


def test_without_bfloat16_everything_is_counted_in_float32(full):
    placed = plan(full["flux2-klein-4b"], gpu(80, bf16=False))
    assert placed.plan.dtype == "float32" and {c.dtype for c in placed.footprint.components} == {"float32"}
    assert placed.footprint.component("transformer").nbytes == 4 * PARAMETERS["flux2-klein-4b"]["transformer"]


def test_dev_on_one_80_gib_gpu_offloads_mistral_and_on_two_splits_the_models(full):
    """The memory saver, planned by the core's rules: the text encoder is moved off while the transformer denoises."""
    one = plan(full["flux2-dev"], gpu(80))
    assert one.plan.placement == "model_cpu_offload" and "transformer (60.02 GiB)" in one.plan.reason
    two = plan(full["flux2-dev"], gpu(80, 2))
    assert two.plan.placement == "balanced" and "transformer -> cuda:" in two.plan.reason and "text_encoder -> cuda:" in two.plan.reason
    assert plan(full["flux2-dev"], gpu(141)).plan.placement == "device"  # an H200 holds the whole pipeline


def test_the_remote_text_encoder_route_plans_the_transformer_alone(full):
    without = plan(full["flux2-dev"], gpu(80), kwargs={"text_encoder": None})
    assert without.footprint.component("text_encoder") is None and without.plan.placement == "device"
    assert without.footprint.weights == 2 * (PARAMETERS["flux2-dev"]["transformer"] + VAE) + 6


def test_the_placement_table_rows(full):
    rows = {variant: placement_row(resolution, NAMES[variant]) for variant, resolution in full.items()}
    two = {variant: placements(resolution, 2) for variant, resolution in full.items()}
    seq, model, dev, bal = "sequential offload", "model offload", "device", "balanced"
    assert rows["flux2-dev"] == (
        "| FLUX.2 [dev] | 104.90 GiB | transformer 60.02 GiB | 2.50 GiB at 1024x1024 | " + " | ".join([seq] * 6 + [model]) + " |"
    )
    assert rows["flux2-klein-4b"] == (
        "| FLUX.2 [klein] 4B | 14.87 GiB | text_encoder 7.49 GiB | 2.00 GiB at 1024x1024 | "
        + " | ".join([seq, seq, model, model, dev, dev, dev]) + " |"
    )
    assert rows["flux2-klein-9b"] == (
        "| FLUX.2 [klein] 9B | 32.32 GiB | transformer 16.91 GiB | 2.00 GiB at 1024x1024 | "
        + " | ".join([seq, seq, seq, seq, model, dev, dev]) + " |"
    )
    # Two GPUs: [dev]'s two models need 60 and 45 GiB with 2.5 GiB kept free on each, so only two 80 GiB GPUs split them;
    # [klein] 9B's 17 and 15 GiB go one a GPU from two 24 GiB ones; [klein] 4B's 7.2 and 7.5 GiB from two 12 or 16 GiB ones.
    assert two["flux2-dev"] == [seq] * 6 + [bal]
    assert two["flux2-klein-9b"] == [seq] * 4 + [bal, dev, dev]
    assert two["flux2-klein-4b"] == [seq, seq, bal, bal, dev, dev, dev]
