"""Made-up input pictures: what the demo starts an edit model from, and what the conformance kit feeds img2img and
inpaint. One drawing and one mask, so that the command line and the kit show a pipeline the same input. PIL is
imported when a picture is drawn."""

from __future__ import annotations

from typing import Any


def sample_picture(width: int, height: int) -> Any:
    """A `width` x `height` RGB PIL image: an orange ground with a blue disc in its upper left quarter."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (200, 120, 40))
    ImageDraw.Draw(image).ellipse((width // 8, height // 8, width // 2, height // 2), fill=(30, 90, 220))
    return image


def mask_for(image: Any) -> Any:
    """An L mask the size of `image`, white where to repaint: the middle half."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", image.size, 0)
    w, h = image.size
    ImageDraw.Draw(mask).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=255)
    return mask
