"""Krea 2 at full size, without its weights: the planner on a header-only folder of the true tensor names and shapes
(autopipe_krea2.fullsize: the shipped transformer config, Qwen3-VL-4B's shape, Qwen-Image's VAE).

Marked slow (the meta-device builds and the headers written from them take several seconds on two busy CPU cores). The
rows at the end are docs/krea2.md's placement table, from the weights and the family's allowance alone: no GPU measured them.
"""

from __future__ import annotations

import pytest

from autopipe_core import resolve
from autopipe_core.planning import GiB, plan
from autopipe_core.testing import gpu, placements
from autopipe_krea2.fullsize import write_header_only

pytestmark = pytest.mark.slow

BUDGETS_GIB = (4, 8, 12, 16, 24, 32, 40, 80)
PARAMETERS = {"transformer": 12_820_073_036, "text_encoder": 4_437_815_808, "vae": 126_892_531}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return resolve(write_header_only(tmp_path_factory.mktemp("krea2-full")), "text2img")


def test_every_component_is_counted_from_its_headers_the_norms_in_float32(full):
    placed = plan(full, gpu(80))
    fp = placed.footprint
    assert {c.name: c.parameters for c in fp.components} == PARAMETERS
    assert {c.dtype for c in fp.components} == {"bfloat16"} and placed.plan.dtype == "bfloat16"
    kept = fp.component("transformer").nbytes - 2 * PARAMETERS["transformer"]
    assert 0 < kept < 2 * 1024 * 1024  # the RMSNorm weights' extra 2 bytes each: about 1 MiB of 24 GiB
    assert round(fp.weights / GiB, 2) == 32.38


def test_without_bfloat16_the_whole_pipeline_is_counted_in_float32(full):
    placed = plan(full, gpu(80, bf16=False))
    assert placed.plan.dtype == "float32" and {c.dtype for c in placed.footprint.components} == {"float32"}
    assert placed.footprint.weights == 4 * sum(PARAMETERS.values())


def test_the_placement_table_rows(full):
    one = placements(full, budgets=BUDGETS_GIB)
    two = placements(full, 2, budgets=BUDGETS_GIB)
    seq, model, dev = "sequential offload", "model offload", "device"
    # The transformer (23.88 GiB) and the 5 GiB allowance need 29 GiB: model offload from 32 GiB, the whole pipeline
    # (32.38 GiB) from 40 GiB. Two 24 GiB GPUs split nothing: the transformer alone does not fit one with the allowance kept free.
    assert one == [seq] * 5 + [model, dev, dev]
    assert two == [seq] * 5 + ["balanced", dev, dev]  # two 32 GiB GPUs: the transformer on one, the encoder and VAE on the other
    whole = plan(full, gpu(80)).footprint
    assert (whole.largest.name, round(whole.largest.nbytes / GiB, 2), whole.activation.nbytes) == ("transformer", 23.88, 5 * GiB)
