"""A family's memory allowance besides its weights, as data: what most ``autopipe_footprint`` hooks computed by hand.

An :class:`Allowance` says how many bytes a call needs at a reference image
size in float16, how much of that is fixed, how the rest grows with the
pixels of the call and the dtype's itemsize, where the family's native size
is written in a checkpoint's config, and which weights a library keeps in
float32 whatever the dtype. Its :meth:`Allowance.footprint` is a complete
``autopipe_footprint``::

    # loading.py
    ALLOWANCE = Allowance(at=1 * GiB, reference=512, fixed=GiB // 2, native=("unet", "sample_size", 8),
                          what="UNet activations at batch 2 and the VAE decode")

    # __init__.py
    globals().update(lazy_hooks(__name__, autopipe_footprint=".loading:ALLOWANCE.footprint"))

The arithmetic is :func:`autopipe_core.planning.scaled`'s:
``fixed + at x (width x height) / reference**2 x itemsize / 2``. Importing
this module imports no torch, diffusers or transformers, and no planning code
(the methods import it when called).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from ..sizes import native_size
from ..specs import MAX_IMAGE_SIDE, MAX_PLAN_BYTES, Activation, Footprint, Identity, LoadPlan
from ..units import GiB

__all__ = ["Allowance"]


def _count(value: object, what: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"Allowance: {what} must be an integer from {low} to {high}, not {str(value)[:40]}")


def _gib(nbytes: int) -> str:
    """0.5 GiB, 1.5 GiB, 0.29 GiB: as few decimals as the figure needs."""
    return f"{nbytes / GiB:.2f}".rstrip("0").rstrip(".") + " GiB"


@dataclass(frozen=True, kw_only=True)
class Allowance:
    """The bytes a call needs besides the weights, and how they scale.

    - `at`: bytes at `reference` x `reference` pixels in float16 (activations,
      the VAE decode): the part that grows with the pixels and the itemsize;
    - `reference`: the side, in pixels, `at` is stated at;
    - `what`: what it covers, for the reason ("UNet activations at batch 2 and the VAE decode");
    - `fixed`: bytes whatever the size and dtype (cuBLAS workspace, allocator slack);
    - `native`: where the family's native side is written, (component, config
      key, scale): SD's ("unet", "sample_size", 8) reads 64 and gives 512
      (:func:`autopipe_core.sizes.native_size`, which refuses a corrupt value
      with InvalidModelError). None: the native side is `default`;
    - `default`: the native side where the config does not say it (None: `reference`);
    - `float32_modules`: component -> module names its library keeps in
      float32 when the rest loads in float16 (transformers' T5:
      ``{"text_encoder": ("wo",)}``); those components are counted again
      from their headers with them in float32.
    """

    at: int
    reference: int
    what: str
    fixed: int = 0
    native: tuple[str, str, int] | None = None
    default: int | None = None
    float32_modules: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)  # hashed by the rest

    def __post_init__(self) -> None:
        _count(self.at, "at", 0, MAX_PLAN_BYTES)
        _count(self.fixed, "fixed", 0, MAX_PLAN_BYTES)
        _count(self.reference, "reference", 1, MAX_IMAGE_SIDE)
        if self.default is not None:
            _count(self.default, "default", 1, MAX_IMAGE_SIDE)
        if not isinstance(self.what, str) or not self.what:
            raise ValueError("Allowance: what must say what the allowance covers")
        if self.native is not None:
            native = tuple(self.native) if isinstance(self.native, (tuple, list)) else ()
            if len(native) != 3 or not all(isinstance(v, str) for v in native[:2]):
                raise ValueError(f"Allowance: native is (component, config key, scale), e.g. ('unet', 'sample_size', 8), not {self.native!r}")
            _count(native[2], "the scale of native", 1, MAX_IMAGE_SIDE)
            object.__setattr__(self, "native", native)
        modules: dict[str, tuple[str, ...]] = {}
        for component, names in dict(self.float32_modules).items():
            if isinstance(names, str) or not isinstance(names, Iterable):
                raise ValueError(f"Allowance: float32_modules maps a component to a tuple of module names, not {names!r}")
            modules[component] = tuple(names)
        object.__setattr__(self, "float32_modules", MappingProxyType(modules))

    def side(self, identity: Identity) -> int:
        """The family's native image side for this checkpoint, in pixels."""
        fallback = self.default if self.default is not None else self.reference
        if self.native is None:
            return fallback
        component, key, scale = self.native
        return native_size(identity, fallback, component=component, key=key, scale=scale)

    def nbytes(self, width: int, height: int, dtype: str) -> int:
        """The allowance at `width` x `height` in `dtype` (a LoadPlan dtype name)."""
        from ..planning import scaled

        return scaled(self.at, self.fixed, width, height, self.reference, dtype)

    def activation(self, identity: Identity, plan: LoadPlan, width: int | None = None, height: int | None = None) -> Activation:
        """The Activation at `width` x `height` (None: the native side) in the plan's dtype, with its reason."""
        native = self.side(identity)
        w, h = width or native, height or native
        reason = f"{self.what} at {w}x{h} in {plan.dtype}" + (f", plus {_gib(self.fixed)} workspace" if self.fixed else "")
        return Activation(self.nbytes(w, h, plan.dtype), w, h, reason)

    def footprint(self, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
        """A complete ``autopipe_footprint``: `footprint` with the float32-kept modules counted, and the activation."""
        for component, modules in self.float32_modules.items():
            counted = footprint.component(component)
            if counted is not None and counted.dtype == "float16" and modules:
                from ..planning import recount

                footprint = footprint.with_component(recount(identity, counted, modules))
        return footprint.with_activation(self.activation(identity, plan, width, height))
