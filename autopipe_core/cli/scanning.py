"""``autopipe scan``: every checkpoint under a folder, classified in one process (headers and JSON only)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterator

from ..units import human


def _bar(items: Iterator[Any]) -> Iterator[Any]:
    """tqdm's bar on stderr when it is a terminal (tqdm comes with huggingface_hub); the items as they are otherwise."""
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    listed = list(items)
    return iter(tqdm(listed, desc="scanning", unit="checkpoint", file=sys.stderr, leave=False))


def scan(args: argparse.Namespace) -> int:
    from ..scan import dumps, scan as run

    results = run(args.path, allow_pickle=args.allow_pickle, progress=_bar)
    if args.json:
        print(dumps(results))
        return 0
    from ..advice import as_said_here, printable

    for r in results:
        if r.error:
            print(f"{printable(r.path)}\n    cannot be used: {as_said_here(r.error)}")
            continue
        # The weights its family's plan loads on a GPU (in its dtype), not the file's size
        size = "weights: size unknown" if r.weights_bytes is None else f"weights: {human(r.weights_bytes)} as loaded on a GPU"
        print(f"{printable(r.path)}\n    {r.family}{' / ' + r.variant if r.variant else ''} ({r.plugin}), {size}")
        for task, cls in r.pipelines.items():
            print(f"    {task:<9} {cls or 'cannot: ' + as_said_here(r.refused.get(task, ''))}")
    usable = sum(1 for r in results if not r.error)
    print(f"{len(results)} checkpoint(s), {usable} usable", file=sys.stderr)
    return 0
