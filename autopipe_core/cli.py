"""The ``autopipe`` command: plugins, resolve, generate, demo.

``plugins`` and ``resolve`` import no torch or diffusers: they answer in the
time it takes Python to start. ``generate`` and ``demo`` load pipelines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import AutopipeError, UnsupportedTaskError
from .tasks import Task

DEFAULT_FAMILY = "stable-diffusion"
REAL_MODEL_HINT = (
    "To use a real checkpoint: autopipe generate --model runwayml/stable-diffusion-v1-5 --task text2img "
    "--prompt 'an astronaut riding a horse' --out astronaut.png  (or: autopipe demo --model PATH_OR_REPO_ID)"
)


def _hub_args(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.revision:
        out["revision"] = args.revision
    if args.cache_dir:
        out["cache_dir"] = args.cache_dir
    if args.local_files_only:
        out["local_files_only"] = True
    return out


def _modifier_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"enable_pag": True} if getattr(args, "enable_pag", False) else {}


def cmd_plugins(args: argparse.Namespace) -> int:
    from .registry import get_registry

    from .plugins import SLOW_IMPORT_SECONDS
    from .registry import check_classes

    registry = get_registry()
    rows = []
    for p in registry.plugins:
        rows.append(
            {
                "distribution": p.distribution,
                "version": p.version,
                "entry_point": p.entry_point,
                "families": list(registry.families_of(p.distribution)),
                "modifiers": sorted(k for k, (_, owner) in registry.modifiers.items() if owner == p.distribution),
                "hooks": list(p.hooks),
                "error": p.error,
                "import_seconds": round(p.import_seconds, 4),
                "slow_import": p.slow,
            }
        )
    conflicts = [{"what": c.what, "winner": c.winner, "losers": list(c.losers)} for c in registry.conflicts]
    problems = check_classes(registry) if args.check else ()
    for r in rows:
        if args.check:
            r["unimportable"] = [{"class": c.class_ref, "error": c.error} for c in problems if c.plugin == r["distribution"]]
    status = 1 if problems else 0
    if args.json:
        print(json.dumps({"plugins": rows, "conflicts": conflicts}, indent=2))
        return status
    for r in rows:
        health = "ok" if r["error"] is None else "BROKEN"
        slow = f"  [slow import: {r['import_seconds']:.2f} s > {SLOW_IMPORT_SECONDS} s]" if r["slow_import"] else ""
        print(f"{r['distribution']} {r['version']}  [{health}]{slow}")
        if r["families"]:
            print(f"    families:  {', '.join(r['families'])}")
        if r["modifiers"]:
            print(f"    modifiers: {', '.join(k + '=' for k in r['modifiers'])}")
        if r["hooks"]:
            print(f"    hooks:     {', '.join(r['hooks'])}")
        if r["error"]:
            print(f"    error:     {r['error']}")
        for c in r.get("unimportable", ()):
            print(f"    cannot import {c['class']}: {c['error']}")
    for c in conflicts:
        print(f"conflict: {c['what']} registered by {', '.join([c['winner'], *c['losers']])}; {c['winner']} wins (set AUTOPIPE_PREFER to choose)")
    if args.check:
        print(f"checked: {'every registered class imports' if not problems else f'{len(problems)} registered class(es) cannot be imported'}")
    return status


def cmd_resolve(args: argparse.Namespace) -> int:
    from .registry import get_registry
    from .resolve import identify, resolve_identity

    registry = get_registry()
    identity = identify(args.model, registry, getattr(args, "allow_pickle", False), **_hub_args(args))
    hints = _modifier_args(args)
    if args.task:
        r = resolve_identity(identity, args.task, hints, registry)
        if args.json:
            print(json.dumps({"family": r.family, "plugin": r.plugin, "task": r.task.value, "pipeline_class": r.pipeline_class}))
        else:
            print(r.pipeline_class)
        return 0
    results: dict[Task, Any] = {}
    for task in Task:
        try:
            results[task] = resolve_identity(identity, task, hints, registry)
        except UnsupportedTaskError as exc:
            results[task] = exc
    found = [r for r in results.values() if not isinstance(r, Exception)]
    if not found:
        raise next(iter(results.values()))
    family = found[0].family
    plugin = registry.families[family][1]
    if args.json:
        pipelines = {t.value: (None if isinstance(r, Exception) else r.pipeline_class) for t, r in results.items()}
        detected = {"variant": identity.detection.variant, "detected_by": identity.detection.plugin} if identity.detection else {}
        print(json.dumps({"family": family, "plugin": plugin, "pipelines": pipelines, **detected}))
        return 0
    print(f"model:   {identity.reference} ({identity.class_name})")
    print(f"family:  {family} (plugin {plugin})")
    if identity.detection:
        d = identity.detection
        print(f"file:    {d.variant}, detected by {d.plugin} ({d.confidence:.2f}): {d.reason}")
    for task, r in results.items():
        print(f"  {task.value:<9} {('cannot: ' + str(r)) if isinstance(r, Exception) else r.pipeline_class}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Where the checkpoint would go on this budget, and why: headers and JSON only, no weights, no torch (with --memory)."""
    from dataclasses import replace

    from .placement import format_plan
    from .registry import get_registry
    from .resolve import identify, resolve_identity
    from .specs import DeviceFacts

    registry = get_registry()
    resolution = resolve_identity(identify(args.model, registry, **_hub_args(args)), args.task, _modifier_args(args), registry)
    device = args.device or "cuda"
    kind = device.partition(":")[0]
    if args.memory is None and kind != "cpu":
        from .loading import detect
        from .placement import PlacementError

        try:
            facts = detect(device)  # what torch reports free
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise PlacementError(f"cannot read the free memory of {device} ({exc}); pass --memory, e.g. --memory 8GiB") from None
    else:
        facts = DeviceFacts(kind, 0 if kind == "cpu" else 1, args.memory, None, args.bf16)
    if args.gpus is not None:
        facts = replace(facts, count=args.gpus)
    from . import placement

    placed = placement.plan(resolution, facts, args.width, args.height, kwargs=_hub_args(args), registry=registry, device_name=device)
    if args.json:
        print(json.dumps({"model": args.model, "family": resolution.family, "pipeline_class": resolution.pipeline_class, **placed.to_json()}, indent=2))
    else:
        print(format_plan(placed, args.model, resolution.pipeline_class))
    return 0


def _detection_json(d: Any) -> dict[str, Any]:
    return {
        "plugin": d.plugin, "family": d.family, "variant": d.variant, "confidence": d.confidence, "reason": d.reason,
        "pipeline_class": d.pipeline_class, "component": d.component, "config": d.config, "use": d.use or None,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    """What a single file's header says (no weights read), and what each plugin makes of it."""
    from .headers import header_to_json
    from .single_file import detect, read

    report = detect(read(args.file, args.allow_pickle))
    header = report.header
    verdicts = [
        {"plugin": v.plugin, "asked": v.asked, "error": v.error, "detections": [_detection_json(d) for d in v.detections]}
        for v in report.verdicts
    ]
    if args.json:
        best = _detection_json(report.best) if report.best else None
        print(json.dumps({"header": header_to_json(header), "verdicts": verdicts, "best": best}, indent=2))
        return 0
    print(f"file:       {header.path}")
    print(f"size:       {header.file_size:,} bytes (header {header.header_bytes:,} bytes, the only part read)")
    print(f"tensors:    {len(header.tensors):,}, {header.parameters:,} parameters")
    for dtype, size in sorted(header.bytes_by_dtype().items(), key=lambda kv: -kv[1]):
        count = sum(t.numel for t in header.tensors.values() if t.dtype == dtype)
        print(f"  {dtype:<8} {count:>15,} parameters {size:>17,} bytes")
    if header.metadata:
        print("metadata:")
        for key, value in sorted(header.metadata.items()):
            shown = value if len(value) <= 100 else value[:97] + "..."
            print(f"  {key}: {shown}")
    print("verdicts:")
    for v in report.verdicts:
        print(f"  {v.describe()}")
    best = report.best
    if best is None:
        print("=> no installed plugin recognises it")
    elif best.is_pipeline:
        print(f"=> {best.family} / {best.variant} (by {best.plugin}): loads as {best.pipeline_class.rpartition(':')[2]}; `autopipe resolve FILE` lists the three tasks")
    else:
        print(f"=> {best.family} / {best.variant} (by {best.plugin}): one model, {(best.component or '').rpartition(':')[2]}. {best.use}")
    return 0


def _save_png(image: Any, out: Path) -> None:
    """Write next to the target and rename, so a failed write leaves no half-written PNG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def _model_or_tiny(model: str | None, family: str) -> str:
    if model:
        return model
    from .tiny import tiny_checkpoint

    path, built = tiny_checkpoint(family)
    print(f"{'built' if built else 'using'} the built-in tiny {family} checkpoint at {path} (random weights)", file=sys.stderr)
    return str(path)


#: The size the built-in tiny checkpoints are built for. Some families' pipelines default to 512x512
#: (Kandinsky's), where a tiny random-weight decoder spends minutes on noise.
TINY_SIZE = 64


def _size(pipeline: Any, args: argparse.Namespace) -> dict[str, int]:
    """height/width for a call, where the pipeline takes them: --size, or TINY_SIZE for a built-in checkpoint."""
    import inspect

    size = args.size or (None if args.model else TINY_SIZE)
    params = inspect.signature(type(pipeline).__call__).parameters
    return {"height": size, "width": size} if size and "height" in params and "width" in params else {}


def _mask_for(image: Any) -> Any:
    """A white rectangle over the middle half: the region inpainting repaints."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", image.size, 0)
    w, h = image.size
    ImageDraw.Draw(mask).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=255)
    return mask


def cmd_generate(args: argparse.Namespace) -> int:
    task = Task.parse(args.task)
    if task is not Task.TEXT2IMG and not args.image:
        raise SystemExit(f"autopipe generate: --task {task.value} needs --image")
    if task is Task.INPAINT and not args.mask:
        raise SystemExit("autopipe generate: --task inpaint needs --mask")
    import torch
    from PIL import Image

    from .loading import load

    model = _model_or_tiny(args.model, args.family)
    pipeline, resolution, plan = load(model, task, args.device, **_hub_args(args), **_modifier_args(args))
    print(f"{resolution.pipeline_class} ({resolution.family}, {resolution.plugin}); {plan.dtype}, {plan.placement}: {plan.reason}", file=sys.stderr)
    call: dict[str, Any] = {"num_inference_steps": args.steps, "generator": torch.Generator("cpu").manual_seed(args.seed), **_size(pipeline, args)}
    if args.image:
        call["image"] = Image.open(args.image).convert("RGB")
    if args.mask:
        call["mask_image"] = Image.open(args.mask).convert("L")
    image = pipeline(args.prompt, **call).images[0]
    _save_png(image, Path(args.out))
    print(args.out)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

    out_dir = Path(args.out_dir)
    print("autopipe demo: text2img, then img2img and inpaint on the same weights through from_pipe\n")
    t0 = time.perf_counter()
    model = _model_or_tiny(args.model, args.family)
    t_model = time.perf_counter() - t0
    if not args.model:
        print("NOTE: the built-in checkpoint has random weights, so the images are noise by design; the point is the plumbing.")
        print(f"      {REAL_MODEL_HINT}\n")

    steps = []

    def step(label: str, fn: Any) -> Any:
        start = time.perf_counter()
        value = fn()
        steps.append((label, time.perf_counter() - start))
        return value

    from .resolve import resolve

    resolution = step("resolve (JSON only)", lambda: resolve(model, Task.TEXT2IMG))
    t2i = step("from_pretrained text2img", lambda: AutoPipelineForText2Image.from_pretrained(model))
    gen = lambda: torch.Generator("cpu").manual_seed(args.seed)  # noqa: E731
    prompt = args.prompt
    image = step("text2img call", lambda: t2i(prompt, num_inference_steps=args.steps, generator=gen(), **_size(t2i, args)).images[0])
    i2i = step("from_pipe -> img2img", lambda: AutoPipelineForImage2Image.from_pipe(t2i))
    image2 = step("img2img call", lambda: i2i(prompt, image=image, strength=0.75, num_inference_steps=args.steps, generator=gen(), **_size(i2i, args)).images[0])
    try:
        inp = step("from_pipe -> inpaint", lambda: AutoPipelineForInpainting.from_pipe(t2i))
        derived: tuple[Any, ...] = (i2i, inp)
    except UnsupportedTaskError as exc:
        inp = _separate_inpainter(args, resolution.family, exc, step)
        derived = (i2i,)
    image3 = step("inpaint call", lambda: inp(prompt, image=image, mask_image=_mask_for(image), num_inference_steps=args.steps, generator=gen(), **_size(inp, args)).images[0])

    files = {"text2img.png": image, "img2img.png": image2, "inpaint.png": image3}
    for name, img in files.items():
        _save_png(img, out_dir / name)

    models = {n: c for n, c in t2i.components.items() if hasattr(c, "parameters")}
    shared = bool(models) and all(p.components.get(n) is c for p in derived for n, c in models.items())
    print(f"model:    {model}")
    print(f"family:   {resolution.family} (plugin {resolution.plugin} {resolution.plugin_version})")
    for label, pipe in (("text2img", t2i), ("img2img", i2i), ("inpaint", inp)):
        print(f"{label + ':':<9} {type(pipe).__name__}")
    sharing = "the three pipelines" if len(derived) == 2 else "text2img and img2img (inpaint has its own checkpoint)"
    print(f"weights shared across {sharing}: {'yes' if shared else 'NO'}\n")
    print(f"{'step':<28}{'seconds':>9}")
    if not args.model:
        print(f"{'tiny checkpoint ready':<28}{t_model:>9.3f}")
    for label, seconds in steps:
        print(f"{label:<28}{seconds:>9.3f}")
    print(f"\nimages ({image.size[0]}x{image.size[1]}): " + ", ".join(str(out_dir / n) for n in files))
    return 0 if shared else 1


def _separate_inpainter(args: argparse.Namespace, family: str, refusal: UnsupportedTaskError, step: Any) -> Any:
    """The inpaint step for a checkpoint that cannot inpaint (a Kandinsky text decoder, say).

    diffusers would build the inpaint class over the wrong UNet and crash
    mid-denoising; autopipe refuses early. With a real checkpoint the demo says
    so and stops; with the built-in one it loads the family's own
    inpainting variant instead, which cannot share the text decoder's UNet.
    """
    from .auto import AutoPipelineForInpainting
    from .registry import get_registry

    if args.model:
        raise refusal
    spec = get_registry().families[family][0]
    variant = next((v.name for v in spec.variants if Task.INPAINT in v.tasks), None)
    if variant is None:
        raise refusal
    print(f"inpaint: {refusal}\n         so the demo loads the family's tiny {variant} checkpoint for it.\n")
    from .tiny import tiny_checkpoint

    path, _ = tiny_checkpoint(family, variant)
    return step("from_pretrained inpaint", lambda: AutoPipelineForInpainting.from_pretrained(str(path)))


def _memory(text: str) -> int:
    from .placement import PlacementError, parse_memory

    if text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} has no unit: write it with KiB, MiB or GiB (e.g. 8GiB)")
    try:
        return parse_memory(text)
    except PlacementError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autopipe", description="Pick, load and switch diffusers pipelines by task.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list installed plugins, their families and their health")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="also import every registered class (imports diffusers); exit 1 if one fails")
    p.set_defaults(func=cmd_plugins)

    def hub_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--revision")
        p.add_argument("--cache-dir")
        p.add_argument("--local-files-only", action="store_true")
        p.add_argument("--enable-pag", action="store_true", help="the PAG variant of the pipeline")

    p = sub.add_parser("resolve", help="which pipeline class serves a checkpoint (reads JSON only)")
    p.add_argument("model", help="a diffusers folder, a single .safetensors file or a hub repo id")
    p.add_argument("--task", type=Task.parse, help="text2img, img2img or inpaint (default: all three)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--allow-pickle", action="store_true", help="open a pickle checkpoint (.ckpt, .bin, .pt): it can run code")
    hub_options(p)
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("inspect", help="what a single-file checkpoint's header says, and each plugin's verdict (reads the header only)")
    p.add_argument("file", help="a .safetensors file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--allow-pickle", action="store_true", help="open a pickle checkpoint (.ckpt, .bin, .pt): it can run code")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("plan", help="dtype, variant and placement for a memory budget, from weight-file headers (loads nothing)")
    p.add_argument("model", help="a diffusers folder or a hub repo id")
    p.add_argument("--task", required=True, type=Task.parse)
    p.add_argument("--device", help="cuda (default), cuda:1, mps or cpu")
    p.add_argument("--memory", type=_memory, help="budget per device: an integer with KiB, MiB or GiB (default: what torch reports free)")
    p.add_argument("--gpus", type=int, help="number of devices of that budget (several: device_map='balanced' is considered)")
    p.add_argument("--width", type=int, help="image width the activation allowance is planned for (default: the family's)")
    p.add_argument("--height", type=int, help="image height (default: the family's)")
    p.add_argument("--bf16", action="store_true", help="the device supports bfloat16 (with --memory; else torch says)")
    p.add_argument("--json", action="store_true")
    hub_options(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("generate", help="load with the family's loading code, run, save a PNG")
    p.add_argument("--task", required=True, type=Task.parse)
    p.add_argument("--model", help="a diffusers folder or hub repo id (default: the built-in tiny checkpoint of --family)")
    p.add_argument("--family", default=DEFAULT_FAMILY, help=f"family of the built-in tiny checkpoint (default {DEFAULT_FAMILY})")
    p.add_argument("--prompt", required=True)
    p.add_argument("--image", help="input image (img2img, inpaint)")
    p.add_argument("--mask", help="mask image, white where to repaint (inpaint)")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, help=f"image height and width (default: the pipeline's own; {TINY_SIZE} for a built-in tiny checkpoint)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    hub_options(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="text2img, img2img and inpaint on one set of weights, with timings")
    p.add_argument("--model", help="a real checkpoint instead of the built-in tiny one")
    p.add_argument("--family", default=DEFAULT_FAMILY, help="family of the built-in tiny checkpoint")
    p.add_argument("--out-dir", default="autopipe-demo")
    p.add_argument("--prompt", default="a watercolor painting of a lighthouse at dawn")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--size", type=int, help=f"image height and width (default: the pipeline's own; {TINY_SIZE} for a built-in tiny checkpoint)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AutopipeError as exc:
        print(f"autopipe: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
