"""autopipe scan: a tree of every shipped family's tiny checkpoints, single files, a sharded file, a pickle, a corrupt
file and a FIFO, classified in one process; the broken entries reported, the scan going on."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import single_file_layouts as layouts

from autopipe_core.scan import scan

SHIPPED = "autopipe-sd,autopipe-sdxl,autopipe-kandinsky,autopipe-deepfloyd-if,autopipe-controlnet"
FAMILIES = ("stable-diffusion", "stable-diffusion-xl", "kandinsky", "kandinsky22", "if")


@pytest.fixture(scope="module")
def library(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    for family in FAMILIES:
        shutil.copytree(tiny_checkpoint(family), root / "folders" / family, symlinks=True)
    shutil.copytree(tiny_checkpoint("stable-diffusion", "inpainting-only"), root / "folders" / "sd-inpainting")
    files = root / "files"
    files.mkdir()
    layouts.write(files / "sd15.safetensors", layouts.layout("sd1"))
    layouts.write(files / "sdxl-base.safetensors", layouts.layout("xl-base"))
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
    monkeypatch.setenv("AUTOPIPE_PLUGINS", SHIPPED)


def test_every_checkpoint_is_classified_and_the_broken_ones_are_reported(library, every_plugin):
    results = {os.path.relpath(r.path, library): r for r in scan(library)}
    assert set(results) == {
        *(f"folders/{f}" for f in FAMILIES), "folders/sd-inpainting",
        "files/sd15.safetensors", "files/sdxl-base.safetensors", "files/controlnet.safetensors",
        "files/sharded/model.safetensors.index.json", "files/old.ckpt", "files/corrupt.safetensors", "files/fifo.safetensors",
    }
    for family in FAMILIES:
        r = results[f"folders/{family}"]
        assert r.error is None and r.family == family and r.pipelines["text2img"] and r.weights_bytes > 0, r
    inpainting = results["folders/sd-inpainting"]
    assert inpainting.pipelines == {"text2img": None, "img2img": None, "inpaint": "StableDiffusionInpaintPipeline"}
    assert "inpainting-only" in inpainting.refused["text2img"] and inpainting.variant == "inpainting-only"
    sd15 = results["files/sd15.safetensors"]
    assert (sd15.kind, sd15.family, sd15.detected_as, sd15.pipelines["text2img"]) == ("file", "stable-diffusion", "sd1", "StableDiffusionPipeline")
    assert sd15.weights_bytes > 2 * 10**9  # SD 1.5 in half precision, counted from the header
    assert results["files/sdxl-base.safetensors"].family == "stable-diffusion-xl"
    sharded = results["files/sharded/model.safetensors.index.json"]
    assert (sharded.kind, sharded.family, sharded.detected_as) == ("sharded", "stable-diffusion", "sd1")
    assert "controlnet=" in results["files/controlnet.safetensors"].error
    assert results["files/old.ckpt"].error.startswith("UnsafeCheckpointError")
    assert results["files/corrupt.safetensors"].error.startswith("InvalidModelError")
    assert "not a regular file" in results["files/fifo.safetensors"].error


def test_the_command_prints_json_and_a_summary(library):
    env = {**os.environ, "AUTOPIPE_PLUGINS": SHIPPED}
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "scan", str(library), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert len(listed) == 13 and sum(1 for r in listed if r["error"] is None) == 9
    text = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "scan", str(library / "files")], capture_output=True, text=True, env=env, timeout=300)
    assert "13" not in text.stderr and "7 checkpoint(s), 3 usable" in text.stderr
    assert "cannot be used: UnsafeCheckpointError" in text.stdout and "--allow-pickle" in text.stdout
