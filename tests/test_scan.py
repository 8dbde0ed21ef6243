"""autopipe scan: a tree of every shipped family's tiny checkpoints, single files of the families that have them, a
sharded file, a pickle, a corrupt file and a FIFO, classified in one process with every installed plugin; the broken
entries reported, the scan going on. A scan works out what depends only on a file's detection once: its answers
are checked against each file classified on its own."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import single_file_layouts as layouts
from test_cli import FAMILIES as DEMO_FAMILIES

from autopipe_core.errors import AutopipeError
from autopipe_core.headers import read_header, write_header
from autopipe_core.planning import family_plan, footprint
from autopipe_core.registry import get_registry
from autopipe_core.resolve import identify, resolve_identity
from autopipe_core.scan import SCAN_DEVICE, Scanned, candidates, classify, scan, sharded_header
from autopipe_core.single_file import detect, identify_detection
from autopipe_core.tasks import Task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import scan_library  # noqa: E402 - bench/scan_library.py: the real single-file layouts the benchmark scans

#: Every shipped family's tiny checkpoint (tests/test_cli.py's list, which names all 27 plugins, and SD's own).
FAMILIES = ("stable-diffusion", *sorted(DEMO_FAMILIES))

#: Single files with real layouts (bench/scan_library.py): file stem -> (layout, family, detected as, text2img class).
REAL_FILES = {
    "sd15": ("sd15", "stable-diffusion", "sd1", "StableDiffusionPipeline"),
    "sd2-v": ("sd2-v", "stable-diffusion", "sd2-v", "StableDiffusionPipeline"),
    "sdxl-base": ("sdxl-base", "stable-diffusion-xl", "xl-base", "StableDiffusionXLPipeline"),
    "sdxl-refiner": ("sdxl-refiner", "stable-diffusion-xl", "xl-refiner", None),
    "flux-dev": ("flux-dev", "flux", "flux-dev", "FluxPipeline"),
    "flux2-klein-4b": ("flux2-klein-4b", "flux2-klein", "flux2-klein-4b", "Flux2KleinPipeline"),
    "sd3-medium": ("sd3-medium", "stable-diffusion-3", "sd3-medium", "StableDiffusion3Pipeline"),
}
#: Single files made from a tiny checkpoint's transformer: family -> (the plugin's layout module or None for diffusers'
#: names, detected as, text2img class).
TINY_FILES = {
    "hidream": (None, "tiny", "HiDreamImagePipeline"),
    "qwenimage": (None, "tiny", "QwenImagePipeline"),
    "auraflow": ("autopipe_auraflow.layout", "auraflow-tiny", "AuraFlowPipeline"),
    "krea2": ("autopipe_krea2.layout", "krea2-tiny", "Krea2Pipeline"),
}
BROKEN = ("files/old.ckpt", "files/corrupt.safetensors", "files/fifo.safetensors", "files/controlnet.safetensors", "folders/controlnet-model")


def _tiny_transformer_file(folder: Path, path: Path, layout: str | None) -> Path:
    """The tiny checkpoint's transformer as one file, in diffusers' names or the plugin's original layout (shapes only)."""
    header = read_header(next((folder / "transformer").glob("*.safetensors")))
    tensors = {name: (info.dtype, info.shape) for name, info in header.tensors.items()}
    if layout is not None:
        import importlib

        import torch

        state = {name: torch.empty(shape, device="meta") for name, (_, shape) in tensors.items()}
        tensors = {name: ("F16", tuple(t.shape)) for name, t in importlib.import_module(layout).original(state).items()}
    return write_header(path, tensors)


@pytest.fixture(scope="module")
def library(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    for family in FAMILIES:
        shutil.copytree(tiny_checkpoint(family), root / "folders" / family, symlinks=True)
    shutil.copytree(tiny_checkpoint("stable-diffusion", "inpainting-only"), root / "folders" / "sd-inpainting")
    # a folder holding one model, not a pipeline (a ControlNet saved alone): reported with what to do, never passed over
    controlnet = root / "folders" / "controlnet-model"
    controlnet.mkdir()
    (controlnet / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel", "in_channels": 4}))
    write_header(controlnet / "diffusion_pytorch_model.safetensors", {"controlnet_cond_embedding.conv_in.weight": ("F16", (16, 3, 3, 3))})
    files = root / "files"
    files.mkdir()
    for stem, (layout, *_) in REAL_FILES.items():
        write_header(files / f"{stem}.safetensors", dict(scan_library.layout(layout)))
    for family, (layout, *_) in TINY_FILES.items():
        _tiny_transformer_file(root / "folders" / family, files / f"{family}.safetensors", layout)
    # the same kinds again: what a scan works out once per detection must still name each file
    write_header(files / "sd15-again.fp16.safetensors", dict(scan_library.layout("sd15")), {"title": "another fine-tune"})
    layouts.write(files / "sd15-inpainting.safetensors", layouts.layout("sd1-inpainting"))
    layouts.write(files / "sd15-inpainting-2.safetensors", layouts.layout("sd1-inpainting"))
    layouts.write(files / "controlnet.safetensors", layouts.controlnet_layout("controlnet-sd1"))
    # one SD 1.5 file sharded in two, with its index
    tensors = layouts.layout("sd1")
    names = sorted(tensors)
    half = len(names) // 2
    shard_map = {}
    (files / "sharded").mkdir()
    for i, part in enumerate((names[:half], names[half:]), 1):
        shard = f"model-0000{i}-of-00002.safetensors"
        layouts.write(files / "sharded" / shard, {n: tensors[n] for n in part})
        shard_map.update(dict.fromkeys(part, shard))
    (files / "sharded" / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": shard_map}))
    (files / "old.ckpt").write_bytes(b"\x80\x04K\x01.")
    (files / "corrupt.safetensors").write_bytes(b"\xff" * 64)
    os.mkfifo(files / "fifo.safetensors")
    return root


@pytest.fixture
def every_plugin(monkeypatch):
    monkeypatch.delenv("AUTOPIPE_PLUGINS", raising=False)  # unset: every installed plugin


@pytest.fixture(scope="module")
def scanned(library):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("AUTOPIPE_PLUGINS", raising=False)
        return {os.path.relpath(r.path, library): r for r in scan(library)}


def test_every_checkpoint_is_classified_and_the_broken_ones_are_reported(library, scanned):
    assert set(scanned) == {
        *(f"folders/{f}" for f in FAMILIES), "folders/sd-inpainting",
        *(f"files/{stem}.safetensors" for stem in REAL_FILES), *(f"files/{family}.safetensors" for family in TINY_FILES),
        "files/sd15-again.fp16.safetensors", "files/sd15-inpainting.safetensors", "files/sd15-inpainting-2.safetensors",
        "files/sharded/model.safetensors.index.json", *BROKEN,
    }
    for family in FAMILIES:
        r = scanned[f"folders/{family}"]
        assert (r.kind, r.family, r.error) == ("folder", family, None), r
        assert r.pipelines["text2img"] and r.weights_bytes > 0, r
    inpainting = scanned["folders/sd-inpainting"]
    assert inpainting.pipelines == {"text2img": None, "img2img": None, "inpaint": "StableDiffusionInpaintPipeline"}
    assert "inpainting-only" in inpainting.refused["text2img"] and inpainting.variant == "inpainting-only"
    for stem, (_, family, variant, text2img) in REAL_FILES.items():
        r = scanned[f"files/{stem}.safetensors"]
        assert (r.kind, r.family, r.detected_as, r.error) == ("file", family, variant, None), r
        assert r.pipelines["text2img"] == text2img, r
    for family, (_, variant, text2img) in TINY_FILES.items():
        r = scanned[f"files/{family}.safetensors"]
        assert (r.kind, r.family, r.detected_as, r.error, r.pipelines["text2img"]) == ("file", family, variant, None, text2img), r
    sd15 = scanned["files/sd15.safetensors"]
    assert sd15.weights_bytes > 2 * 10**9  # SD 1.5 in half precision, counted from the header
    assert "cannot do text2img" in scanned["files/sdxl-refiner.safetensors"].refused["text2img"]
    sharded = scanned["files/sharded/model.safetensors.index.json"]
    assert (sharded.kind, sharded.family, sharded.detected_as) == ("sharded", "stable-diffusion", "sd1")
    assert "controlnet=" in scanned["files/controlnet.safetensors"].error
    model = scanned["folders/controlnet-model"]
    assert model.kind == "folder" and "holds one model, a ControlNetModel" in model.error and "controlnet=" in model.error, model
    assert scanned["files/old.ckpt"].error.startswith("UnsafeCheckpointError")
    assert scanned["files/corrupt.safetensors"].error.startswith("InvalidModelError")
    assert "not a regular file" in scanned["files/fifo.safetensors"].error
    for path in BROKEN:
        r = scanned[path]
        assert r.family is None and r.pipelines == {} and r.weights_bytes is None, r


def _alone(path: Path, kind: str) -> Scanned:
    """`path` classified on its own through resolve's and planning's public functions, as a scan did before it worked
    anything out once for many files (each file read twice, every answer its own)."""
    registry = get_registry()
    try:
        if kind == "sharded":
            identity = identify_detection(path, detect(sharded_header(path), registry), registry)
        else:
            identity = identify(path, registry)
    except AutopipeError as exc:
        return Scanned(str(path), kind, error=f"{type(exc).__name__}: {exc}")
    pipelines, refused, resolved = {}, {}, None
    for task in Task:
        try:
            resolution = resolve_identity(identity, task, {}, registry)
        except AutopipeError as exc:
            pipelines[task.value], refused[task.value] = None, f"{type(exc).__name__}: {exc}"
            continue
        pipelines[task.value] = resolution.pipeline_class
        resolved = resolved or resolution
    if resolved is None:
        return Scanned(str(path), kind, error=next(iter(refused.values())))
    try:
        counted = footprint(identity, family_plan(resolved, SCAN_DEVICE, registry))
        weights = None if counted.unknown else counted.weights
    except AutopipeError:
        weights = None
    detected = identity.detection.variant if identity.detection is not None else None
    return Scanned(str(path), kind, resolved.family, resolved.variant, resolved.plugin, pipelines, refused, weights, None, detected)


def test_files_of_one_kind_each_get_their_own_answers(library, scanned, every_plugin):
    """What a scan works out once per detection (the Identity, the classes, the refusals) is each file's own: every
    entry equals the file classified alone, and a refusal names the file it is about."""
    alone = {os.path.relpath(str(path), library): _alone(path, kind) for path, kind in candidates(library)}
    assert alone == scanned
    assert {os.path.relpath(str(path), library): classify(path, kind) for path, kind in candidates(library)} == scanned
    first, second = (scanned[f"files/sd15-inpainting{n}.safetensors"] for n in ("", "-2"))
    assert first.refused["text2img"] != second.refused["text2img"]
    assert str(library / "files" / "sd15-inpainting-2.safetensors") in second.refused["text2img"]
    assert scanned["files/sd15-again.fp16.safetensors"].weights_bytes == scanned["files/sd15.safetensors"].weights_bytes


def test_the_command_prints_json_and_a_summary(library, every_plugin):
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "scan", str(library), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    total = len(FAMILIES) + 1 + len(REAL_FILES) + len(TINY_FILES) + 3 + 1 + len(BROKEN)
    assert len(listed) == total and sum(1 for r in listed if r["error"] is None) == total - len(BROKEN)
    text = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "scan", str(library / "files")], capture_output=True, text=True, timeout=300)
    broken_files = [path for path in BROKEN if path.startswith("files/")]
    files = total - len(FAMILIES) - 1 - (len(BROKEN) - len(broken_files))
    assert f"{files} checkpoint(s), {files - len(broken_files)} usable" in text.stderr
    assert "cannot be used: UnsafeCheckpointError" in text.stdout and "--allow-pickle" in text.stdout


@pytest.mark.parametrize("prefixes", [
    {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text_encoder": "cond_stage_model."},
    {"all": "", "unet": "model.diffusion_model.", "inner": "model.diffusion_model.out.", "same": "first_stage_model."},
    {"a": "first_stage_model.", "b": "first_stage_model.", "missing": "nothing."},
])
def test_a_files_bytes_count_each_tensor_for_its_longest_prefix(tmp_path, prefixes):
    """file_footprint (which a scan hands the header it read) against the rule said plainly: each tensor counts for
    the longest prefix it starts with, the first given among equal ones; a component with no tensor is unknown."""
    from autopipe_core.planning import count_tensors, file_footprint
    from autopipe_core.specs import Detection, Identity, LoadPlan

    tensors = layouts.layout("sd1")
    path = layouts.write(tmp_path / "sd15.safetensors", tensors)
    detection = Detection("stable-diffusion", "sd1", 1.0, "test", "diffusers:StableDiffusionPipeline", prefixes=prefixes)
    identity = Identity("file", str(path), "StableDiffusionPipeline", {}, {}, (path.name,), (), detection)
    plan = LoadPlan("float16", None, "device", "cuda", "test")
    counted = {c.name: (c.parameters, c.nbytes) for c in file_footprint(identity, plan).components}
    counted_again = {c.name: (c.parameters, c.nbytes) for c in file_footprint(identity, plan, header=read_header(path)).components}
    expected = {}
    for component, prefix in prefixes.items():
        mine = [(n, d, s) for n, (d, s) in tensors.items()
                if n.startswith(prefix) and max((p for p in prefixes.values() if n.startswith(p)), key=len) == prefix
                and next(c for c, p in prefixes.items() if p == prefix) == component]
        expected[component] = count_tensors(mine, "float16") if mine else (None, None)
    assert counted == counted_again == expected


def _locked(monkeypatch, *names):
    """os.scandir refusing the folders of these names, as it does a folder without read permission (this machine
    runs the tests as root, whom no permission bit stops)."""
    import errno

    scandir = os.scandir

    def denied(path="."):
        if Path(os.fspath(path)).name in names:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)


def test_a_folder_that_cannot_be_listed_is_reported_not_skipped_in_silence(tmp_path, tiny_sd, monkeypatch):
    # Found by a hostile-input trial: os.walk left a locked folder out without a word ("1 checkpoint(s), 1 usable").
    shutil.copytree(tiny_sd, tmp_path / "ok")
    (tmp_path / "locked").mkdir()
    _locked(monkeypatch, "locked")
    found = {Path(r.path).name: r for r in scan(tmp_path)}
    assert sorted(found) == ["locked", "ok"] and found["ok"].error is None
    assert found["locked"].kind == "folder"
    assert found["locked"].error == f"ModelNotFoundError: cannot list {tmp_path / 'locked'} (Permission denied): the checkpoints in it were not scanned; make it readable"


def test_scanning_a_folder_that_cannot_be_listed_is_a_typed_error(tmp_path, monkeypatch):
    from autopipe_core import ModelNotFoundError

    (tmp_path / "locked").mkdir()
    _locked(monkeypatch, "locked")
    with pytest.raises(ModelNotFoundError) as info:  # it raised PermissionError from inside pathlib
        scan(tmp_path / "locked")
    assert str(info.value) == f"cannot scan {tmp_path / 'locked'}: Permission denied"


def test_the_text_says_the_size_is_of_the_weights_as_loaded_not_of_the_file(tmp_path, tiny_sd):
    # A newcomer read "869.83 KiB" beside a 1.83 MB file as a wrong file size: it is the float16 weights a GPU loads.
    shutil.copytree(tiny_sd, tmp_path / "sd")
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "scan", str(tmp_path)], capture_output=True, text=True, check=True)
    (result,) = scan(tmp_path)
    from autopipe_core.units import human

    assert f"stable-diffusion (autopipe-sd), weights: {human(result.weights_bytes)} as loaded on a GPU" in out.stdout
