"""Kandinsky 3 ("kandinsky3"): its registration, and the routing that sends its hooks to its own code.

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
2.x families. :func:`route` wraps each hook that takes a family so that
``kandinsky3`` goes to :data:`TARGETS` (:mod:`.kandinsky3_loading`,
:mod:`.kandinsky3_tiny`) and every other family to the hook as it was.

Importing this module imports no torch, diffusers or transformers, and
nothing of the plugin package (``autopipe_kandinsky/__init__`` imports it).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

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

#: Kandinsky 3's code for each hook that takes a family; a hook not named here answers None for it (the core's
#: default): autopipe_placement (the rules' choice stands) and autopipe_from_pretrained (the class's own
#: from_pretrained: nothing is connected).
TARGETS: Mapping[str, str] = {
    "autopipe_load_plan": ".kandinsky3_loading:plan",
    "autopipe_footprint": ".kandinsky3_loading:ALLOWANCE.footprint",
    "autopipe_build_tiny": ".kandinsky3_tiny:build",
}

#: The hooks that take a family, which :func:`route` wraps: each answers for one family at a time.
ROUTED = (
    "autopipe_load_plan",
    "autopipe_footprint",
    "autopipe_placement",
    "autopipe_from_pretrained",
    "autopipe_from_single_file",
    "autopipe_build_tiny",
)


def _call(function: Callable[..., Any] | None, arguments: Mapping[str, Any]) -> Any:
    """`function` with the arguments it names (a hook implementation may take any subset); None for no function."""
    if function is None:
        return None
    names = inspect.signature(function).parameters
    return function(**{name: value for name, value in arguments.items() if name in names})


def route(namespace: Mapping[str, Any], package: str) -> dict[str, Callable[..., Any]]:
    """The plugin's family-taking hooks, each sending ``kandinsky3`` to :data:`TARGETS` and the rest to `namespace`'s.

    `namespace` is the plugin module's globals as they stand (the Kandinsky
    2.x hooks, however they are written); `package` the plugin's package name,
    against which :data:`TARGETS` are imported (lazily, at the first call).
    Returns ``{hook: function}`` for ``globals().update(...)``: every hook of
    :data:`ROUTED` that either side implements, each a plain function named
    after its hook with the hook's parameters, decorated with ``hookimpl``.
    """
    mine = lazy_hooks(package, **TARGETS)
    theirs = {hook: namespace.get(hook) for hook in ROUTED}

    def dispatch(hook: str, arguments: Mapping[str, Any]) -> Any:
        side = mine if arguments["family"] == KANDINSKY3 else theirs
        return _call(side.get(hook), arguments)

    @hookimpl
    def autopipe_load_plan(family, identity, device):
        return dispatch("autopipe_load_plan", dict(family=family, identity=identity, device=device))

    @hookimpl
    def autopipe_footprint(family, identity, plan, footprint, width, height):
        return dispatch("autopipe_footprint", dict(family=family, identity=identity, plan=plan, footprint=footprint, width=width, height=height))

    @hookimpl
    def autopipe_placement(family, identity, device, footprint, plan):
        return dispatch("autopipe_placement", dict(family=family, identity=identity, device=device, footprint=footprint, plan=plan))

    @hookimpl
    def autopipe_from_pretrained(family, pipeline_class, model, kwargs):
        return dispatch("autopipe_from_pretrained", dict(family=family, pipeline_class=pipeline_class, model=model, kwargs=kwargs))

    @hookimpl
    def autopipe_from_single_file(family, pipeline_class, path, detection, kwargs):
        return dispatch("autopipe_from_single_file", dict(family=family, pipeline_class=pipeline_class, path=path, detection=detection, kwargs=kwargs))

    @hookimpl
    def autopipe_build_tiny(family, path, variant):
        return dispatch("autopipe_build_tiny", dict(family=family, path=path, variant=variant))

    routed = {f.__name__: f for f in (autopipe_load_plan, autopipe_footprint, autopipe_placement, autopipe_from_pretrained,
                                       autopipe_from_single_file, autopipe_build_tiny)}
    for function in routed.values():
        function.__module__ = package
        function.__qualname__ = function.__name__
    return {hook: function for hook, function in routed.items() if mine.get(hook) is not None or theirs.get(hook) is not None}
