"""The ``autopipe`` command's arguments: only the chosen subcommand's parser is built, every value checked as it is read.

Every mistake is one line, ``autopipe: error: ...``, that says what was
wrong and what to do, before anything heavy is imported; ``--help`` of every
subcommand and option gives its default.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Sequence

from ..tasks import Task

#: The image side the built-in tiny checkpoints are called at. Some families' pipelines default to 512x512
#: (Kandinsky's), where a tiny random-weight decoder spends minutes on noise.
TINY_SIZE = 64
MAX_STEPS = 1000
MAX_SIDE = 16384  # pixels; larger calls are a typo, not a plan


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line that names the subcommand's --help (exit status 2)."""

    def error(self, message: str) -> Any:  # noqa: D401 - argparse's name
        hint = f" (see `{self.prog} --help`)" if self.prog else ""
        self.exit(2, f"autopipe: error: {message}{hint}\n")


def task(text: str) -> Task:
    try:
        return Task.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def counted(name: str, low: int, high: int, multiple: int = 1) -> Callable[[str], int]:
    """An integer from `low` to `high` (and a multiple of `multiple`), refused with what is allowed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, not {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be from {low} to {high}, not {value}")
        if value % multiple:
            raise argparse.ArgumentTypeError(f"{name} must be a multiple of {multiple} (the VAE works in blocks of {multiple} pixels), not {value}; e.g. {value - value % multiple or multiple}")
        return value

    return parse


def memory(text: str) -> int:
    from ..errors import PlacementError
    from ..units import parse_memory

    try:
        return parse_memory(text, unit_required=True)
    except PlacementError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def user_path(text: str) -> str:
    """A file path with a leading ``~`` expanded, as the shell does for ``--out ~/a.png`` but not ``--out=~/a.png``:
    the same spelling then means the same file everywhere (models and scan paths are expanded where they are read)."""
    import os

    return os.path.expanduser(text)


def device(text: str) -> str:
    """A device name autopipe places pipelines on (cuda, cuda:1, mps, cpu, xpu), checked without torch."""
    from ..errors import PlacementError
    from ..specs import device_type

    try:
        device_type(text)
    except PlacementError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def family(installed: Sequence[str]) -> Callable[[str], str]:
    """An installed family's name; another is refused saying which plugin to install for it (known.json), or, for a
    name no shipped plugin registers, the installed ones and the nearest."""

    def parse(text: str) -> str:
        if text in installed:
            return text
        import difflib

        from ..known import known_families
        from ..registry import get_registry, not_loaded

        plugin = known_families().get(text)
        if plugin is not None:
            raise argparse.ArgumentTypeError("the family {!r} is {}'s, which is {}. {}".format(text, plugin, *not_loaded([plugin], get_registry())))
        near = difflib.get_close_matches(text, list(installed) + list(known_families()), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise argparse.ArgumentTypeError(f"no family {text!r}{hint}. Installed: {', '.join(installed) or 'none'} (autopipe plugins lists them)")

    return parse


def _version() -> str:
    from .._version import __version__

    return f"autopipe {__version__} (autopipe-core)"


# --- the subcommands' arguments ----------------------------------------------------------------------------------


def _hub(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hub repos")
    g.add_argument("--revision", help="branch, tag or commit of a hub repo (default: main)")
    g.add_argument("--cache-dir", help="the hub cache folder (default: huggingface_hub's, ~/.cache/huggingface/hub)")
    g.add_argument("--local-files-only", action="store_true", help="use the hub cache only, never the network (default: off)")


def _modifiers(p: argparse.ArgumentParser) -> None:
    """A flag per switch modifier the installed plugins register (``enable_pag`` -> ``--enable-pag``): data, not code."""
    from ..registry import get_registry

    specs = [spec for spec, _ in get_registry().modifiers.values() if switch(spec)]
    if specs:
        g = p.add_argument_group("pipeline modifiers (from the installed plugins)")
        for spec in sorted(specs, key=lambda s: s.kwarg):
            g.add_argument(flag(spec.kwarg), dest=spec.kwarg, action="store_true", default=None,
                           help=(spec.description or f"{spec.kwarg}=True") + " (default: off)")


def switch(spec: Any) -> bool:
    """A modifier a flag can set: consumed, and chosen by True (``enable_pag``)."""
    try:
        return bool(spec.consume) and spec.choose(True) in spec.modifiers
    except Exception:  # noqa: BLE001 - a plugin's chooser that cannot answer True is no switch
        return False


def flag(kwarg: str) -> str:
    return "--" + kwarg.replace("_", "-")


def _families() -> list[str]:
    from ..registry import get_registry

    return sorted(get_registry().families)


def _pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-pickle", action="store_true", help="open a pickle checkpoint (.ckpt, .bin, .pt): unpickling can run code it carries (default: refused)")


def _plugins(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    p.add_argument("--check", action="store_true", help="also import every registered class (imports diffusers); exit 1 if one fails (default: off)")


def _resolve(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a diffusers folder, a single .safetensors file or a hub repo id (org/name)")
    p.add_argument("--task", type=task, help="text2img, img2img or inpaint (default: all three)")
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    _pickle(p)
    _hub(p)
    _modifiers(p)


def _inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=user_path, help="a .safetensors file (only its header is read)")
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    _pickle(p)


def _scan(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a folder to walk (or one checkpoint): diffusers folders, .safetensors files, sharded indexes")
    p.add_argument("--json", action="store_true", help="print one JSON array, an object per checkpoint (default: text)")
    _pickle(p)


def _plan(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a diffusers folder, a single .safetensors file or a hub repo id")
    p.add_argument("--task", required=True, type=task, help="text2img, img2img or inpaint")
    p.add_argument("--device", default="cuda", type=device, help="cuda, cuda:1, mps, xpu or cpu (default: cuda)")
    p.add_argument("--memory", type=memory, help="budget per device, e.g. 8GiB, 1.5GiB or 8GB (GiB = 2**30 bytes, GB = 10**9; default: what torch reports free)")
    p.add_argument("--gpus", type=counted("--gpus", 1, 1024), help="number of devices of that budget; several: device_map='balanced' is considered (default: 1)")
    p.add_argument("--width", type=counted("--width", 8, MAX_SIDE, 8), help="image width the activation allowance is planned for (default: the family's)")
    p.add_argument("--height", type=counted("--height", 8, MAX_SIDE, 8), help="image height (default: the family's)")
    p.add_argument("--bf16", action="store_true", help="the device supports bfloat16 (with --memory; else torch says; default: off)")
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    _pickle(p)
    _hub(p)
    _modifiers(p)


def _call(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--steps", type=counted("--steps", 1, MAX_STEPS), default=steps, help=f"denoising steps (default: {steps})")
    p.add_argument("--size", type=counted("--size", 8, MAX_SIDE, 8), help=f"image height and width in pixels, a multiple of 8 (default: the pipeline's own; {TINY_SIZE} for a built-in tiny checkpoint)")
    p.add_argument("--seed", type=counted("--seed", 0, 2**63 - 1), default=0, help="random seed (default: 0)")


def _generate(p: argparse.ArgumentParser) -> None:
    families = _families()
    p.add_argument("--task", required=True, type=task, help="text2img, img2img or inpaint")
    p.add_argument("--model", help="a diffusers folder, a single .safetensors file or a hub repo id (default: the built-in tiny checkpoint of --family)")
    p.add_argument("--family", type=family(families), action=Given, default=_default_family(families), help=f"family of the built-in tiny checkpoint: {', '.join(families) or 'none installed'} (default: %(default)s; not with --model)")
    p.add_argument("--prompt", required=True, help="what to draw")
    p.add_argument("--image", type=user_path, help="input image file (img2img, inpaint)")
    p.add_argument("--mask", type=user_path, help="mask image file, white where to repaint (inpaint)")
    p.add_argument("--out", required=True, type=user_path, help="output image file; its suffix picks the format (.png, .jpg, .webp, ...)")
    _call(p, 20)
    p.add_argument("--device", type=device, help="cpu, cuda, cuda:1, mps or xpu (default: the best available)")
    _pickle(p)
    _hub(p)
    _modifiers(p)


def _demo(p: argparse.ArgumentParser) -> None:
    families = _families()
    p.add_argument("--model", help="a real checkpoint instead of the built-in tiny one (a folder, a .safetensors file or a hub repo id)")
    p.add_argument("--family", type=family(families), action=Given, default=_default_family(families), help=f"family of the built-in tiny checkpoint: {', '.join(families) or 'none installed'} (default: %(default)s; not with --model)")
    p.add_argument("--out-dir", default="autopipe-demo", type=user_path, help="where the three images are written (default: %(default)s)")
    p.add_argument("--prompt", default="a watercolor painting of a lighthouse at dawn", help="what to draw (default: %(default)r)")
    _call(p, 4)


def _serve(p: argparse.ArgumentParser) -> None:
    def cpus(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--cpus-per-replica must be a number, not {text[:40]!r}") from None
        if not 0 < value <= 1024:
            raise argparse.ArgumentTypeError(f"--cpus-per-replica must be above 0 (a fraction shares a core) and at most 1024, not {text}")
        return value

    p.add_argument("model", nargs="+", metavar="MODEL", help="a checkpoint to serve: a diffusers folder, a .safetensors file or a hub repo id; NAME=MODEL chooses its model id (default: the folder's or file's name, or the repo id)")
    p.add_argument("--replicas", type=counted("--replicas", 1, 1024), default=1, help="replicas of the deployment, each holding its own weights (default: 1)")
    p.add_argument("--port", type=counted("--port", 1, 65535), default=8000, help="HTTP port (default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)")
    p.add_argument("--models-per-replica", type=counted("--models-per-replica", 1, 1024), default=3, help="checkpoints a replica holds at once; beyond it the least recently used is unloaded (default: 3)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where replicas run: auto is cuda when Ray finds GPUs (default: auto)")
    p.add_argument("--gpu-memory", type=memory, help="memory of each GPU, e.g. 80GiB: replicas then ask for the fraction of a GPU their checkpoints need (default: a whole GPU each)")
    p.add_argument("--cpus-per-replica", type=cpus, default=1.0, help="CPUs each replica asks Ray for; a fraction shares a core (default: 1)")
    p.add_argument("--max-size", type=counted("--max-size", 8, MAX_SIDE, 8), default=1024, help="largest image side a request may ask for, a multiple of 8; the memory request is planned at it (default: 1024)")
    p.add_argument("--max-steps", type=counted("--max-steps", 1, MAX_STEPS), default=150, help="most denoising steps a request may ask for (default: 150)")
    p.add_argument("--steps", type=counted("--steps", 1, MAX_STEPS), default=20, help="denoising steps of a request that names none (default: 20)")


#: The demo's family when several are installed: the first of these, else the first installed. Only a default for a
#: command-line choice (the installed plugins are the truth); naming none of them would change nothing else.
PREFERRED_DEMO_FAMILIES = ("stable-diffusion",)


class Given(argparse.Action):
    """Store the value and note that it was given (``<dest>_given``), where the default alone cannot tell."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _default_family(families: Sequence[str]) -> str | None:
    return next((f for f in PREFERRED_DEMO_FAMILIES if f in families), families[0] if families else None)


#: subcommand -> (help, adds its arguments, "module:function" that runs it)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "plugins": ("list installed plugins, their families and their health", _plugins, "reports:plugins"),
    "resolve": ("which pipeline class serves a checkpoint for each task (reads JSON only)", _resolve, "reports:resolve"),
    "inspect": ("what a single-file checkpoint's header says, and each plugin's verdict (reads the header only)", _inspect, "reports:inspect"),
    "scan": ("classify every checkpoint under a folder: family, class per task, bytes, or why not (headers and JSON only)", _scan, "scanning:scan"),
    "plan": ("dtype, weight variant and placement for a memory budget, from weight-file headers (loads nothing)", _plan, "reports:plan"),
    "generate": ("load with the family's loading code, run one task, save the image", _generate, "running:generate"),
    "demo": ("text2img, img2img and inpaint on one set of weights, with timings", _demo, "running:demo"),
    "serve": ("serve text2img, img2img and inpaint over HTTP with Ray Serve on a local Ray (needs autopipe-core[serve])", _serve, "serving:serve"),
}


def build(argv: Sequence[str]) -> Parser:
    """The parser for this command line: every subcommand listed, only the one named given its arguments."""
    parser = Parser(prog="autopipe", description="Pick, load and switch diffusers pipelines by task.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", help="show other libraries' warnings and progress bars, and tracebacks (default: off)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    # Only the named subcommand's parser is built (each costs a parser); all of them where the list is shown:
    # no command, an unknown one (argparse names the choices), or --help before the command.
    before = argv[: argv.index(chosen)] if chosen in COMMANDS else argv
    listed = (chosen,) if chosen in COMMANDS and not {"-h", "--help"} & set(before) else tuple(COMMANDS)
    for name in listed:
        text, add, target = COMMANDS[name]
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.set_defaults(target=target)
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="as autopipe -v")
        if name == chosen:
            add(p)
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build(argv)
    args, extras = parser.parse_known_args(argv)
    if extras:  # said by the subcommand, whose --help lists what it takes (argparse says it as the top command)
        Parser(prog=f"{parser.prog} {args.command}").error(f"unrecognized arguments: {' '.join(extras)}")
    if getattr(args, "family_given", False) and getattr(args, "model", None) is not None:
        Parser(prog=f"{parser.prog} {args.command}").error(
            f"--family chooses a built-in tiny checkpoint and --model names a checkpoint of your own: give one of them, not both (--family {args.family} would be ignored)"
        )
    return args


def env_verbose() -> bool:
    return os.environ.get("AUTOPIPE_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")
