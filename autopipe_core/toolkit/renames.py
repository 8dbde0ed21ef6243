"""A diffusers state dict under an original layout's names, from a table of rules: how a plugin writes (and describes)
the single files its family is published as.

diffusers converts an original checkpoint (BFL's FLUX files, fal's AuraFlow)
to its own names when it loads one; a plugin needs the way back, to write its
tiny test file in the original layout and to list a full-size file's names and
shapes for detection tests (on the meta device). The way back is data: rules
that rename a tensor (a regular expression on diffusers' name, the original
name with its groups, and an optional change of the values: diffusers swaps the
final modulation's shift and scale halves), and rules that join several
diffusers tensors into one (BFL's fused q, k, v). :func:`renamed` applies them.

Importing this module imports no torch, diffusers or transformers; :func:`swap_halves`
and :func:`renamed` (for a join) import torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = ["Join", "Rename", "renamed", "swap_halves"]


def swap_halves(tensor: Any) -> Any:
    """`tensor` with its two halves along the first dimension in the other order: diffusers' ``swap_scale_shift``,
    which is its own inverse (the original layouts keep shift then scale, diffusers scale then shift).
    A first dimension of odd size is torch's error."""
    import torch

    first, second = tensor.chunk(2, dim=0)
    if first.shape != second.shape:
        raise ValueError(f"cannot swap the halves of a tensor of {tuple(tensor.shape)}: its first dimension is odd")
    return torch.cat([second, first], dim=0)


@dataclass(frozen=True)
class Rename:
    """A tensor whose diffusers name starts with a match of `pattern` is named `name` (``re.Match.expand``: ``\\1`` is the
    pattern's first group) followed by the rest of its diffusers name; `convert`, when given, changes its values."""

    pattern: str
    name: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Join:
    """Tensors whose diffusers names match `pattern` whole are concatenated along the first dimension into one named
    `name` (``expand``'d with the match), in the order `order` gives their ``part`` group: q, k, v into BFL's qkv."""

    pattern: str
    name: str
    order: Sequence[str]

    def __post_init__(self) -> None:
        if "part" not in re.compile(self.pattern).groupindex:
            raise ValueError(f"a Join's pattern names the part it matches with a group (?P<part>...); {self.pattern!r} has none")


def renamed(state: Mapping[str, Any], renames: Sequence[Rename], joins: Sequence[Join] = (), *, prefix: str = "", what: str = "tensor") -> dict[str, Any]:
    """`state` (diffusers' names) under the original names, each behind `prefix`: the renamed tensors in `state`'s order,
    then the joined ones in the order their first part came.

    The first rule that matches a name applies; a join is tried before the
    renames. Real tensors and meta tensors alike (the rules only
    rename, swap and concatenate). A name no rule matches is a KeyError
    naming it ("no original name for {what} {name}"); a join missing one of
    its parts, a KeyError naming the part.
    """
    out: dict[str, Any] = {}
    joined: dict[str, tuple[Join, dict[str, Any]]] = {}
    compiled_joins = [(re.compile(j.pattern), j) for j in joins]
    compiled_renames = [(re.compile(r.pattern), r) for r in renames]
    for key, value in state.items():
        for pattern, join in compiled_joins:
            m = pattern.fullmatch(key)
            if m:
                joined.setdefault(prefix + m.expand(join.name), (join, {}))[1][m["part"]] = value
                break
        else:
            for pattern, rule in compiled_renames:
                m = pattern.match(key)
                if m:
                    out[prefix + m.expand(rule.name) + key[m.end():]] = rule.convert(value) if rule.convert else value
                    break
            else:
                raise KeyError(f"no original name for {what} {key}")
    if joined:
        import torch

        for target, (join, parts) in joined.items():
            lacking = [p for p in join.order if p not in parts]
            if lacking:
                raise KeyError(f"{target} joins {', '.join(join.order)}; the state dict has no {', '.join(lacking)} for it")
            out[target] = torch.cat([parts[p] for p in join.order], dim=0)
    return out
