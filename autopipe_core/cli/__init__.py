"""The ``autopipe`` command: plugins, resolve, inspect, plan, generate, demo.

``plugins``, ``resolve``, ``inspect`` and ``plan`` import no torch or diffusers:
they answer in the time it takes Python to start. ``generate`` and ``demo``
load pipelines. Every user mistake is one line, ``autopipe: error: ...``,
never a traceback (``-v`` shows it); other libraries' warnings are quiet
unless ``-v``.
"""

from __future__ import annotations

import os
import sys

from ..errors import AutopipeError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold run imports only what it uses
if TYPE_CHECKING:
    from typing import Any, Sequence


def __getattr__(name: str) -> Any:
    """ADVICE and as_said_here lived here before :mod:`autopipe_core.advice`: imported from there on first use."""
    if name in ("ADVICE", "as_said_here"):
        from .. import advice

        return getattr(advice, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UsageError(Exception):
    """A command-line value that cannot work (a missing input image, an output format nobody writes): exit status 2."""


#: Libraries whose warnings and log lines are theirs to show, not ours, unless -v.
QUIET_LIBRARIES = ("torch", "torchvision", "transformers", "diffusers", "accelerate", "huggingface_hub", "PIL", "safetensors")


def quiet(verbose: bool) -> None:
    """Other libraries' warnings and info lines off, unless -v. Set before they are imported (they read these once)."""
    if verbose:
        return
    import re
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for library in QUIET_LIBRARIES:
        warnings.filterwarnings("ignore", module=re.escape(library) + r"(\..*)?$")


def _say(message: str) -> None:
    from ..advice import as_said_here

    print(f"autopipe: error: {as_said_here(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status.

    Without `argv` (a real process: the ``autopipe`` script, ``python -m autopipe_core.cli``), a plain
    ``resolve FOLDER`` or ``resolve FILE`` is first answered from the registration snapshot
    (:mod:`autopipe_core.quick`) when one is valid; else the full command line runs, and saves the snapshot for
    the next process.
    """
    if argv is None and sys.argv[1:2] == ["resolve"]:
        from ..quick import answer

        status = answer(sys.argv[1:])
        if status is not None:
            return status
    import importlib

    from .parser import env_verbose, parse

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
            _traceback()
        _say(str(exc) or type(exc).__name__)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line, and how to see the rest
        if verbose:
            _traceback()
        _say(f"internal error, {type(exc).__name__}: {exc}. Run with -v for the traceback, and please report it.")
        return 1
    finally:
        if argv is None:
            _save_snapshot()  # also after an answer that was an error: the next run reads the same plugins


def _traceback() -> None:
    """The exception being handled, as Python prints it (-v); traceback is imported here, not by every run (2 ms)."""
    import traceback

    traceback.print_exc()


def _save_snapshot() -> None:
    """Save the registration snapshot when this process built a registry and none valid is saved (see :mod:`autopipe_core.snapshot`)."""
    registry = sys.modules.get("autopipe_core.registry")
    built = registry.built() if registry is not None else None
    if built is None:
        return
    from .. import snapshot

    snapshot.refresh(built)
