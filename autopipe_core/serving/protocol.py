"""The HTTP protocol of a serving deployment: requests checked and decoded before anything loads, PNG and JSON answers.

A request is ``POST /<task>`` (``/text2img``, ``/img2img``, ``/inpaint``, or
any spelling :class:`~autopipe_core.tasks.Task` accepts) with a JSON object::

    {"prompt": "a lighthouse", "image": "<base64 PNG>", "mask": "<base64 PNG>",
     "steps": 20, "size": 512, "seed": 0, "strength": 0.75,
     "negative_prompt": "...", "guidance_scale": 7.5, "model": "sd"}

``prompt`` is required; ``image`` for img2img and inpaint, ``mask`` (white
where to repaint) for inpaint; ``size`` is one side or ``[width, height]``,
each a multiple of 8 (default: the input image's size, else the
pipeline's own). The model id travels in the ``serve_multiplexed_model_id``
header (so that Ray Serve routes the request to a replica that holds it) or
in ``"model"``; with one checkpoint served it may be left out. The answer is
``image/png``; a mistake is a 4xx with ``{"error": {"type", "message"}}``
saying what was wrong, found before a weight is loaded. Every check here is
plain Python (and PIL, for the images): no torch, no ray.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import AutopipeError
from ..tasks import Task

#: The request's fields, and what each is.
FIELDS = {
    "prompt": "what to draw (required)",
    "negative_prompt": "what not to draw",
    "image": "the input image, base64 (a PNG, JPEG or WebP file's bytes; a data: URL is accepted); img2img and inpaint",
    "mask": "the mask, base64, white where to repaint; inpaint",
    "steps": "denoising steps",
    "size": "image side in pixels, or [width, height]; multiples of 8",
    "seed": "random seed (default 0)",
    "strength": "how far img2img and inpaint move from the input image, above 0 and at most 1",
    "guidance_scale": "classifier-free guidance scale",
    "model": "the model id, where the serve_multiplexed_model_id header does not name it",
}

#: The most characters of a prompt: far beyond what a text encoder reads (77 tokens for CLIP), short of a flood.
MAX_PROMPT_CHARS = 10_000
#: An input image's side may be this many times the largest output side (it is resized to the size asked).
INPUT_SIDE_FACTOR = 4
#: The header Ray Serve routes multiplexed requests by.
MODEL_HEADER = "serve_multiplexed_model_id"


class RequestError(AutopipeError, ValueError):
    """A request that cannot be served, with the HTTP status that says why (4xx: the caller's to fix)."""

    def __init__(self, status: int, message: str, kind: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """What a deployment accepts: sides in pixels, bodies in bytes."""

    max_size: int = 1024
    max_steps: int = 150
    default_steps: int = 20
    max_body_bytes: int = 32 << 20

    def to_json(self) -> dict[str, int]:
        return {"max_size": self.max_size, "max_steps": self.max_steps, "default_steps": self.default_steps,
                "max_body_bytes": self.max_body_bytes}


@dataclass(frozen=True)
class GenerationRequest:
    """One checked request. `image` and `mask` are decoded PIL images (RGB and L); sizes in pixels."""

    task: Task
    prompt: str
    steps: int
    seed: int = 0
    width: int | None = None
    height: int | None = None
    image: Any = None
    mask: Any = None
    strength: float | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    model: str | None = None


def task_of(path: str) -> Task:
    """The task a request path names (``/img2img``, ``/image-to-image``); 404 otherwise, naming the routes."""
    name = path.strip("/")
    try:
        return Task.parse(name)
    except ValueError:
        raise RequestError(404, f"no route {path!r}: POST /text2img, /img2img or /inpaint with a JSON body, or GET /models", "NotFound") from None


def parse_json(body: bytes, limits: Limits) -> Mapping[str, Any]:
    if len(body) > limits.max_body_bytes:
        raise RequestError(413, f"the body is {len(body):,} bytes; this deployment reads at most {limits.max_body_bytes:,}", "TooLarge")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"the body is not JSON ({exc}): send a JSON object, e.g. {{\"prompt\": \"a cat\"}}") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"the body must be a JSON object, not {type(data).__name__}")
    return data


def parse_request(task: Task, data: Mapping[str, Any], limits: Limits) -> GenerationRequest:
    """Check every field of a request for `task` and decode its images; a RequestError (400) names the first wrong one."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RequestError(400, f"unknown field(s) {', '.join(map(repr, unknown))}: the fields are {', '.join(FIELDS)}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError(400, "\"prompt\" is required: a non-empty string, what to draw")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RequestError(400, f"\"prompt\" is {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,}")
    negative = data.get("negative_prompt")
    if negative is not None and (not isinstance(negative, str) or len(negative) > MAX_PROMPT_CHARS):
        raise RequestError(400, f"\"negative_prompt\" must be a string of at most {MAX_PROMPT_CHARS:,} characters")
    steps = _whole(data, "steps", limits.default_steps, 1, limits.max_steps, "more take long and rarely help; ask the deployment's owner for a higher max_steps")
    seed = _whole(data, "seed", 0, 0, 2**63 - 1)
    width, height = _size(data.get("size"), limits)
    strength = _number(data, "strength", 0.0, 1.0, low_open=True)
    guidance = _number(data, "guidance_scale", 0.0, 100.0)
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise RequestError(400, "\"model\" must be a model id (a string)")
    image = mask = None
    if task is Task.TEXT2IMG:
        for name in ("image", "mask", "strength"):
            if data.get(name) is not None:
                raise RequestError(400, f"text2img takes no \"{name}\": POST /img2img or /inpaint to start from an image")
    else:
        if data.get("image") is None:
            raise RequestError(400, f"{task.value} needs \"image\": the picture to start from, base64-encoded")
        image = decode_image(data["image"], "image", "RGB", limits)
        if task is Task.INPAINT:
            if data.get("mask") is None:
                raise RequestError(400, "inpaint needs \"mask\": base64-encoded, white where to repaint")
            mask = decode_image(data["mask"], "mask", "L", limits)
            if mask.size != image.size:
                raise RequestError(400, f"the mask is {mask.size[0]}x{mask.size[1]} and the image {image.size[0]}x{image.size[1]}: they must be the same size")
        elif data.get("mask") is not None:
            raise RequestError(400, "img2img takes no \"mask\": POST /inpaint to repaint a region")
        if width is None:
            w, h = image.size
            if w % 8 or h % 8 or w > limits.max_size or h > limits.max_size:
                raise RequestError(400, f"the image is {w}x{h}; without \"size\" the output takes its size, which must be multiples of 8 "
                                        f"of at most {limits.max_size}: pass \"size\", e.g. [{_fit(w, limits)}, {_fit(h, limits)}]")
            width, height = w, h
    if strength is not None and int(steps * strength) < 1:
        raise RequestError(400, f"steps x strength = {steps} x {strength:g} is fewer than one denoising step: raise \"steps\" to at least {_at_least(strength)}")
    return GenerationRequest(task, prompt, steps, seed, width, height, image, mask, strength, guidance, negative, model)


def _at_least(strength: float) -> int:
    import math

    return math.ceil(1 / strength)


def _fit(side: int, limits: Limits) -> int:
    return max(8, min(limits.max_size, side - side % 8))


def _whole(data: Mapping[str, Any], name: str, default: int, low: int, high: int, too_high: str = "") -> int:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(400, f"\"{name}\" must be a whole number, not {json.dumps(value)[:40]}")
    if not low <= value <= high:
        why = f" ({too_high})" if too_high and value > high else ""
        raise RequestError(400, f"\"{name}\" must be from {low} to {high} on this deployment, not {value}{why}")
    return value


def _number(data: Mapping[str, Any], name: str, low: float, high: float, low_open: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise RequestError(400, f"\"{name}\" must be a number, not {json.dumps(value)[:40]}")
    if value > high or value < low or (low_open and value == low):
        raise RequestError(400, f"\"{name}\" must be {'above' if low_open else 'at least'} {low:g} and at most {high:g}, not {value}")
    return float(value)


def _size(value: Any, limits: Limits) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if isinstance(value, list) and len(value) == 2:
        width, height = value
    elif isinstance(value, int) and not isinstance(value, bool):
        width = height = value
    else:
        raise RequestError(400, f"\"size\" must be one side (a whole number) or [width, height], not {json.dumps(value)[:40]}")
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise RequestError(400, f"\"size\": the {name} must be a whole number, not {json.dumps(side)[:40]}")
        if not 8 <= side <= limits.max_size:
            raise RequestError(400, f"\"size\": the {name} must be from 8 to {limits.max_size} pixels on this deployment, not {side}")
        if side % 8:
            raise RequestError(400, f"\"size\": the {name} must be a multiple of 8 (the VAE works in blocks of 8 pixels), not {side}; e.g. {side - side % 8 or 8}")
    return width, height


def decode_image(value: Any, name: str, mode: str, limits: Limits) -> Any:
    """A base64 image field decoded and fully read by PIL, in `mode` ("RGB", "L"); a RequestError (400) saying what is wrong."""
    from PIL import Image

    if not isinstance(value, str):
        raise RequestError(400, f"\"{name}\" must be a base64 string, not {type(value).__name__}")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"\"{name}\" is not valid base64: send the image file's bytes base64-encoded") from None
    limit = limits.max_size * INPUT_SIDE_FACTOR
    try:
        with Image.open(io.BytesIO(raw)) as image:
            w, h = image.size
            if w > limit or h > limit:
                raise RequestError(400, f"\"{name}\" is {w}x{h}; this deployment reads input images of at most {limit}x{limit}")
            return image.convert(mode)
    except RequestError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise RequestError(400, f"\"{name}\" is not an image PIL can read ({type(exc).__name__}: {exc}); send a PNG, JPEG or WebP file") from None


def encode_image(image: Any) -> str:
    """An image as a request's base64 field (PNG)."""
    return base64.b64encode(png(image)).decode("ascii")


def png(image: Any) -> bytes:
    """A PIL image as PNG bytes: what every successful request answers."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def error_json(status: int, message: str, kind: str) -> bytes:
    """The body of an error answer: ``{"error": {"type", "message"}, "status"}``, as ``autopipe resolve --json`` reports errors."""
    return json.dumps({"error": {"type": kind, "message": message}, "status": status}).encode()
