"""Kandinsky 3 at full size, without its weights: the planner on header-only files of the true tensor shapes.

The last test's rows are what docs/placement.md's table would get for Kandinsky 3 (bench/placement_table.py's
budgets and wording): 26.44 GiB of weights as loaded in float16 (22.44 GiB of fp16 files, plus 4 GiB for the T5's
float32 ``wo`` layers), the T5 the largest at 20.25 GiB, and 3.5 GiB of activations at 1024x1024 (an estimate).
"""

from __future__ import annotations

import math

import pytest

from autopipe_core import resolve
from autopipe_core.planning import plan
from autopipe_core.testing import gpu, placement_row, placements
from autopipe_kandinsky import kandinsky3_fullsize as fullsize

#: One T5 block's feed-forward output layer, 16384 -> 4096, 32 of them: what transformers keeps in float32.
WO = 32 * 16384 * 4096


@pytest.fixture(scope="module")
def k3(tmp_path_factory):
    return resolve(fullsize.write_fullsize(tmp_path_factory.mktemp("fullsize") / "kandinsky-3"), "text2img")


def test_the_built_models_have_the_published_sizes():
    """Sber's README: U-Net 3B, Flan-UL2 encoder 8.6B, MoVQ 267M; the rebuilt architectures are those."""
    counted = {name: sum(math.prod(shape) for shape in fullsize.state_shapes(model).values())
               for name, model in fullsize.meta_models().items()}
    assert counted == dict(fullsize.PARAMETERS)
    assert 2.95e9 < counted["unet"] < 3.1e9 and 8.6e9 < counted["text_encoder"] < 8.8e9 and 2.6e8 < counted["movq"] < 2.8e8


def test_every_component_is_counted_from_its_fp16_headers(k3):
    placed = plan(k3, gpu(80))
    assert {c.name: c.parameters for c in placed.footprint.components} == dict(fullsize.PARAMETERS)
    assert (placed.plan.dtype, placed.plan.variant, placed.plan.placement) == ("float16", "fp16", "device")
    t5 = placed.footprint.component("text_encoder")
    assert t5.nbytes == 2 * fullsize.PARAMETERS["text_encoder"] + 2 * WO  # wo in float32: 2 bytes more each
    assert placed.footprint.weights == 2 * sum(fullsize.PARAMETERS.values()) + 2 * WO


def test_on_24_gib_the_t5_fits_alone_so_models_take_turns(k3):
    placed = plan(k3, gpu(24))
    assert placed.plan.placement == "model_cpu_offload" and placed.plan.skip == frozenset()
    assert "text_encoder (20.25 GiB), fits with the activations (23.75 GiB)" in placed.plan.reason


def test_the_placement_table_rows(k3):
    two = placements(k3, 2)
    row = placement_row(k3, "Kandinsky 3")
    assert row == (
        "| Kandinsky 3 | 26.44 GiB | text_encoder 20.25 GiB | 3.50 GiB at 1024x1024 | sequential offload | sequential offload "
        "| sequential offload | sequential offload | model offload | device | device |"
    )
    assert two == ["sequential offload"] * 4 + ["balanced", "device", "device"]
