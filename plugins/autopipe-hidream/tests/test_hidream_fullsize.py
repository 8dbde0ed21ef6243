"""HiDream-I1 at full size, without its weights: the planner on header-only folders of the true tensor names and shapes.

Marked slow (the meta-device builds of a 17 B transformer, Llama 3.1 8B and T5-XXL, and the headers written from
them, take about fifteen seconds of two busy CPU cores); `make test-slow` and .ci/run run it. The rows are
docs/hidream.md's placement table (bench/placement_table.py's budgets and wording), from the weights and the family's
allowance alone: no GPU measured them.
"""

from __future__ import annotations

import pytest

from autopipe_core import resolve
from autopipe_core.planning import GiB, plan
from autopipe_core.testing import gpu, placements
from autopipe_hidream.fullsize import write_header_only
from autopipe_hidream.loading import LLAMA_PARAMETERS

pytestmark = pytest.mark.slow

#: Each component's parameters, from the configs (autopipe_hidream.fullsize) built on the meta device.
PARAMETERS = {
    "transformer": 17_105_733_184,
    "text_encoder_4": LLAMA_PARAMETERS,
    "text_encoder_3": 4_762_310_656,
    "text_encoder_2": 694_878_720,
    "text_encoder": 123_781_632,
    "vae": 83_819_683,
}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The folder as third-party full copies are laid out (the Llama in it), and as HiDream-ai's are (without it)."""
    root = tmp_path_factory.mktemp("fullsize")
    return {
        "with-llama": resolve(write_header_only(root / "with-llama"), "text2img"),
        "hidream-ai": resolve(write_header_only(root / "hidream-ai", llama=False), "text2img"),
    }


@pytest.mark.parametrize("layout", ["with-llama", "hidream-ai"])
def test_every_component_is_counted_in_bfloat16_the_llama_too_where_the_checkpoint_lacks_it(full, layout):
    placed = plan(full[layout], gpu(80))
    fp = placed.footprint
    assert {c.name: c.parameters for c in fp.components} == PARAMETERS
    assert {c.dtype for c in fp.components} == {"bfloat16"} and fp.weights == 2 * sum(PARAMETERS.values())
    llama = fp.component("text_encoder_4").source
    assert (llama == "safetensors headers") == (layout == "with-llama") and ("the caller must pass" in llama) == (layout == "hidream-ai")
    assert (placed.plan.dtype, placed.plan.skip) == ("bfloat16", frozenset())


def test_a_passed_llama_is_counted_as_passed(full):
    """A quantised or smaller Llama passed in is what the plan counts, not the published size."""
    import torch

    small = torch.nn.Linear(1024, 1024, dtype=torch.bfloat16)
    placed = plan(full["hidream-ai"], gpu(80), kwargs={"text_encoder_4": small, "tokenizer_4": object()})
    assert placed.footprint.component("text_encoder_4").nbytes == 2 * (1024 * 1024 + 1024)


def test_without_bfloat16_everything_is_counted_in_float32(full):
    placed = plan(full["with-llama"], gpu(80, bf16=False))
    assert placed.plan.dtype == "float32" and {c.dtype for c in placed.footprint.components} == {"float32"}
    assert placed.footprint.weights == 4 * sum(PARAMETERS.values()) and placed.plan.placement == "model_cpu_offload"


def test_the_placement_table_rows(full):
    seq, model, dev, bal = "sequential offload", "model offload", "device", "balanced"
    for resolution in full.values():
        whole = plan(resolution, gpu(80)).footprint
        assert (round(whole.weights / GiB, 2), whole.largest.name, round(whole.largest.nbytes / GiB, 2)) == (57.37, "transformer", 31.86)
        assert (whole.activation.nbytes, whole.activation.width, whole.activation.height) == (2 * GiB, 1024, 1024)
        assert placements(resolution) == [seq] * 5 + [model, dev]
        assert placements(resolution, 2) == [seq] * 5 + [bal, dev]
        assert placements(resolution, budgets=[141]) == [dev]  # an H200 holds it whole
    reason = plan(full["hidream-ai"], gpu(48)).plan.reason
    assert "the largest component, transformer (31.86 GiB), fits with the activations (33.86 GiB)" in reason
