"""The subcommands that answer from JSON and headers alone: plugins, resolve, inspect, plan (no torch, no diffusers)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from ..errors import AutopipeError, UnsupportedTaskError
from ..registry import Registry
from ..specs import import_class
from ..tasks import Task
from .parser import switch


@dataclass(frozen=True)
class ClassProblem:
    """A class a plugin registered that cannot be imported (``autopipe plugins --check``)."""

    plugin: str
    class_ref: str
    error: str


def check_classes(registry: Registry) -> tuple[ClassProblem, ...]:
    """Import every class in the tables and report those that fail, by plugin and class.

    Imports diffusers (and whatever the plugins name): it is for ``autopipe
    plugins --check`` and a plugin's CI, never for resolution.
    """
    from ..dependencies import library_of, unmet

    refs = sorted({ref_plugin for tasks in registry.table.values() for ref_plugin in tasks.values()})
    problems = []
    for ref, plugin in refs:
        try:
            import_class(ref)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported per class
            missing = unmet(plugin, frozenset({library_of(ref)}))
            problems.append(ClassProblem(plugin, ref, f"{type(exc).__name__}: {exc}" + (f" ({missing[0]})" if missing else "")))
    return tuple(problems)


def hub_args(args: argparse.Namespace) -> dict[str, Any]:
    """The hub options given on the command line, as from_pretrained's keywords."""
    out: dict[str, Any] = {}
    if getattr(args, "revision", None):
        out["revision"] = args.revision
    if getattr(args, "cache_dir", None):
        out["cache_dir"] = args.cache_dir
    if getattr(args, "local_files_only", False):
        out["local_files_only"] = True
    return out


def modifier_args(args: argparse.Namespace) -> dict[str, Any]:
    """The modifier switches given (``--enable-pag`` -> ``enable_pag=True``), from the installed plugins' modifiers."""
    from ..registry import get_registry

    return {kwarg: True for kwarg, (spec, _) in get_registry().modifiers.items() if switch(spec) and getattr(args, kwarg, None)}


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def plugins(args: argparse.Namespace) -> int:
    from ..dependencies import unmet
    from ..plugins import SLOW_IMPORT_SECONDS
    from ..registry import get_registry, left_out, not_installed_settings, said_not_installed

    registry = get_registry()
    settings = {"left_out": list(left_out()), "not_installed": {k: list(v) for k, v in not_installed_settings().items()}}
    rows = []
    for p in registry.plugins:
        needs = unmet(p.distribution) if p.distribution != "autopipe-core" else ()
        rows.append(
            {
                "distribution": p.distribution,
                "version": p.version,
                "entry_point": p.entry_point,
                "families": list(registry.families_of(p.distribution)),
                "modifiers": sorted(k for k, (_, owner) in registry.modifiers.items() if owner == p.distribution),
                "hooks": list(p.hooks),
                "detect_keys": sorted(registry.detect_keys.get(p.distribution, ())),
                "error": p.error,
                "import_seconds": round(p.import_seconds, 4),
                "slow_import": p.slow,
                "unmet": [{"library": u.library, "specifier": u.specifier, "installed": u.installed, "install": u.pip} for u in needs],
            }
        )
    conflicts = [{"what": c.what, "winner": c.winner, "losers": list(c.losers)} for c in registry.conflicts]
    if args.check:
        import sys

        print(f"importing every registered class ({sum(len(t) for t in registry.table.values())}; this imports diffusers, some seconds)...", file=sys.stderr, flush=True)
    problems = check_classes(registry) if args.check else ()
    for r in rows:
        if args.check:
            r["unimportable"] = [{"class": c.class_ref, "error": c.error} for c in problems if c.plugin == r["distribution"]]
    status = 1 if problems or (args.check and any(r["unmet"] for r in rows)) else 0
    if args.json:
        _print_json({"plugins": rows, "conflicts": conflicts, **settings})
        return status
    for r in rows:
        health = "BROKEN" if r["error"] is not None else "unmet requirements" if r["unmet"] else "ok"
        slow = f"  [slow import: {r['import_seconds']:.2f} s > {SLOW_IMPORT_SECONDS} s]" if r["slow_import"] else ""
        print(f"{r['distribution']} {r['version']}  [{health}]{slow}")
        if r["families"]:
            print(f"    families:  {', '.join(r['families'])}")
        if r["modifiers"]:
            print(f"    modifiers: {', '.join(k + '=' for k in r['modifiers'])}")
        if r["hooks"]:
            print(f"    hooks:     {', '.join(r['hooks'])}")
        if r["detect_keys"]:
            print(f"    detects:   only files holding {' or '.join(r['detect_keys'])}")
        if r["error"]:
            print(f"    error:     {r['error']}")
        for u in r["unmet"]:
            present = f"{u['installed']} is installed" if u["installed"] else "not installed"
            print(f"    needs:     {u['library']}{u['specifier']} ({present}): {u['install']}")
        for c in r.get("unimportable", ()):
            print(f"    cannot import {c['class']}: {c['error']}")
    for c in conflicts:
        print(f"conflict: {c['what']} registered by {', '.join([c['winner'], *c['losers']])}; {c['winner']} wins (set AUTOPIPE_PREFER to choose)")
    if settings["left_out"]:
        print(f"left out by AUTOPIPE_PLUGINS (installed, not loaded): {', '.join(settings['left_out'])}")
    for setting, names in settings["not_installed"].items():
        print(said_not_installed(setting, names))
    if args.check:
        print(f"checked: {'every registered class imports' if not problems else f'{len(problems)} registered class(es) cannot be imported'}")
    return status


def _error_json(exc: BaseException) -> dict[str, Any]:
    from ..advice import as_said_here

    return {"type": type(exc).__name__, "message": as_said_here(str(exc))}


def resolve(args: argparse.Namespace) -> int:
    from ..registry import get_registry
    from ..resolve import identify, resolve_identity

    registry = get_registry()
    hints = modifier_args(args)
    try:
        identity = identify(args.model, registry, args.allow_pickle, **hub_args(args))
        if args.task:
            r = resolve_identity(identity, args.task, hints, registry)
    except AutopipeError as exc:
        if not args.json:
            raise
        _print_json({"model": args.model, "error": _error_json(exc)})
        return 1
    if args.task:
        if args.json:
            print(json.dumps({"family": r.family, "plugin": r.plugin, "task": r.task.value, "pipeline_class": r.pipeline_class}))
        else:
            print(r.pipeline_class)
        return 0
    results: dict[Task, Any] = {}
    for t in Task:
        try:
            results[t] = resolve_identity(identity, t, hints, registry)
        except UnsupportedTaskError as exc:
            results[t] = exc
        except AutopipeError as exc:
            if not args.json:
                raise
            _print_json({"model": args.model, "error": _error_json(exc)})
            return 1
    found = [r for r in results.values() if not isinstance(r, Exception)]
    if not found:
        raise next(iter(results.values()))
    family = found[0].family
    plugin = registry.families[family][1]
    if args.json:
        pipelines = {t.value: (None if isinstance(r, Exception) else r.pipeline_class) for t, r in results.items()}
        refused = {t.value: _error_json(r)["message"] for t, r in results.items() if isinstance(r, Exception)}
        detected = {"variant": identity.detection.variant, "detected_by": identity.detection.plugin} if identity.detection else {}
        print(json.dumps({"family": family, "plugin": plugin, "pipelines": pipelines, **({"refused": refused} if refused else {}), **detected}))
        return 0
    from ..advice import as_said_here

    print(f"model:   {identity.reference} ({identity.class_name})")
    print(f"family:  {family} (plugin {plugin})")
    if identity.detection:
        d = identity.detection
        print(f"file:    {d.variant}, detected by {d.plugin} ({d.confidence:.2f}): {d.reason}")
    for t, r in results.items():
        print(f"  {t.value:<9} {('cannot: ' + as_said_here(str(r))) if isinstance(r, Exception) else r.pipeline_class}")
    return 0


def plan(args: argparse.Namespace) -> int:
    """Where the checkpoint would go on this budget, and why: headers and JSON only, no weights, no torch (with --memory)."""
    from dataclasses import replace

    from .. import planning
    from ..errors import PlacementError
    from ..registry import get_registry
    from ..resolve import identify, resolve_identity
    from ..specs import DeviceFacts

    registry = get_registry()
    identity = identify(args.model, registry, args.allow_pickle, **hub_args(args))
    resolution = resolve_identity(identity, args.task, modifier_args(args), registry)
    device = args.device
    kind = device.partition(":")[0]
    if args.memory is None and kind != "cpu":
        from ..loading import detect, unavailable

        import torch

        missing = unavailable(device, kind, torch)
        if missing is not None:
            raise PlacementError(f"cannot read the free memory of {missing}; to plan for a device elsewhere, pass --memory, e.g. --memory 8GiB")
        try:
            facts = detect(device)  # what torch reports free
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise PlacementError(f"cannot read the free memory of {device} ({exc}); pass --memory, e.g. --memory 8GiB") from None
    else:
        facts = DeviceFacts(kind, 0 if kind == "cpu" else 1, args.memory, None, args.bf16)
    if args.gpus is not None:
        facts = replace(facts, count=args.gpus)
    placed = planning.plan(resolution, facts, args.width, args.height, kwargs=hub_args(args), registry=registry, device_name=device, allow_pickle=args.allow_pickle)
    if args.json:
        _print_json({"model": args.model, "family": resolution.family, "pipeline_class": resolution.pipeline_class, **placed.to_json()})
    else:
        print(planning.format_plan(placed, args.model, resolution.pipeline_class))
        if args.memory is not None and kind != "cpu" and not args.bf16:
            print(f"note:        a {kind} given by --memory is taken to have no bfloat16; pass --bf16 for one that has it (NVIDIA Ampere or newer)")
    return 0


def _detection_json(d: Any) -> dict[str, Any]:
    return {
        "plugin": d.plugin, "family": d.family, "variant": d.variant, "confidence": d.confidence, "reason": d.reason,
        "pipeline_class": d.pipeline_class, "component": d.component, "config": d.config, "use": d.use or None,
    }


def inspect(args: argparse.Namespace) -> int:
    """What a single file's header says (no weights read), and what each plugin makes of it."""
    from ..headers import header_to_json
    from ..single_file import detect, read

    report = detect(read(args.file, args.allow_pickle))
    header = report.header
    verdicts = [
        {"plugin": v.plugin, "asked": v.asked, "keys_absent": v.keys_absent, "error": v.error, "detections": [_detection_json(d) for d in v.detections]}
        for v in report.verdicts
    ]
    if args.json:
        best = _detection_json(report.best) if report.best else None
        _print_json({"header": header_to_json(header), "verdicts": verdicts, "best": best})
        return 0
    from ..advice import printable

    print(f"file:       {printable(str(header.path))}")
    print(f"size:       {header.file_size:,} bytes (header {header.header_bytes:,} bytes, the only part read)")
    print(f"tensors:    {len(header.tensors):,}, {header.parameters:,} parameters")
    for dtype, size in sorted(header.bytes_by_dtype().items(), key=lambda kv: -kv[1]):
        count = sum(t.numel for t in header.tensors.values() if t.dtype == dtype)
        print(f"  {dtype:<8} {count:>15,} parameters {size:>17,} bytes")
    if header.metadata:
        print("metadata:")
        for key, value in sorted(header.metadata.items()):
            shown = value if len(value) <= 100 else value[:97] + "..."
            print(printable(f"  {key}: {shown}"))
    print("verdicts:")
    for v in report.verdicts:
        print(printable(f"  {v.describe()}"))
    best = report.best
    if best is None:
        print("=> no installed plugin recognises it")
    elif best.is_pipeline:
        print(f"=> {best.family} / {best.variant} (by {best.plugin}): loads as {(best.pipeline_class or '').rpartition(':')[2]}; `autopipe resolve FILE` lists the three tasks")
    else:
        print(f"=> {best.family} / {best.variant} (by {best.plugin}): one model, {(best.component or '').rpartition(':')[2]}. {best.use}")
    return 0
