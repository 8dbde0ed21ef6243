"""The subcommands that load pipelines: generate and demo. Every input is checked before torch is imported."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import UnsupportedTaskError
from ..tasks import Task
from . import UsageError
from ..outputs import first_image
from ..pictures import mask_for, sample_picture
from .images import for_pipeline, output_format, read_image, save
from .parser import TINY_SIZE
from .reports import hub_args, modifier_args


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _no_family() -> UsageError:
    from ..known import install_hint_for_any_family
    from ..registry import left_out
    from ..settings import PLUGINS

    out = left_out()
    if out:  # installed, but the setting leaves them out: pip would install nothing new
        example = "autopipe-sd" if "autopipe-sd" in out else out[0]
        return UsageError(
            f"no family plugin is loaded, so there is no model to run: {PLUGINS}={os.environ[PLUGINS]!r} leaves out the {len(out)} "
            f"installed ({', '.join(out)}). Name one there (e.g. {example}), or unset {PLUGINS}."
        )
    return UsageError(f"no family plugin is installed, so there is no model to run. {install_hint_for_any_family()}")


def no_progress_bars() -> None:
    """The libraries' progress bars off: a tiny checkpoint is written, loaded and run in moments, and bars there are noise.

    transformers reads HF_HUB_DISABLE_PROGRESS_BARS when it is imported; diffusers has its own switch.
    """
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()


def model_or_tiny(model: str | None, family: str | None, verbose: bool = False) -> str:
    """`model`, or the path of the family's built-in tiny checkpoint (built on first use, which is said first)."""
    if model:
        return model
    if family is None:
        raise _no_family()
    if not verbose:
        no_progress_bars()
    from ..tiny import tiny_checkpoint

    start = time.perf_counter()
    _note(f"preparing the built-in tiny {family} checkpoint (random weights; built on first use, then cached)...")
    path, built = tiny_checkpoint(family)
    _note(f"{'built' if built else 'using'} {path} ({time.perf_counter() - start:.1f} s)")
    return str(path)


def takes(pipeline: Any) -> Mapping[str, inspect.Parameter]:
    """The parameters of the pipeline's call, by name: what a call may pass it (classes differ: FLUX.2's img2img has no
    strength, Helios's text2img takes an image)."""
    return inspect.signature(type(pipeline).__call__).parameters


def check_steps(pipeline: Any, steps: int, strength: float | None = None) -> None:
    """img2img and inpaint run ``int(steps * strength)`` of the steps: at least one, or diffusers fails deep inside."""
    if strength is None:
        parameter = takes(pipeline).get("strength")
        strength = parameter.default if parameter is not None and isinstance(parameter.default, (int, float)) else None
    if strength is not None and int(steps * strength) < 1:
        import math

        need = math.ceil(1 / strength) if strength > 0 else None
        raise UsageError(
            f"{type(pipeline).__name__} runs steps x strength = {steps} x {strength} = {steps * strength:g} steps, fewer than one: "
            + (f"pass --steps {need} or more" if need else "it needs a strength above 0")
        )


def quiet_calls(pipeline: Any, args: argparse.Namespace) -> None:
    """No denoising progress bar for the tiny checkpoint's calls (moments long), unless -v; a real model's calls keep diffusers'."""
    if not args.model and not args.verbose and hasattr(pipeline, "set_progress_bar_config"):
        pipeline.set_progress_bar_config(disable=True)


def call_size(pipeline: Any, args: argparse.Namespace) -> dict[str, int]:
    """height/width for a call, where the pipeline takes them: --size, or TINY_SIZE for a built-in checkpoint."""
    size = args.size or (None if args.model else TINY_SIZE)
    params = takes(pipeline)
    return {"height": size, "width": size} if size and "height" in params and "width" in params else {}


def tiny_call(args: argparse.Namespace, family: str) -> dict[str, Any]:
    """The family's FamilySpec.tiny_call for a built-in tiny checkpoint (no --model), else nothing."""
    if args.model:
        return {}
    from ..registry import get_registry

    return dict(get_registry().families[family][0].tiny_call)


def call_pipeline(pipeline: Any, prompt: str, **kwargs: Any) -> Any:
    """``pipeline(prompt, **kwargs)``, the prompt by keyword where the class takes one (ZImageOmniPipeline and Qwen's
    Edit classes take ``image`` first, so a positional prompt would land there), and only the keywords its call takes:
    an image-to-image class that edits from a reference image (Flux2Pipeline, Flux2KleinPipeline) has no ``strength``."""
    parameters = takes(pipeline)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = {name: value for name, value in kwargs.items() if name in parameters}
    if "prompt" in parameters:
        return pipeline(prompt=prompt, **kwargs)
    return pipeline(prompt, **kwargs)


def generate(args: argparse.Namespace) -> int:
    task = args.task
    if task is not Task.TEXT2IMG and not args.image:
        raise UsageError(f"--task {task.value} needs --image FILE, the picture to start from")
    if task is Task.INPAINT and not args.mask:
        raise UsageError("--task inpaint needs --mask FILE, white where to repaint")
    if args.mask and task is not Task.INPAINT:
        raise UsageError(f"--mask is for --task inpaint; --task {task.value} takes none: leave it out")
    fmt = output_format(args.out)
    arguments: dict[str, Any] = {}
    if args.image:  # text2img too: some text2img classes take a picture (Helios animates one, FLUX.2 follows a reference)
        arguments["image"] = read_image(args.image, "RGB", "--image")
    if args.mask and task is Task.INPAINT:
        arguments["mask_image"] = read_image(args.mask, "L", "--mask")
    model = model_or_tiny(args.model, args.family, args.verbose)

    from ..loading import load

    pipeline, resolution, plan = load(model, task, args.device, allow_pickle=args.allow_pickle, **hub_args(args), **modifier_args(args))
    if "image" in arguments and "image" not in takes(pipeline):
        raise UsageError(f"{type(pipeline).__name__} takes no picture for --task {task.value}: leave out --image, or use --task img2img")
    import torch
    _note(f"{resolution.pipeline_class} ({resolution.family}, {resolution.plugin}); {plan.dtype}, {plan.placement}: {plan.reason}")
    quiet_calls(pipeline, args)
    if task is not Task.TEXT2IMG:
        check_steps(pipeline, args.steps)
    if "image" in arguments:
        arguments["image"] = for_pipeline(arguments["image"], pipeline)
    arguments.update(num_inference_steps=args.steps, generator=torch.Generator("cpu").manual_seed(args.seed), **call_size(pipeline, args))
    image = first_image(call_pipeline(pipeline, args.prompt, **tiny_call(args, resolution.family), **arguments))
    save(image, args.out, fmt)
    print(args.out)
    return 0


def demo(args: argparse.Namespace) -> int:
    """text2img, then img2img and inpaint through from_pipe on the same weights; each image saved as soon as it is made.

    A checkpoint without text2img (an edit model) starts at its first task, from a made-up picture (`base` is the
    pipeline loaded first, whichever task it is for)."""
    from ..registry import get_registry

    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir} is a file: give a folder")
    print("autopipe demo: text2img, then img2img and inpaint on the same weights through from_pipe\n", flush=True)
    model = model_or_tiny(args.model, args.family, args.verbose)
    if not args.model:
        example = get_registry().families[args.family][0].example
        print("NOTE: the built-in checkpoint has random weights, so the images are noise by design; the point is the plumbing.")
        print(f"      For a real one: autopipe demo --model {example or 'PATH_OR_REPO_ID'}\n", flush=True)

    steps: list[tuple[str, float]] = []

    def step(label: str, fn: Callable[[], Any]) -> Any:
        print(f"  {label} ...", flush=True)
        start = time.perf_counter()
        value = fn()
        steps.append((label, time.perf_counter() - start))
        return value

    first, resolution = step("resolve (JSON only)", lambda: _first_task(model))
    # Building a tiny checkpoint imports torch and diffusers first: their cost is then in the "built" line, and the label says so.
    imported = [name for name in ("torch", "diffusers") if name in sys.modules]
    label = "import the class (torch and diffusers: imported by the build above)" if len(imported) == 2 else (
        "import diffusers and the class" if imported else "import torch, diffusers and the class")
    step(label, lambda: (__import__("torch"), resolution.load_class()))
    import torch

    from ..auto import AUTO_CLASSES

    base = step(f"from_pretrained {first.value}", lambda: AUTO_CLASSES[first].from_pretrained(model))
    made: dict[str, Any] = {}

    def run(label: str, pipeline: Any, **kwargs: Any) -> Any:
        quiet_calls(pipeline, args)
        if "image" in kwargs and "strength" in takes(pipeline):
            check_steps(pipeline, args.steps, kwargs.get("strength"))
        generator = torch.Generator("cpu").manual_seed(args.seed)
        if "image" in kwargs:
            kwargs["image"] = for_pipeline(kwargs["image"], pipeline)
        extra = {**tiny_call(args, resolution.family), **call_size(pipeline, args), **kwargs}
        image = step(f"{label} call", lambda: first_image(call_pipeline(pipeline, args.prompt, num_inference_steps=args.steps, generator=generator, **extra)))
        made[label] = save(image, out_dir / f"{label}.png")
        return image

    if first is Task.TEXT2IMG:
        image = run("text2img", base)
    else:  # an edit model (Qwen-Image-Edit, Layered): it starts from a picture, made here, and derives the rest
        image = sample_picture(*_call_side(base, args))
        print(f"  {first.value} starts from a made-up {image.size[0]}x{image.size[1]} picture: the family has no text2img")
    pipes = {first.value: base}
    derived: list[Any] = []  # the pipelines made by from_pipe, which must hold the first pipeline's very weights
    for label, call in (
        ("img2img", {"image": image, "strength": 0.75}),
        ("inpaint", {"image": image, "mask_image": mask_for(image)}),
    ):
        auto = AUTO_CLASSES[Task.parse(label)]
        if label == first.value:
            run(label, base, **call)
            continue
        try:
            pipe = step(f"from_pipe -> {label}", lambda auto=auto: auto.from_pipe(base))
            derived.append(pipe)
        except UnsupportedTaskError as exc:
            pipe = _separate_inpainter(args, resolution.family, exc, step) if label == "inpaint" else _skipped(label, exc)
        if pipe is not None:
            pipes[label] = pipe
            run(label, pipe, **call)

    models = {n: c for n, c in base.components.items() if hasattr(c, "parameters")}
    shared = bool(models) and all(p.components.get(n) is c for p in derived for n, c in models.items())
    print(f"\nmodel:    {model}")
    print(f"family:   {resolution.family} (plugin {resolution.plugin} {resolution.plugin_version})")
    for label, pipe in pipes.items():
        print(f"{label + ':':<9} {type(pipe).__name__}")
    print(_sharing(pipes, derived, shared) + "\n")
    width = max(40, *(len(label) + 2 for label, _ in steps))
    print(f"{'step':<{width}}{'seconds':>9}")
    for label, seconds in steps:
        print(f"{label:<{width}}{seconds:>9.3f}")
    print("\nimages: " + ", ".join(f"{path} ({_size_of(path)})" for path in made.values()))
    return 0 if shared else 1


def _first_task(model: str) -> tuple[Task, Any]:
    """(the first task the checkpoint does, in text2img, img2img, inpaint order; its Resolution). An edit model has no
    text2img: the demo starts where it can. A checkpoint that does none raises the text2img refusal."""
    from ..resolve import resolve

    refusal = None
    for task in Task:
        try:
            return task, resolve(model, task)
        except UnsupportedTaskError as exc:
            refusal = refusal or exc
    assert refusal is not None
    raise refusal


def _call_side(pipeline: Any, args: argparse.Namespace) -> tuple[int, int]:
    """The side of the demo's made-up input picture: --size, the built-in checkpoint's TINY_SIZE, else 512."""
    size = call_size(pipeline, args)
    side = size.get("width") or args.size or (TINY_SIZE if not args.model else 512)
    return side, side


def _skipped(label: str, refusal: UnsupportedTaskError) -> None:
    from ..advice import as_said_here

    print(f"  {label}: skipped: {as_said_here(str(refusal))}", flush=True)
    return None


def _sharing(pipes: dict[str, Any], derived: list[Any], shared: bool) -> str:
    """The demo's verdict line: which pipelines share the first pipeline's weights (from_pipe's), and whether they do."""
    first = next(iter(pipes))
    if not derived:
        return f"weights shared: no other task to share them with (the family does {first} only)"
    sharing = [first, *(label for label, pipe in pipes.items() if any(pipe is d for d in derived))]
    if len(sharing) == 3:
        what = "the three pipelines"
    else:
        what = " and ".join(sharing) + (" (inpaint has its own checkpoint)" if "inpaint" in pipes and "inpaint" not in sharing else "")
    return f"weights shared across {what}: {'yes' if shared else 'NO'}"


def _size_of(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return f"{image.size[0]}x{image.size[1]}"


def _separate_inpainter(args: argparse.Namespace, family: str, refusal: UnsupportedTaskError, step: Callable[..., Any]) -> Any:
    """The inpaint step for a checkpoint that cannot inpaint (a Kandinsky text decoder, say), or None to skip it.

    diffusers would build the inpaint class over the wrong UNet and crash
    mid-denoising; autopipe refuses early. With the built-in checkpoint the
    demo loads the family's own inpainting variant instead, which cannot share
    the text decoder's UNet; where there is none (or with a real checkpoint)
    it says why and keeps the images it made.
    """
    from ..advice import as_said_here
    from ..auto import AutoPipelineForInpainting
    from ..registry import get_registry
    from ..tiny import tiny_checkpoint

    spec = get_registry().families[family][0]
    variant = next((v.name for v in spec.variants if Task.INPAINT in v.tasks), None)
    if args.model or variant is None:
        print(f"  inpaint: skipped: {as_said_here(str(refusal))}", flush=True)
        return None
    print(f"  inpaint: {as_said_here(str(refusal))}\n           so the demo loads the family's tiny {variant} checkpoint for it.", flush=True)
    path, _ = tiny_checkpoint(family, variant)
    return step("from_pretrained inpaint", lambda: AutoPipelineForInpainting.from_pretrained(str(path)))
