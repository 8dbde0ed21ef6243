"""Images on the command line: inputs read and checked before any model loads, outputs written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

#: The largest input image file read (a 16k x 16k PNG is under this); beyond it the file is not a sensible input.
MAX_IMAGE_BYTES = 256 << 20


def read_image(path: str, mode: str, flag: str) -> Any:
    """The image at `path` in PIL mode `mode` ("RGB", "L"), fully decoded; a UsageError saying what is wrong otherwise."""
    from PIL import Image

    from ..errors import AutopipeError
    from ..files import open_regular
    from . import UsageError

    try:
        with open_regular(path, "an image file", f"{flag} {path}") as (f, size):
            if size > MAX_IMAGE_BYTES:
                raise UsageError(f"{flag} {path} is {size:,} bytes; autopipe reads input images of at most {MAX_IMAGE_BYTES:,}")
            with Image.open(f) as image:
                return image.convert(mode)
    except FileNotFoundError:
        raise UsageError(f"{flag} {path} does not exist. Check the path.") from None
    except AutopipeError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # PIL: not an image, truncated, too many pixels
        # PIL names an unknown format by its file object ("cannot identify image file <_io.BufferedReader name=3>")
        why = "no image format PIL knows" if isinstance(exc, Image.UnidentifiedImageError) else f"{type(exc).__name__}: {exc}"
        raise UsageError(f"{flag} {path} is not an image PIL can read ({why}). Pass a PNG, JPEG or WebP file.") from None


def output_format(path: str) -> str:
    """The PIL format an output path's suffix names, checked with the folder it goes in; a UsageError otherwise."""
    from PIL import Image

    from . import UsageError

    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--out {path} is a folder: give a file name, e.g. --out {target / 'image.png'}")
    Image.init()
    fmt = Image.registered_extensions().get(target.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        common = ", ".join(s for s in (".png", ".jpg", ".webp", ".bmp", ".tiff") if Image.registered_extensions().get(s) in Image.SAVE)
        raise UsageError(f"--out {path}: the suffix {target.suffix or '(none)'!r} names no image format autopipe can write. Use one of {common}.")
    folder = target.parent if str(target.parent) else Path(".")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: cannot write in {existing}. Choose a folder you can write to.")
    try:  # os.access says yes to root everywhere: make the folder and a file there, as the save will, before loading
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".autopipe-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write in {folder} ({exc.strerror or exc}). Choose a folder you can write to.") from None
    return fmt


def save(image: Any, path: str | Path, fmt: str | None = None) -> Path:
    """Write `image` to `path` in `fmt` (default: the suffix's), atomically: never a half-written or planted file."""
    from ..files import write_atomic

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or output_format(str(target))
    return write_atomic(target, lambda f: image.save(f, format=fmt))


def for_pipeline(picture: Any, pipeline: Any) -> Any:
    """`picture` in the mode the pipeline's VAE encodes: RGBA where it takes 4 input channels (Qwen-Image-Layered
    splits an RGBA picture into layers), else as it is. Read from the VAE's config, the pipeline's own data."""
    config = getattr(getattr(pipeline, "vae", None), "config", None)
    channels = getattr(config, "input_channels", None) or getattr(config, "in_channels", None)
    return picture.convert("RGBA") if channels == 4 and picture.mode != "RGBA" else picture
