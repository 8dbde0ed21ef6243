"""Nothing a checkpoint names is imported or run: model_index.json libraries, custom component files, remote code.

The probe is a real module on sys.path whose import leaves a trace (it writes a
file): a checkpoint naming it must resolve, and be refused at from_pretrained,
without the trace appearing.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from autopipe_core import AutoPipelineForText2Image, InvalidModelError, UntrustedCodeError, resolve
from autopipe_core import guard

PROBE = "autopipe_trace_probe"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module on sys.path that writes `trace` when imported; yields the trace's path."""
    trace = tmp_path / "trace"
    site = tmp_path / "probe-site"
    site.mkdir()
    (site / f"{PROBE}.py").write_text(f"open({str(trace)!r}, 'w').write('imported')\nclass UNet2DConditionModel: pass\n")
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop(PROBE, None)
    yield trace
    sys.modules.pop(PROBE, None)


def _copy_with_index(src, dest, **entries):
    """The tiny checkpoint with its component folders linked and model_index.json entries replaced."""
    dest.mkdir()
    for item in src.iterdir():
        if item.name != "model_index.json":
            (dest / item.name).symlink_to(item, target_is_directory=item.is_dir())
    index = json.loads((src / "model_index.json").read_text())
    index.update(entries)
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


def test_a_library_on_sys_path_is_resolved_and_refused_without_being_imported(tiny_sd, tmp_path, probe):
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=[PROBE, "UNet2DConditionModel"])
    assert resolve(folder, "text2img").pipeline_class == "StableDiffusionPipeline"  # resolution reads JSON only
    with pytest.raises(UntrustedCodeError, match=f"unet: \\[{PROBE!r}, 'UNet2DConditionModel'\\]") as info:
        AutoPipelineForText2Image.from_pretrained(folder)
    assert "trust_remote_code=True" in str(info.value) and isinstance(info.value, ValueError)
    assert not probe.exists() and PROBE not in sys.modules


def test_trust_remote_code_is_passed_to_diffusers_which_decides(tiny_sd, tmp_path, probe):
    # Opting in lifts autopipe's refusal; diffusers 0.42 still imports no module the checkpoint names.
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=[PROBE, "UNet2DConditionModel"])
    with pytest.raises(ValueError, match="has not been imported") as info:
        AutoPipelineForText2Image.from_pretrained(folder, trust_remote_code=True)
    assert not isinstance(info.value, UntrustedCodeError)
    assert not probe.exists() and PROBE not in sys.modules


@pytest.mark.parametrize(
    "entry",
    [["os", "system"], ["subprocess", "Popen"], ["builtins", "eval"], ["diffusers.pipelines.stable_diffusion", "X"], ["onnxruntime.training", "ORTModule"], ["pipeline_utils", "DiffusionPipeline"]],
)
def test_libraries_outside_diffusers_and_transformers_are_refused(tiny_sd, tmp_path, entry):
    folder = _copy_with_index(tiny_sd, tmp_path / "m", text_encoder=entry)
    with pytest.raises(UntrustedCodeError, match="text_encoder"):
        AutoPipelineForText2Image.from_pretrained(folder)


def test_a_custom_component_file_in_the_checkpoint_is_refused(tiny_sd, tmp_path):
    # diffusers runs <component>/<library>.py in place of the library when it exists.
    folder = _copy_with_index(tiny_sd, tmp_path / "m")
    (folder / "unet").unlink()
    (folder / "unet").mkdir()
    for f in (tiny_sd / "unet").iterdir():
        (folder / "unet" / f.name).symlink_to(f)
    (folder / "unet" / "diffusers.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(UntrustedCodeError, match="unet/diffusers.py"):
        AutoPipelineForText2Image.from_pretrained(folder)


@pytest.mark.parametrize("entry", [["os"], ["os", "system", "x"], ["diffusers", 5], ["diffusers", "A" * 10_000]])
def test_a_component_entry_that_is_not_a_pair_is_invalid(tiny_sd, tmp_path, entry):
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=entry)
    with pytest.raises(InvalidModelError, match="not a \\[library, class\\] pair"):
        resolve(folder, "text2img")


def test_diffusers_own_pipeline_modules_are_allowed_and_found_without_importing_diffusers():
    code = textwrap.dedent(
        """
        import sys
        from autopipe_core import guard
        ok = [guard.allowed(n) for n in ("kandinsky", "stable_diffusion", "deepfloyd_if", "diffusers", "transformers", None)]
        no = [guard.allowed(n) for n in ("os", "pipeline_utils", "__pycache__", "kandinsky.x", "", "no_such_pipeline")]
        print(all(ok), any(no), [m for m in ("diffusers", "torch", "transformers") if m in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.stdout.split("\n")[0] == "True False []", out.stderr


def test_a_refused_checkpoint_has_imported_nothing_at_all(tiny_sd, tmp_path):
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=["os", "system"])
    code = textwrap.dedent(
        f"""
        import sys
        from autopipe_core import AutoPipelineForText2Image, UntrustedCodeError
        try:
            AutoPipelineForText2Image.from_pretrained({str(folder)!r})
        except UntrustedCodeError:
            print("refused", [m for m in ("diffusers", "torch", "transformers") if m in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.stdout.strip() == "refused []", out.stderr


def test_real_families_pass_the_check(tiny_checkpoint):
    from autopipe_core.registry import build
    from autopipe_core.resolve import identify

    registry = build(allowed=None)
    for family in ("stable-diffusion", "stable-diffusion-xl", "kandinsky", "kandinsky22", "if"):
        identity = identify(tiny_checkpoint(family), registry)
        assert guard.foreign(identity) == {}, family  # kandinsky's text_encoder is ["kandinsky", "MultilingualCLIP"]


@pytest.fixture
def recorded(monkeypatch):
    """StableDiffusionPipeline.from_pretrained replaced by a recorder of the keywords it gets."""
    from diffusers import StableDiffusionPipeline

    calls = []
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", classmethod(lambda cls, model, **kw: calls.append(kw) or "loaded"))
    return calls


def test_autopipe_never_adds_remote_code_keywords(tiny_sd, recorded):
    assert AutoPipelineForText2Image.from_pretrained(tiny_sd) == "loaded"
    assert not set(recorded[0]) & set(guard.REMOTE_CODE_KWARGS)


def test_remote_code_keywords_are_passed_through_as_given(tiny_sd, tmp_path, recorded):
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=["my_unets", "MyUNet"])
    AutoPipelineForText2Image.from_pretrained(folder, trust_remote_code=True, custom_pipeline="my_pipeline")
    AutoPipelineForText2Image.from_pretrained(folder, custom_pipeline="my_pipeline")
    assert recorded == [{"trust_remote_code": True, "custom_pipeline": "my_pipeline"}, {"custom_pipeline": "my_pipeline"}]
    with pytest.raises(UntrustedCodeError):  # only an explicit True opts in
        AutoPipelineForText2Image.from_pretrained(folder, trust_remote_code="yes")
