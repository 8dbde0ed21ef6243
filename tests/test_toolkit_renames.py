"""autopipe_core.toolkit.renames: a state dict under an original layout's names from rules, the halves swap, and what
each refuses."""

from __future__ import annotations

import pytest
import torch

from autopipe_core.toolkit.renames import Join, Rename, renamed, swap_halves

RENAMES = (
    Rename(r"norm_out\.linear\.", "final_layer.adaLN_modulation.1.", swap_halves),
    Rename(r"blocks\.(\d+)\.ff\.", r"double_blocks.\1.mlp."),
    Rename(r"proj_out\.", "final_layer.linear."),
)
JOINS = (Join(r"blocks\.(\d+)\.attn\.to_(?P<part>[qkv])\.(weight|bias)", r"double_blocks.\1.qkv.\3", "qkv"),)


def test_swap_halves_swaps_and_is_its_own_inverse():
    t = torch.arange(6.0)
    assert swap_halves(t).tolist() == [3.0, 4.0, 5.0, 0.0, 1.0, 2.0]
    assert torch.equal(swap_halves(swap_halves(t)), t)
    with pytest.raises(ValueError, match="odd"):
        swap_halves(torch.arange(5.0))


def test_renamed_renames_converts_and_joins_in_order_behind_the_prefix():
    state = {
        "blocks.0.attn.to_k.weight": torch.full((2, 4), 2.0),
        "blocks.0.attn.to_q.weight": torch.full((2, 4), 1.0),
        "norm_out.linear.weight": torch.arange(4.0),
        "blocks.0.ff.weight": torch.zeros(3),
        "blocks.0.attn.to_v.weight": torch.full((2, 4), 3.0),
        "proj_out.bias": torch.ones(1),
    }
    out = renamed(state, RENAMES, JOINS, prefix="model.diffusion_model.")
    assert list(out) == [  # the renamed ones in the state's order, then the joined
        "model.diffusion_model.final_layer.adaLN_modulation.1.weight", "model.diffusion_model.double_blocks.0.mlp.weight",
        "model.diffusion_model.final_layer.linear.bias", "model.diffusion_model.double_blocks.0.qkv.weight",
    ]
    assert out["model.diffusion_model.double_blocks.0.qkv.weight"][:, 0].tolist() == [1, 1, 2, 2, 3, 3]  # q, k, v whatever came first
    assert out["model.diffusion_model.final_layer.adaLN_modulation.1.weight"].tolist() == [2.0, 3.0, 0.0, 1.0]
    assert out["model.diffusion_model.double_blocks.0.mlp.weight"] is state["blocks.0.ff.weight"]  # renamed, not copied


def test_meta_tensors_pass_through():
    state = {f"blocks.1.attn.to_{p}.weight": torch.empty(4096, 4096, device="meta") for p in "qkv"}
    assert tuple(renamed(state, RENAMES, JOINS)["double_blocks.1.qkv.weight"].shape) == (12288, 4096)


def test_a_name_no_rule_matches_and_a_join_missing_a_part_are_refused():
    with pytest.raises(KeyError, match="no original name for FLUX.1 tensor pos_embed.weight"):
        renamed({"pos_embed.weight": torch.zeros(1)}, RENAMES, JOINS, what="FLUX.1 tensor")
    with pytest.raises(KeyError, match="the state dict has no v for it"):
        renamed({f"blocks.0.attn.to_{p}.weight": torch.zeros(1) for p in "qk"}, RENAMES, JOINS)


def test_a_join_without_a_part_group_is_refused_when_declared():
    with pytest.raises(ValueError, match=r"\(\?P<part>"):
        Join(r"blocks\.(\d+)\.attn\.to_([qkv])\.weight", r"double_blocks.\1.qkv.weight", "qkv")
