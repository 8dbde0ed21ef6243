"""What diffusers' AutoPipeline and autopipe choose for every AutoPipeline class of the six families.

For each class diffusers' AutoPipeline tables list for Stable Diffusion, SDXL,
ControlNet, Kandinsky 2.1/2.2 and DeepFloyd IF, and each task, a checkpoint
folder whose model_index.json names that class is resolved both ways
(diffusers: its from_pretrained table look-up; autopipe: resolve() with every
plugin of this repository). `--write docs/parity.md` writes the table that
tests/test_parity.py checks against both libraries.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

FAMILY_KEYS = (
    "stable-diffusion", "stable-diffusion-pag", "stable-diffusion-controlnet", "stable-diffusion-controlnet-pag",
    "stable-diffusion-xl", "stable-diffusion-xl-pag", "stable-diffusion-xl-controlnet", "stable-diffusion-xl-controlnet-pag",
    "stable-diffusion-xl-controlnet-union", "kandinsky", "kandinsky22", "if",
)
TASKS = ("text2img", "img2img", "inpaint")


def diffusers_classes() -> list[str]:
    from diffusers.pipelines import auto_pipeline as ap

    maps = [ap.AUTO_TEXT2IMAGE_PIPELINES_MAPPING, ap.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, ap.AUTO_INPAINT_PIPELINES_MAPPING,
            ap._AUTO_TEXT2IMAGE_DECODER_PIPELINES_MAPPING, ap._AUTO_IMAGE2IMAGE_DECODER_PIPELINES_MAPPING, ap._AUTO_INPAINT_DECODER_PIPELINES_MAPPING]
    names = {m[k].__name__ for m in maps for k in FAMILY_KEYS if k in m}
    return sorted(names)


def diffusers_choice(class_name: str, task: str) -> str:
    from diffusers.pipelines import auto_pipeline as ap

    mapping = {"text2img": ap.AUTO_TEXT2IMAGE_PIPELINES_MAPPING, "img2img": ap.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, "inpaint": ap.AUTO_INPAINT_PIPELINES_MAPPING}[task]
    try:
        return ap._get_task_class(mapping, class_name).__name__
    except ValueError:
        return "error"


def autopipe_choice(class_name: str, task: str, workdir: Path) -> str:
    from autopipe_core import AutopipeError, resolve

    folder = workdir / class_name
    folder.mkdir(exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    try:
        return resolve(folder, task).pipeline_class
    except AutopipeError as exc:
        return f"error: {type(exc).__name__}"


def rows() -> list[tuple[str, str, str, str]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for cls in diffusers_classes():
            for task in TASKS:
                out.append((cls, task, diffusers_choice(cls, task), autopipe_choice(cls, task, Path(tmp))))
    return out


def page(table: list[tuple[str, str, str, str]]) -> str:
    import diffusers

    lines = [
        "# Parity with diffusers' AutoPipeline",
        "",
        f"For every AutoPipeline class of the six families in diffusers {diffusers.__version__}, and each task: the class",
        "diffusers' `AutoPipelineFor*.from_pretrained` picks for a checkpoint whose model_index.json names it, and the",
        "class autopipe picks with every plugin of this repository installed. \"error\" means no class: diffusers raises",
        "`ValueError` from its table look-up, autopipe raises the typed error named (each says what to do instead).",
        "Written by `python bench/parity.py --write docs/parity.md`; `tests/test_parity.py` checks both columns.",
        "",
        "| model_index class | task | diffusers | autopipe |",
        "| --- | --- | --- | --- |",
    ]
    for cls, task, theirs, ours in table:
        same = theirs == ours or (theirs == "error" and ours.startswith("error"))
        mark = "" if same else " (differs)"
        lines.append(f"| {cls} | {task} | {theirs} | {ours}{mark} |")
    lines += [
        "",
        "Where the columns differ, autopipe is deliberate: a decoder-only or prior class is mapped by what the",
        "checkpoint can do; a stage II IF class or a Kandinsky prior is refused with what to load instead; a",
        "combination diffusers has no class for is refused with the reason rather than a table miss.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    text = page(rows())
    if args.write:
        args.write.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
