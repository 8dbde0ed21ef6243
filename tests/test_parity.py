"""docs/parity.md must say what diffusers and autopipe actually choose, row by row."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (\w+) \| (text2img|img2img|inpaint) \| ([^|]+?) \| ([^|]+?)(?: \(differs\))? \|$")


def _parity():
    spec = importlib.util.spec_from_file_location("parity", ROOT / "bench" / "parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented():
    rows = [m.groups() for line in (ROOT / "docs" / "parity.md").read_text().splitlines() if (m := ROW.match(line))]
    assert len(rows) >= 100, "docs/parity.md lost its table"
    return rows


@pytest.fixture
def every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")  # every plugin this repository ships, as the page says


def test_the_table_lists_every_autopipeline_class_of_the_six_families():
    parity = _parity()
    documented = {(cls, task) for cls, task, *_ in _documented()}
    assert documented == {(cls, task) for cls in parity.diffusers_classes() for task in parity.TASKS}


def test_the_autopipe_column_is_what_autopipe_chooses(every_plugin, tmp_path):
    parity = _parity()
    for cls, task, _, ours in _documented():
        assert parity.autopipe_choice(cls, task, tmp_path) == ours, (cls, task)


def test_the_diffusers_column_is_what_the_installed_diffusers_chooses():
    parity = _parity()
    for cls, task, theirs, _ in _documented():
        assert parity.diffusers_choice(cls, task) == theirs, (cls, task)


#: A sample of rows written by hand from what each diffusers class is for (not from bench/parity.py or the page):
#: the checkpoint's model_index class, the task, the class autopipe must load.
HAND_CHECKED = [
    ("StableDiffusionPipeline", "text2img", "StableDiffusionPipeline"),
    ("StableDiffusionPipeline", "img2img", "StableDiffusionImg2ImgPipeline"),
    ("StableDiffusionPipeline", "inpaint", "StableDiffusionInpaintPipeline"),
    ("StableDiffusionInpaintPipeline", "text2img", "StableDiffusionPipeline"),
    ("StableDiffusionPAGPipeline", "img2img", "StableDiffusionPAGImg2ImgPipeline"),
    ("StableDiffusionXLPipeline", "inpaint", "StableDiffusionXLInpaintPipeline"),
    ("StableDiffusionXLImg2ImgPipeline", "text2img", "StableDiffusionXLPipeline"),
    ("StableDiffusionXLPAGPipeline", "img2img", "StableDiffusionXLPAGImg2ImgPipeline"),
    ("StableDiffusionControlNetPipeline", "inpaint", "StableDiffusionControlNetInpaintPipeline"),
    ("StableDiffusionControlNetPAGPipeline", "img2img", "error: UnsupportedTaskError"),  # diffusers has no SD ControlNet PAG img2img
    ("StableDiffusionXLControlNetPipeline", "img2img", "StableDiffusionXLControlNetImg2ImgPipeline"),
    ("StableDiffusionXLControlNetPAGPipeline", "inpaint", "error: UnsupportedTaskError"),  # nor an SDXL ControlNet PAG inpainting
    ("StableDiffusionXLControlNetUnionPipeline", "inpaint", "StableDiffusionXLControlNetUnionInpaintPipeline"),
    ("KandinskyPipeline", "text2img", "KandinskyCombinedPipeline"),
    ("KandinskyV22Pipeline", "inpaint", "KandinskyV22InpaintCombinedPipeline"),
    ("KandinskyV22Img2ImgPipeline", "text2img", "KandinskyV22CombinedPipeline"),
    ("IFPipeline", "img2img", "IFImg2ImgPipeline"),
    ("IFPipeline", "inpaint", "IFInpaintingPipeline"),
]


@pytest.mark.parametrize("cls, task, expected", HAND_CHECKED)
def test_a_sample_of_rows_is_what_each_class_is_for(every_plugin, tmp_path, cls, task, expected):
    import json

    from autopipe_core import AutopipeError, resolve

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    try:
        chosen = resolve(tmp_path, task).pipeline_class
    except AutopipeError as exc:
        chosen = f"error: {type(exc).__name__}"
    assert chosen == expected
    assert (cls, task, expected) in {(c, t, ours) for c, t, _, ours in _documented()}, "docs/parity.md says otherwise"
