"""What each family gets on each size of GPU: the table of docs/placement.md, computed by the planner itself.

For the full-size checkpoints of bench/fullsize.py (header-only sparse
files of the real tensor shapes), `autopipe_core.planning.plan` is asked
for text2img on a CUDA device with 4, 8, 12, 16, 24, 40 and 80 GiB free,
one GPU and then two. Nothing is loaded and nothing is typed by hand:
`--write docs/placement.md` replaces the text between the markers, and
tests/test_placement_fullsize.py checks that the page says what the code does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fullsize  # noqa: E402

BUDGETS_GIB = (4, 8, 12, 16, 24, 40, 80)
START, END = "<!-- placement-table:start -->", "<!-- placement-table:end -->"
SHORT = {"device": "device", "balanced": "balanced", "model_cpu_offload": "model offload", "sequential_cpu_offload": "sequential offload"}


def plans(root: Path, written: dict[str, Path] | None = None) -> dict[str, dict]:
    """checkpoint -> {"weights", "activation", "largest", "one": {GiB: placement}, "two": {GiB: placement}}.

    Each checkpoint is written under `root`, unless `written` already holds its folder.
    """
    from autopipe_core import DeviceFacts, resolve
    from autopipe_core.planning import GiB, plan

    out = {}
    for name in fullsize.CHECKPOINTS:
        folder = (written or {}).get(name) or fullsize.write(name, root)
        resolution = resolve(folder, "text2img")
        row: dict = {"one": {}, "two": {}}
        for gib in BUDGETS_GIB:
            for key, count in (("one", 1), ("two", 2)):
                placed = plan(resolution, DeviceFacts("cuda", count, gib * GiB, gib * GiB, True))
                row[key][gib] = placed.plan.placement
        row["dtype"] = placed.plan.dtype
        row["weights"] = placed.footprint.weights
        row["activation"] = placed.footprint.activation
        row["largest"] = placed.footprint.largest
        out[name] = row
    return out


def table(rows: dict[str, dict]) -> str:
    gib = 1 << 30
    head = "| checkpoint | weights (16-bit) | largest component | activations | " + " | ".join(f"{b} GiB" for b in BUDGETS_GIB) + " |"
    lines = [
        "One GPU with this much free memory:",
        "",
        head,
        "| --- " * (4 + len(BUDGETS_GIB)) + "|",
    ]
    for name, row in rows.items():
        act = row["activation"]
        lines.append(
            f"| {fullsize.CHECKPOINTS[name]['title']} | {row['weights'] / gib:.2f} GiB | {row['largest'].name} {row['largest'].nbytes / gib:.2f} GiB "
            f"| {act.nbytes / gib:.2f} GiB at {act.width}x{act.height} | " + " | ".join(SHORT[row["one"][b]] for b in BUDGETS_GIB) + " |"
        )
    lines += ["", "Two GPUs, each with this much free memory:", "", "| checkpoint | " + " | ".join(f"2 x {b} GiB" for b in BUDGETS_GIB) + " |",
              "| --- " * (1 + len(BUDGETS_GIB)) + "|"]
    for name, row in rows.items():
        lines.append(f"| {fullsize.CHECKPOINTS[name]['title']} | " + " | ".join(SHORT[row["two"][b]] for b in BUDGETS_GIB) + " |")
    return "\n".join(lines)


def render(written: dict[str, Path] | None = None) -> str:
    os.environ.pop("AUTOPIPE_PLUGINS", None)  # every plugin of this repository, as the page says
    with tempfile.TemporaryDirectory() as tmp:
        return table(plans(Path(tmp), written))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="replace the table between the markers in this file")
    args = parser.parse_args()
    text = render()
    if args.write is None:
        print(text)
        return
    page = args.write.read_text()
    before, _, rest = page.partition(START)
    _, _, after = rest.partition(END)
    args.write.write_text(f"{before}{START}\n{text}\n{END}{after}")
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
