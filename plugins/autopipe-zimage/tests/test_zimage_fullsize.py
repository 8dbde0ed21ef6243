"""Z-Image-Turbo at full size, without its weights: the published architecture's parameter counts, and the planner on
header-only files of the true tensor shapes, laid out and stored as Tongyi-MAI/Z-Image-Turbo is (the transformer in
float32 shards, the Qwen3-4B encoder and the VAE in bfloat16).

Slow (about 15 s of CPU: building a 6 B transformer and a 4 B encoder on the meta device, twice): `pytest -m slow`. The
rows at the end are docs/zimage.md's placement table, and what docs/placement.md's table gets for Z-Image-Turbo
(bench/placement_table.py's budgets and wording).
"""

from __future__ import annotations

import pytest

from autopipe_core import resolve
from autopipe_core.planning import plan
from autopipe_core.testing import gpu, placement_row, placements
from autopipe_zimage import architectures

pytestmark = pytest.mark.slow

COMPONENTS = ("transformer", "text_encoder", "vae")


@pytest.fixture(scope="module")
def turbo(tmp_path_factory):
    return resolve(architectures.write_fullsize(tmp_path_factory.mktemp("fullsize") / "z-image-turbo"), "text2img")


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_built_models_have_the_published_sizes():
    """6.15 B (the 24.6 GB of float32 shards Tongyi-MAI ships), Qwen3-4B's 4.02 B, FLUX.1's VAE; the ControlNets as built."""
    models = architectures.meta_models()
    assert {name: _count(models[name]) for name in COMPONENTS} == {name: architectures.PARAMETERS[name] for name in COMPONENTS}
    assert abs(4 * architectures.PARAMETERS["transformer"] - 24.6e9) < 0.05e9
    for kind in architectures.CONTROLNETS:
        assert _count(architectures.meta_controlnet(kind)) == architectures.PARAMETERS[kind], kind


def test_every_component_is_counted_from_its_headers_in_bfloat16(turbo):
    placed = plan(turbo, gpu(80))
    assert {c.name: c.parameters for c in placed.footprint.components} == {n: architectures.PARAMETERS[n] for n in COMPONENTS}
    assert {c.dtype for c in placed.footprint.components} == {"bfloat16"}
    assert placed.footprint.weights == 2 * sum(architectures.PARAMETERS[n] for n in COMPONENTS)
    assert (placed.plan.dtype, placed.plan.variant, placed.plan.placement) == ("bfloat16", None, "device")


def test_without_bfloat16_the_whole_pipeline_is_float32(turbo):
    placed = plan(turbo, gpu(80, bf16=False))
    assert {c.dtype for c in placed.footprint.components} == {"float32"}
    assert placed.footprint.weights == 4 * sum(architectures.PARAMETERS[n] for n in COMPONENTS)
    assert placed.plan.placement == "device" and "overflows in float16" in placed.plan.reason


def test_on_16_gib_the_models_take_turns(turbo):
    placed = plan(turbo, gpu(16))
    assert placed.plan.placement == "model_cpu_offload"
    assert "transformer (11.46 GiB), fits with the activations (13.46 GiB)" in placed.plan.reason


def test_the_placement_table_rows(turbo):
    two = placements(turbo, 2)
    row = placement_row(turbo, "Z-Image-Turbo")
    assert row == (
        "| Z-Image-Turbo | 19.11 GiB | transformer 11.46 GiB | 2.00 GiB at 1024x1024 | sequential offload | sequential offload "
        "| sequential offload | model offload | device | device | device |"
    )
    # Two 16 GiB GPUs hold it whole, the transformer on one and the encoder on the other (balanced).
    assert two == ["sequential offload"] * 3 + ["balanced", "device", "device", "device"]
