"""The ``autopipe`` command: plugins, resolve, inspect, plan, generate, demo.

``plugins``, ``resolve``, ``inspect`` and ``plan`` import no torch or diffusers:
they answer in the time it takes Python to start. ``generate`` and ``demo``
load pipelines. Every user mistake is one line, ``autopipe: error: ...``,
never a traceback (``-v`` shows it); other libraries' warnings are quiet
unless ``-v``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from typing import Sequence

from ..errors import AutopipeError
from .parser import env_verbose, parse


class UsageError(Exception):
    """A command-line value that cannot work (a missing input image, an output format nobody writes): exit status 2."""


#: Advice in messages written for Python callers, as the command line says it.
ADVICE = (
    (re.compile(r"pass allow_pickle=True"), "pass --allow-pickle"),
    (re.compile(r"allow_pickle=True"), "--allow-pickle"),
    (re.compile(r"pass trust_remote_code=True"), "load it from Python with trust_remote_code=True (the command line never runs a checkpoint's code)"),
    (re.compile(r"local_files_only=True"), "--local-files-only"),
    (re.compile(r"(?<![.\w])from_pretrained\(folder\)"), "--model FOLDER"),
    # A whole call first ("AutoPipelineForText2Image.from_pretrained('Qwen/Qwen-Image')"), then the class alone.
    (re.compile(r"AutoPipelineForText2Image\.from_pretrained\('([^'\s]+)'\)"), r"--task text2img --model \1"),
    (re.compile(r"AutoPipelineForImage2Image\.from_pretrained\('([^'\s]+)'\)"), r"--task img2img --model \1"),
    (re.compile(r"AutoPipelineForInpainting\.from_pretrained\('([^'\s]+)'\)"), r"--task inpaint --model \1"),
    (re.compile(r"AutoPipelineForText2Image"), "--task text2img"),
    (re.compile(r"AutoPipelineForImage2Image"), "--task img2img"),
    (re.compile(r"AutoPipelineForInpainting"), "--task inpaint"),
    (re.compile(r"enable_pag=True"), "--enable-pag"),
    (re.compile(r"\benable_pag\b"), "--enable-pag"),
    # Components are objects: the command line cannot pass them, Python can.
    (re.compile(r"pass ((?:\w+=\.\.\.(?:, )?)+) to from_pretrained\b"), r"load it from Python and pass \1 to from_pretrained"),
)


def as_said_here(message: str) -> str:
    """A message's advice with command-line flags in place of Python keywords."""
    for pattern, replacement in ADVICE:
        message = pattern.sub(replacement, message)
    return message


#: Libraries whose warnings and log lines are theirs to show, not ours, unless -v.
QUIET_LIBRARIES = ("torch", "torchvision", "transformers", "diffusers", "accelerate", "huggingface_hub", "PIL", "safetensors")


def quiet(verbose: bool) -> None:
    """Other libraries' warnings and info lines off, unless -v. Set before they are imported (they read these once)."""
    if verbose:
        return
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for library in QUIET_LIBRARIES:
        warnings.filterwarnings("ignore", module=re.escape(library) + r"(\..*)?$")


def _say(message: str) -> None:
    print(f"autopipe: error: {as_said_here(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = parse(argv)
    verbose = args.verbose = bool(getattr(args, "verbose", False)) or env_verbose()
    quiet(verbose)
    module, _, function = args.target.partition(":")
    run = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    try:
        return run(args)
    except BrokenPipeError:
        # The reader went away (`autopipe plugins --json | head`): stop quietly, as a filter should.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("autopipe: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        _say(str(exc))
        return 2
    except (AutopipeError, OSError, ValueError) as exc:
        # A checkpoint or a file that cannot be used, said by autopipe or by diffusers underneath it.
        if verbose:
            traceback.print_exc()
        _say(str(exc) or type(exc).__name__)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line, and how to see the rest
        if verbose:
            traceback.print_exc()
        _say(f"internal error, {type(exc).__name__}: {exc}. Run with -v for the traceback, and please report it.")
        return 1
