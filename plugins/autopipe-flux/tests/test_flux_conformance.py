"""autopipe-flux against the conformance kit: the contract every plugin keeps, for FLUX.1 and Chroma."""

from __future__ import annotations

from typing import Any

from autopipe_core import Task
from autopipe_core.testing import PluginConformance

from autopipe_flux.plugin import NO_FILL_IMG2IMG, NO_FILL_TEXT2IMG

_NO_KEYWORD = "no keyword selects it: a checkpoint (or a live pipeline) of its class does; test_flux_rows.py runs each task on its own tiny checkpoint"
#: diffusers 0.42.1's FLUX and Chroma converters split the single blocks at a width of 3072 (inner_dim = 3072 in
#: convert_flux_transformer_checkpoint_to_diffusers and convert_chroma_transformer_checkpoint_to_diffusers): no tiny model
#: loads from a single file. test_flux_single_file.py checks that this is still so, and detects full-size headers.
_NO_TINY_FILE = (
    "diffusers' converter splits the transformer's single blocks at FLUX.1's width, 3072 (inner_dim = 3072 in diffusers 0.42.1), "
    "so a tiny {} transformer cannot load from a single file; test_flux_single_file.py detects full-size headers instead"
)


class TestConformance(PluginConformance):
    plugin = "autopipe-flux"
    cannot = {("flux+fill", "text2img"): NO_FILL_TEXT2IMG, ("flux+fill", "img2img"): NO_FILL_IMG2IMG}
    by_hand = {"flux+control": _NO_KEYWORD, "flux+fill": _NO_KEYWORD, "flux+kontext": _NO_KEYWORD}
    no_single_file = {"flux": _NO_TINY_FILE.format("FLUX"), "chroma": _NO_TINY_FILE.format("Chroma")}
    # FluxPipeline and ChromaPipeline draw 1024x1024 unless told: the tiny checkpoints draw the kit's 64x64.
    call_kwargs = {"flux": {"height": 64, "width": 64}, "chroma": {"height": 64, "width": 64}}

    def modifier_kwargs(self, family: str, modifiers: frozenset[str], pipeline: Any) -> dict[str, Any] | None:
        """flux+controlnet: a tiny FluxControlNetModel shaped after the pipeline's transformer (one block of each kind)."""
        if "controlnet" not in modifiers:
            return None
        import torch
        from diffusers import FluxControlNetModel

        torch.manual_seed(0)
        config = pipeline.transformer.config
        model = FluxControlNetModel.from_transformer(
            pipeline.transformer, num_layers=1, num_single_layers=1,
            attention_head_dim=config.attention_head_dim, num_attention_heads=config.num_attention_heads,
        )
        return {"controlnet": model}

    def inputs(self, family: str, modifiers: frozenset[str], task: Task) -> dict[str, Any]:
        from autopipe_core.testing.images import sample_image

        kwargs = super().inputs(family, modifiers, task)
        if "controlnet" in modifiers:
            kwargs["control_image"] = sample_image(self.image_size)
        return kwargs
