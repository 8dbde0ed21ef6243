"""The CPU time and peak memory of refusing each hostile checkpoint of tests/hostile_cases.py (docs/reliability.md quotes them).

    .venv/bin/python bench/reliability_costs.py

Builds the tiny SD checkpoint in a temporary folder, then measures each case as
tests/bounds.py does (CPU time of an untraced run, tracemalloc peak of a traced one).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("AUTOPIPE_PLUGINS", "autopipe-sd")

import autopipe_core  # noqa: E402
from bounds import costs  # noqa: E402
from hostile_cases import CASES  # noqa: E402

from autopipe_core.tiny import build_tiny  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny("stable-diffusion", Path(tmp) / "tiny")
        autopipe_core.resolve(tiny, "text2img")  # the registry built, imports done: what is measured is the refusal
        print("| case | error | CPU time | peak memory |\n| --- | --- | ---: | ---: |")
        for i, (name, (build, call, error, _)) in enumerate(sorted(CASES.items())):
            root = Path(tmp) / f"case{i}"
            root.mkdir()
            argument = build(root, tiny)
            outcome, seconds, peak = costs(lambda: call(argument), getattr(autopipe_core, error))
            print(f"| {name} | {type(outcome).__name__} | {seconds * 1000:.1f} ms | {peak / 2**20:.2f} MiB |")


if __name__ == "__main__":
    main()
