"""What autopipe and diffusers' AutoPipeline pick for each real checkpoint of the corpus, and why they differ.

For every folder of the corpus (../shared/real_configs, or $AUTOPIPE_REAL_CONFIGS: the JSON files of real
checkpoints, not part of this repository) and every task, autopipe's answer (resolve() with every plugin this
repository ships) beside diffusers' (its from_pretrained up to the class look-up, no weights), with the reason
from tests/real_checkpoints_data.py where they differ. `--write docs/real-checkpoints.md` writes the page
tests/test_real_checkpoints.py checks.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import real_checkpoints_data as data  # noqa: E402 - found through the line above

COMMAND = ".venv/bin/python bench/real_checkpoints.py --write docs/real-checkpoints.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(message: str, corpus: Path, limit: int = 140) -> str:
    for root in {str(corpus.resolve()), str(corpus)}:
        message = message.replace(root + os.sep, "")
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1].rstrip() + "…"


def _theirs(answer: data.Answer, corpus: Path) -> str:
    if answer.pipeline_class:
        return f"`{answer.pipeline_class}`"
    return f"error: {answer.error}: {_short(answer.message, corpus, 100)}"


def _ours(expected, answer: data.Answer, corpus: Path) -> tuple[str, bool]:
    """autopipe's answer as the page shows it, and whether it is the expected one."""
    if data.mismatch(expected, answer) is None:
        if isinstance(expected, data.Refused):
            return f"refused: {expected.error}: {expected.why}", True
        return f"`{expected}`", True
    got = f"`{answer.pipeline_class}`" if answer.pipeline_class else f"refused: {answer.error}: {_short(answer.message, corpus)}"
    return f"{got} **(not as expected: {data.expected_text(expected)})**", False


def render(corpus: Path) -> str:
    """The page, from the corpus, autopipe's answers (AUTOPIPE_PLUGINS as the caller set it) and diffusers'."""
    import diffusers

    theirs = data.diffusers_answers(corpus)
    checkpoints = {c["name"]: c for c in data.manifest(corpus)}
    rows, wrong = [], {}
    for folder in data.FOLDERS:
        card = checkpoints.get(folder, {})
        what = card.get("what", "")
        if card.get("hf_id"):
            what += f" (`{card['hf_id']}`)"
        cells, reasons = [], {}
        for task in data.TASKS:
            expected = data.EXPECTED[folder, task]
            ours, ok = _ours(expected, data.autopipe_answer(corpus / folder, task), corpus)
            if not ok:
                wrong.setdefault(folder, []).append(task)
            answer = theirs[folder, task]
            if ok and isinstance(expected, str) and answer.pipeline_class == expected:
                cells.append(f"`{expected}` (both)")
            else:
                cells.append(f"autopipe: {ours}<br>diffusers: {_theirs(answer, corpus)}")
            if (folder, task) in data.DIFFERENCES:
                reasons.setdefault(data.DIFFERENCES[folder, task], []).append(task)
        why = "<br>".join(f"{', '.join(tasks)}: {reason}" for reason, tasks in reasons.items())
        rows.append(f"| `{folder}` | {_cell(what)} | " + " | ".join(_cell(c) for c in cells) + f" | {_cell(why)} |")
    total, missed = len(data.EXPECTED), sum(len(tasks) for tasks in wrong.values())
    if wrong:
        listed = "; ".join(f"{folder} ({', '.join(tasks)})" for folder, tasks in wrong.items())
        summary = (
            f"{total - missed} of {total} answers are as expected; {missed} are not, each marked **not as expected** "
            f"with the expected answer beside it: {listed}."
        )
    else:
        summary = f"All {total} answers are as expected."
    lines = [
        "# Real checkpoints: what autopipe and diffusers pick",
        "",
        f"The configuration files of {len(data.FOLDERS)} real diffusers checkpoints, asked for each task of autopipe",
        "(`autopipe_core.resolve`, with every plugin this repository ships loaded:",
        f"{', '.join(data.SHIPPED_PLUGINS.split(','))}) and of diffusers {diffusers.__version__}'s",
        "`AutoPipelineFor*.from_pretrained` (followed up to its class look-up: model_index.json, then its tables).",
        "Neither reads a weight.",
        "",
        "The files are not in this repository: they are read in place from `../shared/real_configs` (or the folder",
        "`AUTOPIPE_REAL_CONFIGS` names), each folder laid out as its checkpoint's repository is, with a manifest",
        "saying where each file came from. This page was written by",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
        "`tests/test_real_checkpoints.py` checks each of autopipe's answers against the expectations in",
        "`tests/real_checkpoints_data.py` (decided from each folder's JSON and what diffusers' pipelines can run, not",
        "from what the code answers), that every difference with diffusers has its reason there, and that this page",
        "is what the command writes. \"(both)\" means both libraries pick that class; \"refused\" gives autopipe's",
        "error class and, in short, why; diffusers' errors are what its `from_pretrained` raises before any weight.",
        "",
        summary,
        "",
        "| checkpoint | what it is | text2img | img2img | inpaint | why they differ |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the page here instead of printing it")
    args = parser.parse_args(argv)
    corpus = data.corpus_dir()
    if not (corpus / "manifest.json").is_file():
        parser.error(f"the corpus is absent: {corpus} has no manifest.json (set {data.ENV} to its folder)")
    os.environ["AUTOPIPE_PLUGINS"] = data.SHIPPED_PLUGINS
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    text = render(corpus)
    if args.write:
        args.write.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
