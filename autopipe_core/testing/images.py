"""The kit's input images: a drawing to start img2img and inpaint from, and the mask of what to repaint."""

from __future__ import annotations

from typing import Any


def sample_image(size: int) -> Any:
    """A `size` x `size` RGB PIL image: an orange ground with a blue disc."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (200, 120, 40))
    ImageDraw.Draw(image).ellipse((size // 8, size // 8, size // 2, size // 2), fill=(30, 90, 220))
    return image


def sample_mask(size: int) -> Any:
    """A `size` x `size` L mask, white where to repaint: the middle half."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
    return mask
