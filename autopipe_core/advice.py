"""Advice written for Python callers (``allow_pickle=True``), said as the command line says it (``--allow-pickle``).

Its own module, below the command line, so that a message can be translated without loading the parser: the cold
``autopipe resolve`` of :mod:`autopipe_core.quick` and the full command line both call :func:`as_said_here`.
"""

from __future__ import annotations

import re

#: Advice in messages written for Python callers, as the command line says it.
ADVICE = (
    (re.compile(r"pass allow_pickle=True"), "pass --allow-pickle"),
    (re.compile(r"allow_pickle=True"), "--allow-pickle"),
    (re.compile(r"pass trust_remote_code=True"), "load it from Python with trust_remote_code=True (the command line never runs a checkpoint's code)"),
    (re.compile(r"local_files_only=True"), "--local-files-only"),
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


#: Control characters (C0, DEL, C1) as the escapes Python writes them ("\\n", "\\x1b").
_CONTROL = {c: repr(chr(c))[1:-1] for c in (*range(32), *range(127, 160))}


def printable(text: str) -> str:
    """`text` with its control characters escaped, for a terminal: a stranger's text (a header's metadata, a file
    name, a key quoted in an error) cannot then move to a new line, colour, clear or retitle the terminal."""
    return text.translate(_CONTROL)


def as_said_here(message: str) -> str:
    """A message as the command line says it: its advice with command-line flags in place of Python keywords, and
    its control characters escaped (:func:`printable`), so it stays one line whatever text it quotes."""
    for pattern, replacement in ADVICE:
        message = pattern.sub(replacement, message)
    return printable(message)
