"""Numbers read from a checkpoint's own configs, checked before any arithmetic trusts them.

A config is a stranger's JSON: ``"sample_size": 1e300`` or a 4,000-digit
integer is valid JSON, and multiplying it into an activation allowance ends
in an OverflowError deep inside the planner. Plugins read such numbers through
these functions, which give an :class:`~autopipe_core.errors.InvalidModelError`
naming the config and the key instead.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidModelError
from .specs import MAX_IMAGE_SIDE, Identity


def _shown(value: object) -> str:
    """A config value as a message shows it: whole up to 40 characters, else its start, an ellipsis and its length.

    An integer past Python's 4,300-digit conversion limit is named by its size (str() of it raises ValueError).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4000:
        return f"an integer of {value.bit_length()} bits"
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def config_int(identity: Identity, component: str, key: str, low: int, high: int, default: int | None = None) -> int | None:
    """``identity.configs[component][key]`` as an integer from `low` to `high`; `default` where it is absent.

    Raises InvalidModelError for a value that is present but not such an
    integer (a list of sizes is not read here: return `default` for it).
    """
    config = identity.configs.get(component) or {}
    value: Any = config.get(key)
    if value is None or isinstance(value, (list, tuple)):
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidModelError(
            f"{identity.reference}: {component}/config.json says {key} = {_shown(value)}, which is not a whole number from {low} to {high}. "
            "The config is corrupt or was edited by hand: restore it from the original checkpoint."
        )
    return value


def native_size(identity: Identity, default: int, component: str = "unet", key: str = "sample_size", scale: int = 8) -> int:
    """The image side (pixels) the checkpoint was trained at: the component's `key` (latent side) x `scale` (the VAE's factor).

    SD 1.5's UNet has sample_size 64, so 512; SDXL's 128, so 1024. `default` where the config does not say.
    """
    sample = config_int(identity, component, key, 1, MAX_IMAGE_SIDE // scale)
    return sample * scale if sample is not None else default
