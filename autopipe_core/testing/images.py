"""The kit's input images: a drawing to start img2img and inpaint from, and the mask of what to repaint (the same as
the command line's demo draws: autopipe_core.pictures)."""

from __future__ import annotations

from typing import Any

from ..pictures import mask_for, sample_picture


def sample_image(size: int) -> Any:
    """A `size` x `size` RGB PIL image: an orange ground with a blue disc."""
    return sample_picture(size, size)


def sample_mask(size: int) -> Any:
    """A `size` x `size` L mask, white where to repaint: the middle half."""
    return mask_for(sample_picture(size, size))
