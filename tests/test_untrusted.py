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


def _diffusers_refuses_foreign_libraries() -> bool:
    """diffusers 0.42.1 and later refuse a library a checkpoint names that is not imported; earlier ones import it."""
    from importlib.metadata import version

    major, minor, patch = (int("".join(c for c in p if c.isdigit()) or 0) for p in (version("diffusers").split(".") + ["0"])[:3])
    return (major, minor, patch) >= (0, 42, 1)


def test_trust_remote_code_is_passed_to_diffusers_which_decides(tiny_sd, tmp_path, probe):
    # Opting in lifts autopipe's refusal: what happens next is the caller's choice and diffusers' doing.
    folder = _copy_with_index(tiny_sd, tmp_path / "m", unet=[PROBE, "UNet2DConditionModel"])
    with pytest.raises(Exception) as info:  # the probe's class is no model: diffusers fails either way
        AutoPipelineForText2Image.from_pretrained(folder, trust_remote_code=True)
    assert not isinstance(info.value, UntrustedCodeError)
    if _diffusers_refuses_foreign_libraries():
        assert "has not been imported" in str(info.value)
        assert not probe.exists() and PROBE not in sys.modules
    else:  # older diffusers import what the checkpoint names once the caller opts in: exactly what the guard stops without it
        assert probe.exists()


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
    import torch

    from autopipe_core.loading import dtype_keyword

    default = {dtype_keyword(): torch.float32}  # the one keyword autopipe adds where none is named (loading.with_default_dtype)
    assert recorded == [{"trust_remote_code": True, "custom_pipeline": "my_pipeline", **default}, {"custom_pipeline": "my_pipeline", **default}]
    with pytest.raises(UntrustedCodeError):  # only an explicit True opts in
        AutoPipelineForText2Image.from_pretrained(folder, trust_remote_code="yes")


# --- what is checked is what loads: nested pipelines, canonical paths, the hub commit ------------------------


def _nested(tiny_sd, tmp_path, inner: dict, depth: int = 1):
    """The tiny checkpoint whose `safety_checker` (a component StableDiffusionPipeline takes) is declared
    ["diffusers", "DiffusionPipeline"] and holds its own model_index.json (`inner`), nested `depth` levels deep:
    diffusers loads such a component with DiffusionPipeline.from_pretrained, which reads that file in turn."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    folder = _copy_with_index(tiny_sd, tmp_path / "m", safety_checker=["diffusers", "DiffusionPipeline"])
    level = folder / "safety_checker"
    for i in range(depth - 1):
        level.mkdir()
        (level / "model_index.json").write_text(json.dumps({"_class_name": "DiffusionPipeline", "safety_checker": ["diffusers", "DiffusionPipeline"]}))
        level = level / "safety_checker"
    level.mkdir()
    (level / "model_index.json").write_text(json.dumps(inner))
    return folder


def test_a_pipeline_nested_as_a_component_is_checked_like_the_top(tiny_sd, tmp_path, probe):
    folder = _nested(tiny_sd, tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": [PROBE, "UNet2DConditionModel"]})
    assert resolve(folder, "text2img").pipeline_class == "StableDiffusionPipeline"
    with pytest.raises(UntrustedCodeError, match=f"safety_checker/unet: \\[{PROBE!r}, 'UNet2DConditionModel'\\]"):
        AutoPipelineForText2Image.from_pretrained(folder)
    assert not probe.exists() and PROBE not in sys.modules


def test_a_nested_custom_pipeline_or_one_nested_too_deep_is_refused(tiny_sd, tmp_path):
    custom = _nested(tiny_sd, tmp_path / "a", {"_class_name": ["my_pipeline", "MyPipeline"]})
    with pytest.raises(UntrustedCodeError, match="safety_checker: is a pipeline whose model_index.json names the class .*custom pipeline"):
        AutoPipelineForText2Image.from_pretrained(custom)
    deep = _nested(tiny_sd, tmp_path / "b", {"_class_name": "StableDiffusionPipeline"}, depth=guard.MAX_NESTING + 1)
    with pytest.raises(UntrustedCodeError, match=f"nested more than {guard.MAX_NESTING} levels"):
        AutoPipelineForText2Image.from_pretrained(deep)


def test_a_clean_nested_pipeline_passes_the_check(tiny_sd, tmp_path):
    folder = _nested(tiny_sd, tmp_path, {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    assert guard.foreign_in(folder) == {}


def test_the_user_folder_is_expanded_once_and_that_path_is_what_diffusers_gets(tiny_sd, tmp_path, monkeypatch, recorded):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "sd").symlink_to(tiny_sd, target_is_directory=True)
    monkeypatch.setenv("HOME", str(home))
    r = resolve("~/models/sd", "text2img")
    assert r.identity.reference == str(tiny_sd.resolve())
    from diffusers import StableDiffusionPipeline

    seen = []
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", classmethod(lambda cls, model, **kw: seen.append(model) or "loaded"))
    assert AutoPipelineForText2Image.from_pretrained("~/models/sd") == "loaded"
    assert seen == [str(tiny_sd.resolve())]


def test_a_folder_named_tilde_is_checked_and_loaded_from_the_same_place(tiny_sd, tmp_path, monkeypatch):
    # "./~/sd" is a folder named "~" in the working directory, not the user's home: checked and loaded there.
    work, home = tmp_path / "work", tmp_path / "home"
    (work / "~").mkdir(parents=True)
    (home / "sd").mkdir(parents=True)
    _copy_with_index(tiny_sd, work / "~" / "sd")
    (home / "sd" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["os", "system"]}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    r = resolve("./~/sd", "text2img")
    assert r.identity.reference == str((work / "~" / "sd").resolve())
    pipe = AutoPipelineForText2Image.from_pretrained("./~/sd")  # the clean folder: no UntrustedCodeError from home's
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.config._name_or_path == "./~/sd"


def test_a_symlink_loop_is_a_typed_error(tmp_path):
    from autopipe_core import ModelNotFoundError

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ModelNotFoundError, match="Too many levels of symbolic links"):
        resolve(tmp_path / "loop", "text2img")


def _hub_repo(tmp_path, tiny_sd, repo_id="someone/tiny-sd", commit="c" * 40, extra: dict | None = None):
    from layouts import hub_cache

    files = {str(f.relative_to(tiny_sd)): f for f in tiny_sd.rglob("*") if f.is_file()}
    files.update(extra or {})
    hub_cache(tmp_path / "hub", repo_id, files, commit=commit)
    return tmp_path / "hub"


def test_diffusers_gets_the_hub_commit_that_was_checked(tiny_sd, tmp_path, monkeypatch):
    from diffusers import StableDiffusionPipeline

    cache = _hub_repo(tmp_path, tiny_sd)
    seen = []
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", classmethod(lambda cls, model, **kw: seen.append((model, kw)) or "loaded"))
    AutoPipelineForText2Image.from_pretrained("someone/tiny-sd", cache_dir=cache, revision="main")
    import torch

    from autopipe_core.loading import dtype_keyword

    assert seen == [("someone/tiny-sd", {"cache_dir": cache, "revision": "c" * 40, dtype_keyword(): torch.float32})]


def test_a_hub_repo_with_a_nested_foreign_pipeline_or_component_code_is_refused(tiny_sd, tmp_path, probe):
    import shutil

    source = _nested(tiny_sd, tmp_path / "src", {"_class_name": "StableDiffusionPipeline", "unet": [PROBE, "UNet2DConditionModel"]})
    real = tmp_path / "real"
    shutil.copytree(source, real, symlinks=False)
    cache = _hub_repo(tmp_path, real, repo_id="someone/nested")
    with pytest.raises(UntrustedCodeError, match="safety_checker/unet"):
        AutoPipelineForText2Image.from_pretrained("someone/nested", cache_dir=cache)
    cache = _hub_repo(tmp_path / "b", tiny_sd, repo_id="someone/code", extra={"unet/diffusers.py": "raise SystemExit('ran')\n"})
    with pytest.raises(UntrustedCodeError, match="unet/diffusers.py"):
        AutoPipelineForText2Image.from_pretrained("someone/code", cache_dir=cache)
    assert not probe.exists() and PROBE not in sys.modules


def test_entries_a_family_loads_itself_pass_and_nothing_else_does(tiny_sd, tmp_path):
    """FamilySpec.loads_itself: exactly the (library, class) pairs declared pass the guard; another class of the same
    library, and a component file named after the library, are still refused."""
    from autopipe_core import FamilySpec

    folder = _copy_with_index(tiny_sd, tmp_path / "m", vae=["oldlib", "OldVAE"])
    assert set(guard.foreign_in(folder)) == {"vae"}
    assert guard.foreign_in(folder, own=frozenset({("oldlib", "OldVAE")})) == {}
    assert set(guard.foreign_in(folder, own=frozenset({("oldlib", "OtherVAE")}))) == {"vae"}
    (folder / "vae").unlink()
    (folder / "vae").mkdir()
    (folder / "vae" / "oldlib.py").write_text("raise SystemExit('ran')\n")
    assert "vae/oldlib.py" in guard.foreign_in(folder, own=frozenset({("oldlib", "OldVAE")}))["vae"]
    assert FamilySpec(name="x", loads_itself=[["oldlib", "OldVAE"]]).loads_itself == frozenset({("oldlib", "OldVAE")})
    for bad in (["oldlib"], [("oldlib", 5)], "ab"):
        with pytest.raises(ValueError, match="loads_itself"):
            FamilySpec(name="x", loads_itself=bad)


def test_the_guard_reads_a_checkpoint_once_a_load_and_before_planning(tiny_sd, monkeypatch):
    """load() and from_pretrained(placement=) check before probing the device (which imports torch), and once."""
    from autopipe_core import loading

    calls = []
    real = guard.check
    monkeypatch.setattr(guard, "check", lambda *a, **k: calls.append(1) or real(*a, **k))
    loading.load(tiny_sd, "text2img", "cpu")
    AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="auto", device="cpu")
    AutoPipelineForText2Image.from_pretrained(tiny_sd)
    assert len(calls) == 3
