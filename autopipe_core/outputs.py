"""The pictures a pipeline's output holds, whatever the kind of pipeline.

diffusers' image pipelines return ``.images`` (one picture per prompt, PIL
by default); its video pipelines return ``.frames`` (one video per prompt,
``output_type="np"`` by default: an array of frames, height x width x
channels, floats in [0, 1]). A video family diffusers' AutoPipeline tables
list under text2img (Helios) makes pictures as one-frame videos, so the
command line, the serving deployment and the conformance kit read a
picture from either through these functions. PIL and numpy are imported
only when an array needs converting.
"""

from __future__ import annotations

from typing import Any


def images_of(output: Any) -> list[Any]:
    """One picture per prompt: ``output.images``, or the first frame of each of ``output.frames``' videos.

    Arrays (``output_type="np"``) become PIL images; PIL images and lists (one image per layer, as
    QwenImageLayeredPipeline gives) are returned as they are. Raises TypeError for an output with neither.
    """
    images = getattr(output, "images", None)
    if images is None:
        frames = getattr(output, "frames", None)
        if frames is None:
            raise TypeError(f"{type(output).__name__} holds neither images nor frames")
        images = [video[0] for video in frames]
    return [_as_pil(image) for image in images]


def first_image(output: Any) -> Any:
    """The first prompt's picture (its first layer, where a pipeline gives layers): a PIL image."""
    image = images_of(output)[0]
    return image[0] if isinstance(image, list) else image


def _as_pil(image: Any) -> Any:
    if type(image).__module__ != "numpy":
        return image
    from PIL import Image

    return Image.fromarray((image.clip(0, 1) * 255).round().astype("uint8").squeeze())
