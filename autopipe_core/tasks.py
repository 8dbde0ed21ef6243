"""The three tasks autopipe resolves a checkpoint for."""

from __future__ import annotations

import enum

# Spellings people actually type, from diffusers' docs, the Hub's task tags and
# other UIs. Normalised (lower case, "_" and " " read as "-") before lookup.
_ALIASES = {
    "text2img": "text2img",
    "txt2img": "text2img",
    "text2image": "text2img",
    "text-to-image": "text2img",
    "t2i": "text2img",
    "img2img": "img2img",
    "image2image": "img2img",
    "image-to-image": "img2img",
    "i2i": "img2img",
    "inpaint": "inpaint",
    "inpainting": "inpaint",
    "image-inpainting": "inpaint",
}


class Task(str, enum.Enum):
    """What the user wants done: the first half of every resolution."""

    TEXT2IMG = "text2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"

    def __str__(self) -> str:
        return self.value

    @property
    def auto_class(self) -> str:
        """The AutoPipeline class a user calls for this task, for error messages."""
        return _AUTO_CLASSES[self]

    @classmethod
    def parse(cls, value: "Task | str") -> "Task":
        """Accept a Task or any usual spelling of one; raise ValueError naming the choices."""
        if isinstance(value, Task):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("_", "-").replace(" ", "-")
            if key in _ALIASES:
                return cls(_ALIASES[key])
        choices = ", ".join(t.value for t in cls)
        raise ValueError(f"unknown task {value!r}: use one of {choices} (or e.g. 'text-to-image', 'inpainting')")


_AUTO_CLASSES = {
    Task.TEXT2IMG: "AutoPipelineForText2Image",
    Task.IMG2IMG: "AutoPipelineForImage2Image",
    Task.INPAINT: "AutoPipelineForInpainting",
}
