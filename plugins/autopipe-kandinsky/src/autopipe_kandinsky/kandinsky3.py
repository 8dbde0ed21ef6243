"""Kandinsky 3 ("kandinsky3"): its registration, and which of its hooks' code is its own.

Kandinsky 3 shares Kandinsky 2.x's name and MoVQ decoder, and nothing else
that matters here: it is a single-stage latent diffusion model, a
Kandinsky3UNet (about 3 B parameters) conditioned on the states of a T5
encoder (Flan-UL2's encoder, about 8.6 B), decoded by a MoVQ VQModel (about
267 M). There is no prior and no combined pipeline (Sber's model card and
README of ai-forever/Kandinsky-3; diffusers' ``pipelines/kandinsky3``).

What diffusers 0.42.1 has for it, and so what this family serves
(``AUTO_TEXT2IMAGE_PIPELINES_MAPPING`` and ``AUTO_IMAGE2IMAGE_PIPELINES_MAPPING``,
key ``"kandinsky3"``; ``AUTO_INPAINT_PIPELINES_MAPPING`` has no such key):

| task | class |
| --- | --- |
| text2img | ``Kandinsky3Pipeline`` |
| img2img | ``Kandinsky3Img2ImgPipeline`` |
| inpaint | none: refused with :data:`NO_INPAINT` |

No PAG, ControlNet or single-file class exists for it in diffusers 0.42.1
(no Kandinsky 3 PAG or ControlNet pipeline; neither pipeline has
``from_single_file``, and ``single_file_utils.CHECKPOINT_KEY_NAMES`` has no
Kandinsky 3 layout): ``enable_pag=True`` and ``controlnet=`` are refused
with :data:`NO_PAG` and :data:`NO_CONTROLNET` (rows that claim no task), and
the plugin reads no Kandinsky 3 single file.

The plugin module (``autopipe_kandinsky``) owns the hooks; its Kandinsky 2.x
code (:mod:`.loading`, :mod:`.connected`, :mod:`.tiny`) knows only the two
2.x families. Its hooks are the toolkit's ``lazy_hooks`` with a reference per
family: ``kandinsky3`` goes to :data:`TARGETS` (:mod:`.kandinsky3_loading`,
:mod:`.kandinsky3_tiny`), the 2.x families to their code.

Importing this module imports no torch, diffusers or transformers, and
nothing of the plugin package (``autopipe_kandinsky/__init__`` imports it).
"""

from __future__ import annotations

from typing import Mapping

from autopipe_core import FamilySpec, PipelineRow, Task
from autopipe_core.toolkit.rows import PAG, row, rows

KANDINSKY3 = "kandinsky3"
#: The core's ControlNet modifier (``controlnet=``).
CONTROLNET = "controlnet"

#: diffusers 0.42.1's classes, as its AutoPipeline tables map the key "kandinsky3".
CLASSES: Mapping[Task, str] = {
    Task.TEXT2IMG: "diffusers:Kandinsky3Pipeline",
    Task.IMG2IMG: "diffusers:Kandinsky3Img2ImgPipeline",
}

#: Why inpaint is refused, and what to use instead; the user's UnsupportedTaskError repeats it.
NO_INPAINT = (
    "diffusers has no inpainting pipeline for Kandinsky 3 (its AutoPipeline tables list Kandinsky 3 for text2img and "
    "img2img only), and Sber's Kandinsky 3 inpainting model is published only in the original format of "
    "ai-forever/Kandinsky-3, which no diffusers class loads. Inpaint with Kandinsky 2.2's inpainting decoder "
    "(kandinsky-community/kandinsky-2-2-decoder-inpaint, family kandinsky22 of this plugin) or another family that has an "
    "inpainting pipeline (SDXL's StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
)

#: Why enable_pag=True is refused: diffusers has no PAG class for Kandinsky 3.
NO_PAG = (
    "diffusers has no PAG pipeline for Kandinsky 3 (no Kandinsky 3 class among its PAG pipelines, no kandinsky3 key in its "
    "PAG tables); leave out enable_pag"
)
#: Why controlnet= is refused: diffusers' Kandinsky ControlNet pipelines are Kandinsky 2.2's.
NO_CONTROLNET = (
    "diffusers has no ControlNet pipeline for Kandinsky 3: its Kandinsky ControlNet pipelines, KandinskyV22ControlnetPipeline "
    "and KandinskyV22ControlnetImg2ImgPipeline, are Kandinsky 2.2's (a depth hint into the 2.2 decoder); leave out controlnet="
)

FAMILY = FamilySpec(
    name=KANDINSKY3,
    example="kandinsky-community/kandinsky-3",
    description="Kandinsky 3: a single-stage Kandinsky3UNet under a Flan-UL2 T5 encoder, MoVQ decoder, 1024 px (text2img, img2img)",
)

#: The plain row, and the core's two modifiers refused for every task with why (rather than "no such combination").
ROWS: tuple[PipelineRow, ...] = (
    *rows(KANDINSKY3, text2img=CLASSES[Task.TEXT2IMG], img2img=CLASSES[Task.IMG2IMG], missing={Task.INPAINT: NO_INPAINT}),
    row(KANDINSKY3, modifiers={PAG}, missing=dict.fromkeys(Task, NO_PAG)),
    row(KANDINSKY3, modifiers={CONTROLNET}, missing=dict.fromkeys(Task, NO_CONTROLNET)),
)

#: Kandinsky 3's code for each hook that takes a family (the plugin module gives them to ``lazy_hooks`` per family); a
#: hook not named here answers None for it (the core's default): autopipe_placement (the rules' choice stands) and
#: autopipe_from_pretrained (the class's own from_pretrained: nothing is connected).
TARGETS: Mapping[str, str] = {
    "autopipe_load_plan": ".kandinsky3_loading:plan",
    "autopipe_footprint": ".kandinsky3_loading:ALLOWANCE.footprint",
    "autopipe_build_tiny": ".kandinsky3_tiny:build",
}
