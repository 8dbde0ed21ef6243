"""What autopipe-deepfloyd-if registers, how stage I resolves, and how stage II is refused."""

import json
import os
import subprocess
import sys

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, Task, UnsupportedModelError, resolve
from autopipe_core.known import known_classes
from autopipe_core.registry import get_registry
from autopipe_core.specs import class_name
from autopipe_deepfloyd_if import FAMILY, STAGE_I, STAGE_II

PLUGIN = "autopipe-deepfloyd-if"
CLASSES = {"text2img": "IFPipeline", "img2img": "IFImg2ImgPipeline", "inpaint": "IFInpaintingPipeline"}
AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
# The stage II class -> the AutoPipeline its error must send the user to for stage I.
STAGE_II_AUTO = {
    "IFSuperResolutionPipeline": "AutoPipelineForText2Image",
    "IFImg2ImgSuperResolutionPipeline": "AutoPipelineForImage2Image",
    "IFInpaintingSuperResolutionPipeline": "AutoPipelineForInpainting",
}


def test_the_plugin_loads_and_owns_the_family():
    registry = get_registry()
    info = next(p for p in registry.plugins if p.distribution == PLUGIN)
    assert info.ok, info.error
    assert set(info.hooks) == {"autopipe_families", "autopipe_pipelines", "autopipe_load_plan", "autopipe_footprint", "autopipe_build_tiny"}
    spec, owner = registry.families[FAMILY]
    assert owner == PLUGIN and spec.variants == ()
    assert not registry.conflicts


def test_the_table_has_the_three_stage_i_classes_and_no_pag_row():
    registry = get_registry()
    rows = {mods: {t.value: ref for t, (ref, _) in tasks.items()} for (family, mods), tasks in registry.table.items() if family == FAMILY}
    assert rows == {frozenset(): {t: f"diffusers:{c}" for t, c in CLASSES.items()}}
    for name in CLASSES.values():
        entry = registry.classes[name]
        assert (entry.family, entry.modifiers, entry.plugin) == (FAMILY, frozenset(), PLUGIN)


def test_every_class_reference_names_a_diffusers_class():
    import diffusers

    for ref in STAGE_I.values():
        module, _, name = ref.partition(":")
        assert module == "diffusers" and isinstance(getattr(diffusers, name), type)
    for name in STAGE_II:
        assert issubclass(getattr(diffusers, name), diffusers.DiffusionPipeline)


def test_enable_pag_is_refused_with_the_combinations_there_are(tiny_if):
    with pytest.raises(UnsupportedModelError, match=r"no if \+ pag pipeline.*Combinations available: if\."):
        resolve(tiny_if, "text2img", enable_pag=True)


@pytest.mark.parametrize("task", list(CLASSES))
def test_the_tiny_checkpoint_resolves_to_stage_i(tiny_if, task):
    r = resolve(tiny_if, task)
    assert (r.family, r.task, r.modifiers, r.pipeline_class, r.plugin) == (FAMILY, Task.parse(task), frozenset(), CLASSES[task], PLUGIN)
    assert r.variant is None and r.load_class().__name__ == CLASSES[task]


def _stage_ii_folder(path, cls):
    """A stage II checkpoint's model_index.json (IF-II-L's layout); no weights: resolution reads JSON only."""
    path.mkdir()
    index = {
        "_class_name": cls,
        "_diffusers_version": "0.16.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_noising_scheduler": ["diffusers", "DDPMScheduler"],
        "requires_safety_checker": True,
        "safety_checker": ["deepfloyd_if", "IFSafetyChecker"],
        "scheduler": ["diffusers", "DDPMScheduler"],
        "text_encoder": [None, None],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "watermarker": [None, None],
    }
    (path / "model_index.json").write_text(json.dumps(index))
    return path


@pytest.mark.parametrize("cls", list(STAGE_II))
@pytest.mark.parametrize("task", list(CLASSES))
def test_a_stage_ii_checkpoint_is_recognised_not_resolved(tmp_path, cls, task):
    folder = _stage_ii_folder(tmp_path / "stage2", cls)
    with pytest.raises(UnsupportedModelError) as caught:
        resolve(folder, task)
    message = str(caught.value)
    assert message == f"{folder} holds {cls} (family {FAMILY}, plugin {PLUGIN}): {STAGE_II[cls]}"
    assert "stage II super-resolution" in message and "DeepFloyd/IF-I-XL-v1.0" in message
    assert STAGE_II_AUTO[cls] in message and f"diffusers.{cls}.from_pretrained" in message
    assert "not installed" not in message and "no installed autopipe plugin" not in message


@pytest.mark.parametrize("cls", list(STAGE_II))
def test_from_pretrained_refuses_stage_ii_before_reading_weights(tmp_path, cls):
    folder = _stage_ii_folder(tmp_path / "stage2", cls)  # there are no weights to read
    with pytest.raises(UnsupportedModelError, match="stage II super-resolution"):
        AutoPipelineForText2Image.from_pretrained(folder)


def test_from_pipe_refuses_a_live_stage_ii_pipeline(tiny_if):
    import diffusers

    stage_i = AutoPipelineForText2Image.from_pretrained(tiny_if)
    sr = diffusers.IFSuperResolutionPipeline(**stage_i.components, image_noising_scheduler=diffusers.DDPMScheduler(), requires_safety_checker=False)
    with pytest.raises(UnsupportedModelError, match=r"IFSuperResolutionPipeline \(family if, plugin autopipe-deepfloyd-if\).*stage II"):
        AutoPipelineForImage2Image.from_pipe(sr)


def test_the_install_hints_agree_with_what_the_plugin_registers():
    # autopipe_core.known sends users of these classes here when the plugin is missing.
    registry = get_registry()
    registered = {class_name(ref) for (family, _), tasks in registry.table.items() if family == FAMILY for ref, _ in tasks.values()}
    claimed = {cls for cls, dists in known_classes().items() if PLUGIN in dists}
    assert claimed == registered | set(STAGE_II)


def test_without_the_plugin_stage_i_and_ii_point_to_it(monkeypatch, tiny_if, tmp_path):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "")
    for folder in (tiny_if, _stage_ii_folder(tmp_path / "stage2", "IFSuperResolutionPipeline")):
        # Left out by the setting where it is installed (then AUTOPIPE_PLUGINS is the advice), else the pip line.
        with pytest.raises(UnsupportedModelError, match=f"{PLUGIN} is installed but AUTOPIPE_PLUGINS='' leaves it out|pip install ./plugins/{PLUGIN}"):
            resolve(folder, "text2img")


HEAVY = ("torch", "diffusers", "transformers")


def test_the_plugin_and_resolution_import_nothing_heavy(tiny_if, tmp_path):
    stage2 = _stage_ii_folder(tmp_path / "stage2", "IFInpaintingSuperResolutionPipeline")
    code = (
        "import autopipe_deepfloyd_if as m\n"
        "m.autopipe_families(); m.autopipe_pipelines()\n"
        "from autopipe_core import resolve, UnsupportedModelError\n"
        f"names = [resolve({str(tiny_if)!r}, t).pipeline_class for t in ('text2img', 'img2img', 'inpaint')]\n"
        "try:\n"
        f"    resolve({str(stage2)!r}, 'inpaint')\n"
        "except UnsupportedModelError:\n"
        "    names.append('refused')\n"
        f"import sys, json; print(json.dumps([names, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    env = {**os.environ, "AUTOPIPE_PLUGINS": PLUGIN}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    names, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert names == ["IFPipeline", "IFImg2ImgPipeline", "IFInpaintingPipeline", "refused"]
    assert heavy == []
