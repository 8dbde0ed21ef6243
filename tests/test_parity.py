"""docs/parity.md must say what diffusers and autopipe actually choose, row by row."""

import functools
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _parity():
    spec = importlib.util.spec_from_file_location("bench_parity", ROOT / "bench" / "parity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table():
    import os

    saved = os.environ.pop("AUTOPIPE_PLUGINS", None)  # every plugin this repository ships, as the page says
    try:
        yield _parity().rows()
    finally:
        if saved is not None:
            os.environ["AUTOPIPE_PLUGINS"] = saved


@pytest.fixture
def every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS")  # every plugin this repository ships, as the page says


def test_the_page_is_current(table):
    assert (ROOT / "docs" / "parity.md").read_text() == _parity().page(table), "run: python bench/parity.py --write docs/parity.md"


def test_every_row_is_the_same_deliberate_or_a_key_not_yet_served(table):
    assert _parity().problems(table) == []


def test_every_class_of_the_installed_tables_is_a_row(table):
    parity = _parity()
    assert {(r.cls, r.task) for r in table if r.keys} == {(cls, task) for cls in parity.table_keys() for task in parity.TASKS}


def test_a_key_diffusers_adds_is_named(table):
    # A key that is neither served nor listed as not yet: what a diffusers release adding one looks like.
    parity = _parity()
    new = parity.Row(("brand-new",), "BrandNewPipeline", "text2img", "BrandNewPipeline", "error: UnsupportedModelError", "no installed autopipe plugin handles BrandNewPipeline")
    problems = parity.problems([*table, new])
    assert problems == ["brand-new: BrandNewPipeline for text2img: diffusers gives BrandNewPipeline, autopipe error: UnsupportedModelError: no installed autopipe plugin handles BrandNewPipeline"]


def test_a_key_served_since_must_leave_not_yet(table, monkeypatch):
    parity = _parity()
    monkeypatch.setitem(parity.NOT_YET, "stable-diffusion-3", "issue 17")
    assert "stable-diffusion-3 is served now: take it out of NOT_YET" in parity.problems(table)


def test_the_deliberate_differences_are_classes_diffusers_has(table):
    import diffusers

    parity = _parity()
    for (cls, task), reason in parity.DELIBERATE.items():
        ours = next(r.ours for r in table if (r.cls, r.task) == (cls, task))
        assert hasattr(diffusers, ours), (cls, task, ours)
        # A class beyond the tables is in no table of its task; a correction of a table's filing names the class it files wrongly.
        if reason.endswith("but no AutoPipeline table maps the task to it"):
            _, by_task, _ = parity._tables()
            assert ours not in {c.__name__ for c in by_task[task].values()}, (cls, task, ours)
        else:
            assert cls in reason or ours in reason, (cls, task, reason)
    for cls in parity.BEYOND_THE_TABLES:
        assert hasattr(diffusers, cls) and cls not in parity.table_keys()


def diffusers_has_no_table_entry(cls: str) -> bool:
    return cls not in _parity().table_keys()


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
    ("LatentConsistencyModelPipeline", "img2img", "LatentConsistencyModelImg2ImgPipeline"),
    ("KolorsPipeline", "inpaint", "error: UnsupportedTaskError"),  # diffusers has no Kolors inpainting
    ("StableDiffusion3Img2ImgPipeline", "inpaint", "StableDiffusion3InpaintPipeline"),
    ("StableDiffusion3ControlNetPipeline", "img2img", "error: UnsupportedTaskError"),  # nor an SD3 ControlNet img2img
    ("FluxPipeline", "img2img", "FluxImg2ImgPipeline"),
    ("FluxControlPipeline", "inpaint", "FluxControlInpaintPipeline"),
    ("FluxFillPipeline", "text2img", "error: UnsupportedTaskError"),  # Fill's transformer takes the mask: inpaint only
    ("ChromaPipeline", "inpaint", "ChromaInpaintPipeline"),  # diffusers has the class; its table lacks the entry
    ("QwenImageEditPipeline", "text2img", "error: UnsupportedTaskError"),  # an edit model needs an image
    ("QwenImageEditPipeline", "inpaint", "QwenImageEditInpaintPipeline"),
    ("PixArtSigmaPipeline", "img2img", "error: UnsupportedTaskError"),  # no PixArt img2img in diffusers
    ("SanaSprintPipeline", "img2img", "SanaSprintImg2ImgPipeline"),
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
    assert f"| {cls} | {task} | " in (ROOT / "docs" / "parity.md").read_text()
    assert any(f"| {cls} | {task} | " in line and f"| {expected} |" in line for line in (ROOT / "docs" / "parity.md").read_text().splitlines()), "docs/parity.md says otherwise"
