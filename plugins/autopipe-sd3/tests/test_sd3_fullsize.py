"""SD 3.5 Large at full size, without its weights: the planner on header-only files of the true tensor shapes.

The rows at the end are the ones docs/placement.md's table gets for SD 3.5 Large (bench/placement_table.py's
budgets and wording); what each GPU gets follows from the weights (25.72 GiB in bfloat16, the transformer
15.17 GiB), the 2 GiB allowance at 1024x1024, and T5-XXL (8.87 GiB) left out where that alone makes it fit.
"""

from __future__ import annotations

import pytest

from autopipe_core import resolve
from autopipe_core.planning import plan
from autopipe_core.testing import gpu, placement_row, placements
from autopipe_sd3 import architectures

#: What each component holds, in elements: its parameters, and the transformer's position table (192 x 192 x 2432).
PARAMETERS = {
    "transformer": 8_056_627_520 + 89_653_248,
    "text_encoder": architectures.PUBLISHED["text_encoder"],
    "text_encoder_2": architectures.PUBLISHED["text_encoder_2"],
    "text_encoder_3": architectures.PUBLISHED["text_encoder_3"],
    "vae": 83_819_683,
}


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    return resolve(architectures.write_fullsize(tmp_path_factory.mktemp("fullsize") / "sd35-large"), "text2img")


def test_every_component_is_counted_from_its_headers_in_bfloat16(large):
    placed = plan(large, gpu(80))
    assert {c.name: c.parameters for c in placed.footprint.components} == PARAMETERS
    assert {c.dtype for c in placed.footprint.components} == {"bfloat16"}
    assert placed.footprint.weights == 2 * sum(PARAMETERS.values())
    assert (placed.plan.dtype, placed.plan.variant, placed.plan.placement, placed.plan.skip) == ("bfloat16", None, "device", frozenset())


def test_under_float16_t5_holds_its_wo_layers_in_float32(large):
    t5 = plan(large, gpu(80, bf16=False)).footprint.component("text_encoder_3")
    wo = 24 * 4096 * 10240  # one feed-forward output layer (10240 -> 4096) a block, kept in float32: 2 bytes more each
    assert t5.nbytes == 2 * PARAMETERS["text_encoder_3"] + 2 * wo


def test_on_24_gib_t5_is_left_out_and_the_rest_goes_on_the_gpu(large):
    placed = plan(large, gpu(24))
    assert placed.plan.skip == {"text_encoder_3"} and placed.plan.placement == "device"
    assert placed.footprint.weights == 2 * (sum(PARAMETERS.values()) - PARAMETERS["text_encoder_3"])
    assert "27.72 GiB" in placed.plan.reason and "18.85 GiB without T5-XXL (8.87 GiB)" in placed.plan.reason


def test_the_placement_table_rows(large):
    two = placements(large, 2)
    row = placement_row(large, "SD 3.5 Large")
    assert row == (
        "| SD 3.5 Large | 25.72 GiB | transformer 15.17 GiB | 2.00 GiB at 1024x1024 | sequential offload | sequential offload "
        "| sequential offload | sequential offload | device | device | device |"
    )
    # Two 24 GiB GPUs hold it whole, T5 included (balanced); two 16 GiB ones cannot hold the 15.17 GiB transformer with 2 GiB.
    assert two == ["sequential offload"] * 4 + ["balanced", "device", "device"]
