"""What diffusers' AutoPipeline and autopipe choose for every class of diffusers' AutoPipeline tables, and each task.

For every class the installed diffusers' AutoPipeline tables list (every key,
decoder tables included), and each task, a checkpoint folder whose
model_index.json names that class is resolved both ways: diffusers by its
from_pretrained table look-up, autopipe by resolve() with every plugin of this
repository. Then, for the classes autopipe serves that no table lists
(FluxFillPipeline, SanaSprintPipeline, ...), the same.

Each row gets a verdict (:func:`verdict`):

- ``same``: the same class, or both refuse (diffusers' ValueError, autopipe's typed error);
- ``deliberate``: autopipe answers otherwise on purpose, for the reason in :data:`DELIBERATE`;
- ``not yet``: a key no shipped plugin serves yet (:data:`NOT_YET`), refused with "no installed plugin";
- ``MISMATCH``: anything else. tests/test_parity.py fails on one, naming the key, so a diffusers release
  that adds a key (or changes a class) is noticed.

``--write docs/parity.md`` writes the page that tests/test_parity.py checks is up to date.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TASKS = ("text2img", "img2img", "inpaint")

#: Keys of the installed diffusers' tables no plugin of this repository serves yet, each with why: none since every
#: key of diffusers 0.42.1's is served. A key served since fails the test until it is taken out; a key a new diffusers
#: adds fails it until it is served or listed here.
NOT_YET: dict[str, str] = {}

_BEYOND = "diffusers has {} but no AutoPipeline table maps the task to it"
#: (model_index class, task) -> why autopipe's answer is not diffusers' on purpose. Short, and each one reasoned.
DELIBERATE: dict[tuple[str, str], str] = {
    ("ChromaPipeline", "img2img"): _BEYOND.format("ChromaImg2ImgPipeline"),
    ("ChromaPipeline", "inpaint"): _BEYOND.format("ChromaInpaintPipeline"),
    ("FluxKontextPipeline", "inpaint"): _BEYOND.format("FluxKontextInpaintPipeline"),
    ("Flux2KleinPipeline", "inpaint"): _BEYOND.format("Flux2KleinInpaintPipeline"),
    ("QwenImageControlNetPipeline", "inpaint"): _BEYOND.format("QwenImageControlNetInpaintPipeline"),
    ("ZImageControlNetPipeline", "inpaint"): _BEYOND.format("ZImageControlNetInpaintPipeline"),
    ("ZImageControlNetInpaintPipeline", "inpaint"): "ZImageControlNetInpaintPipeline inpaints (its call needs image and mask_image); diffusers files it under text2img only",
    ("ZImageControlNetInpaintPipeline", "text2img"): "diffusers gives the inpainting class back, whose call fails without image and mask_image; autopipe gives ZImageControlNetPipeline",
}
#: Classes autopipe serves that no table lists: each row where autopipe gives a class is deliberate, for this reason.
BEYOND_THE_TABLES: dict[str, str] = {
    "ChromaImg2ImgPipeline": "a Chroma class diffusers ships without a table key (chroma maps text2img only)",
    "ChromaInpaintPipeline": "a Chroma class diffusers ships without a table key (chroma maps text2img only)",
    "FluxFillPipeline": "FLUX.1 Fill, an inpainting-only transformer (384 input channels): inpaint only",
    "FluxKontextInpaintPipeline": "a Kontext class diffusers ships without a table key",
    "Flux2KleinInpaintPipeline": "a FLUX.2 [klein] class diffusers ships without a table key (flux2-klein maps text2img and img2img)",
    "QwenImageControlNetInpaintPipeline": "a Qwen-Image ControlNet class diffusers ships without a table key",
    "BriaPipeline": "BRIA 3.x, which diffusers ships without a table key (text2img)",
    "BriaFiboPipeline": "BRIA FIBO, which diffusers ships without a table key (text2img)",
    "BriaFiboEditPipeline": "BRIA FIBO Edit, which diffusers ships without a table key (text2img, img2img, inpaint)",
    "HiDreamImagePipeline": "HiDream-I1 (Full, Dev, Fast), which diffusers ships without a table key: text2img only, diffusers has no other HiDream class",
    "PRXPixelPipeline": "PRX in pixel space (no VAE), which diffusers ships without a table key (text2img)",
    "SanaControlNetPipeline": "Sana with a ControlNet (text2img), which diffusers ships without a table key",
    "SanaSprintPipeline": "Sana Sprint, which diffusers ships without a table key",
    "SanaSprintImg2ImgPipeline": "Sana Sprint, which diffusers ships without a table key",
}


@dataclass(frozen=True)
class Row:
    keys: tuple[str, ...]  # the table keys listing the class (none: beyond the tables)
    cls: str
    task: str
    theirs: str  # a class name, or "error"
    ours: str  # a class name, or "error: <TypeOfError>"
    refusal: str = ""  # autopipe's message, where it refused


def _tables():
    from diffusers.pipelines import auto_pipeline as ap

    by_task = {"text2img": ap.AUTO_TEXT2IMAGE_PIPELINES_MAPPING, "img2img": ap.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, "inpaint": ap.AUTO_INPAINT_PIPELINES_MAPPING}
    decoders = (ap._AUTO_TEXT2IMAGE_DECODER_PIPELINES_MAPPING, ap._AUTO_IMAGE2IMAGE_DECODER_PIPELINES_MAPPING, ap._AUTO_INPAINT_DECODER_PIPELINES_MAPPING)
    return ap, by_task, (*by_task.values(), *decoders)


def table_keys() -> dict[str, tuple[str, ...]]:
    """Every class in the installed diffusers' AutoPipeline tables -> the keys listing it."""
    _, _, tables = _tables()
    owners: dict[str, set[str]] = {}
    for table in tables:
        for key, cls in table.items():
            owners.setdefault(cls.__name__, set()).add(key)
    return {cls: tuple(sorted(keys)) for cls, keys in sorted(owners.items())}


def diffusers_choice(class_name: str, task: str) -> str:
    ap, by_task, _ = _tables()
    try:
        return ap._get_task_class(by_task[task], class_name).__name__
    except ValueError:
        return "error"


def autopipe_choice(class_name: str, task: str, workdir: Path) -> tuple[str, str]:
    """(class or "error: <Type>", autopipe's message where it refused)."""
    from autopipe_core import AutopipeError, resolve

    folder = workdir / class_name
    folder.mkdir(exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    try:
        return resolve(folder, task).pipeline_class, ""
    except AutopipeError as exc:
        return f"error: {type(exc).__name__}", str(exc)


def rows() -> list[Row]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        listed = table_keys()
        for cls, keys in listed.items():
            for task in TASKS:
                out.append(Row(keys, cls, task, diffusers_choice(cls, task), *autopipe_choice(cls, task, Path(tmp))))
        for cls in sorted(set(BEYOND_THE_TABLES) - set(listed)):
            for task in TASKS:
                out.append(Row((), cls, task, diffusers_choice(cls, task), *autopipe_choice(cls, task, Path(tmp))))
    return out


def _not_installed(row: Row) -> bool:
    return row.ours == "error: UnsupportedModelError" and ("no installed autopipe plugin" in row.refusal or "not installed" in row.refusal)


def verdict(row: Row) -> tuple[str, str]:
    """(verdict, why): see the module's docstring."""
    if row.theirs == row.ours or (row.theirs == "error" and row.ours.startswith("error")):
        return "same", ""
    if (row.cls, row.task) in DELIBERATE:
        return "deliberate", DELIBERATE[(row.cls, row.task)]
    if not row.keys and row.cls in BEYOND_THE_TABLES and not row.ours.startswith("error"):
        return "deliberate", BEYOND_THE_TABLES[row.cls]
    if row.keys and all(k in NOT_YET for k in row.keys) and _not_installed(row):
        return "not yet", f"no shipped plugin serves {', '.join(row.keys)} yet ({NOT_YET[row.keys[0]]})"
    return "MISMATCH", f"diffusers gives {row.theirs}, autopipe {row.ours}" + (f": {row.refusal}" if row.refusal else "")


def problems(table: list[Row]) -> list[str]:
    """What the test fails on: a MISMATCH (naming its keys), a key listed as not yet that is served, a stale entry."""
    out = [f"{', '.join(r.keys) or 'beyond the tables'}: {r.cls} for {r.task}: {verdict(r)[1]}" for r in table if verdict(r)[0] == "MISMATCH"]
    keys = {k for r in table for k in r.keys}
    for key in sorted(NOT_YET):
        if key not in keys:
            out.append(f"NOT_YET lists {key}, which the installed diffusers' tables do not have")
        elif not any(verdict(r)[0] == "not yet" and key in r.keys for r in table):
            out.append(f"{key} is served now: take it out of NOT_YET")
    for cls, task in sorted(DELIBERATE):
        if not any(r.cls == cls and r.task == task and verdict(r)[0] == "deliberate" for r in table):
            out.append(f"DELIBERATE lists {cls} for {task}, where autopipe and diffusers agree (or the class is gone)")
    return out


def page(table: list[Row]) -> str:
    import diffusers

    counted = {v: sum(1 for r in table if r.keys and verdict(r)[0] == v) for v in ("same", "deliberate", "not yet", "MISMATCH")}
    listed = sum(1 for r in table if r.keys)
    keys = {k for r in table for k in r.keys}
    served = {k for k in keys if all(verdict(r)[0] in ("same", "deliberate") for r in table if k in r.keys)}
    lines = [
        "# Parity with diffusers' AutoPipeline",
        "",
        f"For every class of diffusers {diffusers.__version__}'s AutoPipeline tables ({len(keys)} keys), and each task: the",
        "class diffusers' `AutoPipelineFor*.from_pretrained` picks for a checkpoint whose model_index.json names it, and",
        "the class autopipe picks with every plugin of this repository installed; then the classes autopipe serves that",
        "no table lists. \"error\" means no class: diffusers raises `ValueError` from its table look-up, autopipe raises",
        "the typed error named (each says what to do instead). Written by `python bench/parity.py --write docs/parity.md`;",
        "`tests/test_parity.py` checks the page is current and that every row is the same, deliberate or not yet served.",
        "",
        f"Of the {listed} table rows: {counted['same']} the same, {counted['deliberate']} deliberately different (autopipe serves",
        f"a task diffusers has a class for but no table entry), {counted['not yet']} of keys no shipped plugin serves yet,",
        f"{counted['MISMATCH']} mismatched. Keys served in full: {len(served)} of {len(keys)}.",
        "",
        "| keys | model_index class | task | diffusers | autopipe | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table:
        kind, why = verdict(row)
        note = "" if kind == "same" else f"{kind}: {why}"
        lines.append(f"| {', '.join(row.keys) or '(none)'} | {row.cls} | {row.task} | {row.theirs} | {row.ours} | {note} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the page here instead of printing it")
    args = parser.parse_args(argv)
    table = rows()
    text = page(table)
    if args.write:
        args.write.write_text(text)
    else:
        print(text)
    for problem in problems(table):
        print(f"parity: {problem}", file=sys.stderr)
    return 1 if problems(table) else 0


if __name__ == "__main__":
    sys.exit(main())
