"""Single-file checkpoints: detection from the header, resolution, the pickle refusal, offline loading.

Detection runs on sparse files that carry the true tensor names and shapes of
each variant (see single_file_layouts.py): gigabytes on paper, a few
kilobytes on disk, and only the header is ever read.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pickle
import struct
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

import single_file_layouts as layouts
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    Detection,
    InvalidModelError,
    ModelNotFoundError,
    UnsafeCheckpointError,
    UnsupportedModelError,
    UnsupportedTaskError,
    hookimpl,
    resolve,
)
from autopipe_core import files as files_module
from autopipe_core import single_file
from autopipe_core import registry as registry_module
from autopipe_core.cli import main
from autopipe_core.headers import read_header
from autopipe_core.plugins import PluginInfo
from autopipe_core.registry import build

ALL = "autopipe-sd,autopipe-sdxl,autopipe-controlnet"
TASKS = ("text2img", "img2img", "inpaint")


@pytest.fixture(autouse=True)
def _all_single_file_plugins(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", ALL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One sparse file per variant, written once for the module."""
    root = tmp_path_factory.mktemp("single-files")
    cache: dict[str, Path] = {}

    def get(name: str, metadata: dict | None = None) -> Path:
        key = name + json.dumps(metadata or {}, sort_keys=True)
        if key not in cache:
            tensors = layouts.controlnet_layout(name) if name.startswith("controlnet") else layouts.layout(name)
            cache[key] = layouts.write(root / f"{name}-{len(cache)}.safetensors", tensors, metadata)
        return cache[key]

    return get


# family, detected variant, plugin, {task: class or None for an early refusal}
EXPECTED = {
    "sd1": ("stable-diffusion", "sd1", "autopipe-sd", ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline")),
    "sd1-inpainting": ("stable-diffusion", "sd1-inpainting", "autopipe-sd", (None, None, "StableDiffusionInpaintPipeline")),
    "sd2-v": ("stable-diffusion", "sd2-v", "autopipe-sd", ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline")),
    "sd2-inpainting": ("stable-diffusion", "sd2-inpainting", "autopipe-sd", (None, None, "StableDiffusionInpaintPipeline")),
    "xl-base": ("stable-diffusion-xl", "xl-base", "autopipe-sdxl", ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline")),
    "xl-refiner": ("stable-diffusion-xl", "xl-refiner", "autopipe-sdxl", (None, "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline")),
    "xl-inpainting": ("stable-diffusion-xl", "xl-inpainting", "autopipe-sdxl", (None, None, "StableDiffusionXLInpaintPipeline")),
}

#: Input channels (9: inpainting) and cross-attention width of each variant's UNet, as the real checkpoints have them.
UNET_FACTS = {
    "sd1": (4, 768), "sd1-inpainting": (9, 768), "sd2-v": (4, 1024), "sd2-inpainting": (9, 1024),
    "xl-base": (4, 2048), "xl-refiner": (4, 1280), "xl-inpainting": (9, 2048),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_variant_is_detected_and_resolves_like_a_folder(files, name):
    family, variant, plugin, classes = EXPECTED[name]
    path = files(name)
    report = single_file.detect(read_header(path))
    best = report.best
    assert (best.family, best.variant, best.plugin) == (family, variant, plugin)
    # The folder the plugin ships for exactly this variant, and a UNet config that matches the file's tensors.
    package = {"autopipe-sd": "autopipe_sd", "autopipe-sdxl": "autopipe_sdxl"}[plugin]
    assert Path(best.config) == Path(importlib.import_module(package).__file__).parent / "configs" / variant
    unet = json.loads(Path(best.config, "unet", "config.json").read_text())
    assert (unet["in_channels"], unet["cross_attention_dim"]) == UNET_FACTS[name]
    claimed = {v.plugin for v in report.verdicts if v.detections}
    assert claimed == {plugin}, f"only {plugin} should claim {name}: {report.summary()}"
    for task, expected in zip(TASKS, classes):
        if expected is None:
            with pytest.raises(UnsupportedTaskError, match="use AutoPipelineFor"):
                resolve(str(path), task)
        else:
            r = resolve(str(path), task)
            assert (r.family, r.pipeline_class, r.plugin, r.identity.origin) == (family, expected, plugin, "file")


def test_a_file_resolves_with_modifiers_like_a_folder(files):
    assert resolve(str(files("sd1")), "text2img", enable_pag=True).pipeline_class == "StableDiffusionPAGPipeline"
    assert resolve(str(files("xl-base")), "img2img", enable_pag=True).pipeline_class == "StableDiffusionXLPAGImg2ImgPipeline"


def test_sd2_prediction_comes_from_metadata_when_there_is_some(files):
    unsure = single_file.detect(read_header(files("sd2-v"))).ranked
    assert [d.variant for d in unsure] == ["sd2-v", "sd2-base"] and unsure[0].confidence < 0.9
    assert "cannot be told from the tensors" in unsure[0].reason
    base = single_file.detect(read_header(files("sd2-v", {"modelspec.architecture": "stable-diffusion-v2-512"}))).best
    assert base.variant == "sd2-base" and base.confidence >= 0.9 and "modelspec.architecture" in base.reason
    v = single_file.detect(read_header(files("sd2-v", {"ss_v_parameterization": "True"}))).best
    assert v.variant == "sd2-v" and v.confidence >= 0.9
    assert json.loads(Path(v.config, "scheduler", "scheduler_config.json").read_text())["prediction_type"] == "v_prediction"
    assert json.loads(Path(base.config, "scheduler", "scheduler_config.json").read_text())["prediction_type"] == "epsilon"


@pytest.mark.parametrize(
    "name, family",
    [("controlnet-sd1", "stable-diffusion"), ("controlnet-sd2", "stable-diffusion"), ("controlnet-sdxl", "stable-diffusion-xl"), ("controlnet-sdxl-small", "stable-diffusion-xl")],
)
def test_a_controlnet_file_is_recognised_as_a_component_to_pass_as_controlnet(files, name, family):
    path = files(name)
    best = single_file.detect(read_header(path)).best
    assert (best.family, best.variant, best.plugin, best.component) == (family, name, "autopipe-controlnet", "diffusers:ControlNetModel")
    assert (best.config is None) == (name == "controlnet-sdxl-small")
    with pytest.raises(UnsupportedModelError, match="not a pipeline.*pass it as controlnet="):
        resolve(str(path), "text2img")


def test_a_file_nobody_claims_says_what_each_plugin_said(tmp_path):
    path = layouts.write(tmp_path / "llm.safetensors", {"model.layers.0.self_attn.q_proj.weight": ("BF16", (4096, 4096))})
    with pytest.raises(UnsupportedModelError) as err:
        resolve(str(path), "text2img")
    text = str(err.value)
    said_no = text.split("What each said: ")[1].split(": not one of their families")[0].split(", ")
    assert sorted(said_no) == sorted(ALL.split(","))
    assert "autopipe inspect" in text


class _Raiser:
    @staticmethod
    @hookimpl
    def autopipe_detect(header):
        raise RuntimeError("boom in detect")


class _Rival:
    """Claims every SD 1.x file for SDXL, more confidently than autopipe-sd."""

    @staticmethod
    @hookimpl
    def autopipe_detect(header):
        if header.shape("model.diffusion_model.input_blocks.0.0.weight"):
            return Detection("stable-diffusion-xl", "rival", 0.99, "says so", pipeline_class="diffusers:StableDiffusionXLPipeline")
        return None


def _with(extra: dict[str, object]):
    registry = build(frozenset(ALL.split(",")))
    infos = list(registry.plugins)
    for name, plugin in extra.items():
        registry.manager.register(plugin, name=name)
        infos.append(PluginInfo(name, "0", f"tests:{name}", ("autopipe_detect",)))
    return replace(registry, plugins=tuple(infos))


def test_a_plugin_raising_in_detect_is_named_and_the_others_still_answer(files):
    report = single_file.detect(read_header(files("sd1")), _with({"raiser": _Raiser}))
    assert report.best.plugin == "autopipe-sd"
    (verdict,) = [v for v in report.verdicts if v.plugin == "raiser"]
    assert "RuntimeError: boom in detect" in verdict.describe()


def test_claims_are_ranked_by_preference_then_confidence(files, monkeypatch):
    registry = _with({"rival": _Rival})
    header = read_header(files("sd1"))
    assert single_file.detect(header, registry).best.plugin == "rival"  # 0.99 against 0.95
    monkeypatch.setenv("AUTOPIPE_PREFER", "autopipe-sd")
    assert registry_module.get_registry().prefer == ("autopipe-sd",)  # the registry of these settings carries them
    ranked = single_file.detect(header, replace(registry, prefer=("autopipe-sd",))).ranked
    assert [d.plugin for d in ranked] == ["autopipe-sd", "rival"]


def test_a_sparse_multi_gigabyte_file_resolves_from_its_header_alone(files, monkeypatch):
    path = files("xl-base")
    size = path.stat().st_size
    assert size > 5 * 2**30 and path.stat().st_blocks * 512 < 2**20  # 5.9 GB on paper, under 1 MB on disk
    resolve(str(path), "text2img")  # the registry and the plugins' modules, once
    reads: list[int] = []
    checkpoint = path.stat().st_ino

    class Counting(io.FileIO):
        """Counts what is read of the checkpoint (the plugin's config files are opened the same way)."""

        def read(self, n=-1):
            out = super().read(n)
            if os.fstat(self.fileno()).st_ino == checkpoint:
                reads.append(len(out))
            return out

    # What it costs is counted, not timed (a shared machine's clock says nothing about the file): the bytes read
    # of the checkpoint and the memory allocated, both bounded by the header's size whatever the file's.
    header = read_header(path)  # the reference, read before the count starts
    monkeypatch.setattr(files_module, "open", lambda p, mode="rb": Counting(p, mode), raising=False)  # every stranger's file is opened there
    tracemalloc.start()
    r = resolve(str(path), "text2img")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert r.pipeline_class == "StableDiffusionXLPipeline"
    assert sum(reads) == header.header_bytes < 400_000, reads  # the length and the JSON: no data, and no sniffing first
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# Pickles: never opened unless the caller opts in.

class _Trace:
    """Unpickling this creates the file `path`: the trace a malicious checkpoint would leave."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt", ".pth", ".safetensors"])
def test_a_pickle_is_refused_by_suffix_and_by_content_and_never_unpickled(tmp_path, suffix):
    trace = tmp_path / "unpickled"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps({"state_dict": _Trace(trace)}, protocol=4))
    for call in (lambda: resolve(str(path), "text2img"), lambda: AutoPipelineForText2Image.from_single_file(str(path))):
        with pytest.raises(UnsafeCheckpointError, match="safetensors") as err:
            call()
        assert "allow_pickle=True" in str(err.value)
    assert main(["resolve", str(path)]) == 1
    assert not trace.exists()
    assert isinstance(err.value, ValueError)


def test_a_torch_zip_checkpoint_is_refused_by_content(tmp_path):
    import torch

    path = tmp_path / "model.weights"  # no telling suffix: the zip's data.pkl gives it away
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(UnsafeCheckpointError, match="data.pkl"):
        resolve(str(path), "text2img")


def test_allow_pickle_reads_shapes_with_weights_only(tmp_path):
    import torch

    path = tmp_path / "sd15.ckpt"
    torch.save(
        {"state_dict": {
            "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3, dtype=torch.float16),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 768, dtype=torch.float16),
        }},
        path,
    )
    with pytest.raises(UnsafeCheckpointError):
        resolve(str(path), "text2img")
    r = resolve(str(path), "text2img", allow_pickle=True)
    assert (r.pipeline_class, r.identity.detection.variant) == ("StableDiffusionPipeline", "sd1")
    trace = tmp_path / "unpickled"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": _Trace(trace)}, protocol=4))
    with pytest.raises(ValueError, match="weights_only"):
        resolve(str(evil), "text2img", allow_pickle=True)  # weights_only refuses the callable
    assert not trace.exists()


def _save_padded(path: Path, tensors: dict, metadata: dict, low16: int) -> int:
    """Save `tensors` with the safetensors library, its metadata padded until the header length ends in the 16 bits `low16`.

    The library pads the JSON with spaces to a multiple of 8 bytes, and `low16` is one: one more character of
    metadata is one more byte of header, so one correction lands on the length wanted.
    """
    from safetensors.torch import save_file

    pad = 0
    for _ in range(2):
        save_file(tensors, str(path), metadata={**metadata, "pad": "x" * pad})
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
        if length & 0xFFFF == low16:
            return length
        pad += (low16 - length) % 0x10000
    raise AssertionError(f"could not pad the header to ...{low16:#06x} bytes")


def test_a_header_of_exactly_896_bytes_is_read_not_taken_for_a_pickle(tmp_path):
    import torch

    path = tmp_path / "small.safetensors"
    assert _save_padded(path, {"w": torch.zeros(2)}, {}, 896) == 896  # 0x380: the file starts 0x80 0x03, as a protocol-3 pickle does
    with open(path, "rb") as f:
        assert single_file.sniff_pickle(f.read(8), path) == "a pickle (protocol 3)"  # which is why it is asked only after parsing
    for allow in (False, True):
        header = single_file.read(path, allow_pickle=allow)
        assert header.header_bytes == 8 + 896 and header.shape("w") == (2,) and header.metadata["pad"]


@pytest.mark.parametrize("low16", [0x0280, 0x0380, 0x0480, 0x0580])
def test_a_checkpoint_whose_header_length_begins_like_a_pickle_resolves(tiny_file, tmp_path, low16):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(tiny_file), framework="pt") as f:
        metadata = f.metadata() or {}
    path = tmp_path / "tiny-sd.safetensors"
    _save_padded(path, load_file(str(tiny_file)), metadata, low16)
    with open(path, "rb") as f:
        assert f.read(2) == bytes([0x80, low16 >> 8])
    r = resolve(str(path), "text2img")
    assert (r.pipeline_class, r.identity.detection.variant) == ("StableDiffusionPipeline", "tiny")
    assert single_file.read(path).tensors == read_header(tiny_file).tensors


def test_a_safetensors_file_under_a_pickle_suffix_is_read_as_safetensors(tiny_file, tmp_path):
    path = tmp_path / "tiny-sd.ckpt"
    path.write_bytes(tiny_file.read_bytes())
    assert single_file.read(path).tensors == read_header(tiny_file).tensors  # a pickle is only what does not parse


def test_a_fifo_is_refused_at_once_by_read_and_inspect(tmp_path, capsys):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    release = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)))  # frees a reader stuck in open()
    release.start()
    try:
        start = time.process_time()
        with pytest.raises(InvalidModelError, match="not a regular file"):
            single_file.read(fifo)
        assert main(["inspect", str(fifo)]) != 0
        assert "not a regular file" in capsys.readouterr().err
        assert time.process_time() - start < 2
    finally:
        release.cancel()


INDEX = {"metadata": {"total_size": 8}, "weight_map": {"w": "diffusion_pytorch_model-00001-of-00002.safetensors"}}


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("diffusion_pytorch_model.safetensors.index.json", INDEX, "index of a sharded checkpoint.*merge the shards into one .safetensors file"),
        ("model_index.json", {"_class_name": "StableDiffusionPipeline"}, "model_index.json, not a weight file. Pass the folder that holds it"),
        ("model.bin", {"_class_name": "UNet2DConditionModel"}, "is a JSON file, not a safetensors weight file"),  # JSON, whatever its suffix
    ],
)
def test_a_json_file_given_as_a_checkpoint_says_what_to_pass_instead(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    for call in (lambda: single_file.read(path), lambda: resolve(str(path), "text2img"), lambda: AutoPipelineForText2Image.from_single_file(str(path))):
        with pytest.raises(InvalidModelError, match=says):
            call()


# Loading offline through diffusers' from_single_file.

@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    from autopipe_sd.tiny import build_single_file

    return build_single_file(tmp_path_factory.mktemp("tiny-single") / "tiny-sd.safetensors")


def test_the_tiny_ldm_file_is_detected_as_the_tiny_variant(tiny_file):
    header = read_header(tiny_file)
    assert header.has_prefix("model.diffusion_model.") and header.has_prefix("first_stage_model.") and header.has_prefix("cond_stage_model.transformer.text_model.")
    best = single_file.detect(header).best
    assert (best.plugin, best.variant) == ("autopipe-sd", "tiny")


def test_from_single_file_loads_the_ldm_file_offline_and_runs_the_three_tasks(tiny_file, monkeypatch):
    import torch
    from PIL import Image
    from safetensors.torch import load_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t2i = AutoPipelineForText2Image.from_single_file(str(tiny_file))
    assert type(t2i).__name__ == "StableDiffusionPipeline"
    weights = load_file(str(tiny_file))
    assert torch.equal(t2i.unet.conv_in.weight, weights["model.diffusion_model.input_blocks.0.0.weight"])
    assert torch.equal(t2i.vae.decoder.conv_out.weight, weights["first_stage_model.decoder.conv_out.weight"])
    assert torch.equal(t2i.text_encoder.get_input_embeddings().weight, weights["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"])
    assert t2i.tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]  # CLIP's own ids
    run = dict(num_inference_steps=2, output_type="pil")
    image = t2i("a cat", height=64, width=64, **run).images[0]
    assert image.size == (64, 64)
    i2i = AutoPipelineForImage2Image.from_single_file(str(tiny_file))
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline"
    assert i2i("a cat", image=image, strength=1.0, **run).images[0].size == (64, 64)
    inpaint = AutoPipelineForInpainting.from_pretrained(str(tiny_file))  # from_pretrained of a file: the same path
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    assert inpaint("a cat", image=image, mask_image=Image.new("L", (64, 64), 255), height=64, width=64, **run).images[0].size == (64, 64)


def test_from_single_file_wants_a_file(tiny_sd):
    with pytest.raises(ModelNotFoundError, match="from_pretrained"):
        AutoPipelineForText2Image.from_single_file(str(tiny_sd))


# The shipped configs.

#: Published parameter counts of the models the configs describe.
PARAMETERS = {
    ("autopipe_sd", "sd1", "unet"): 859_520_964,
    ("autopipe_sd", "sd1", "vae"): 83_653_863,
    ("autopipe_sd", "sd1", "text_encoder"): 123_060_480,
    ("autopipe_sd", "sd2-v", "unet"): 865_910_724,
    ("autopipe_sd", "sd2-v", "text_encoder"): 340_387_840,
    ("autopipe_sdxl", "xl-base", "unet"): 2_567_463_684,
    ("autopipe_sdxl", "xl-base", "text_encoder"): 123_060_480,
    ("autopipe_sdxl", "xl-base", "text_encoder_2"): 694_659_840,
}


@pytest.mark.parametrize("plugin, variant, component", sorted(PARAMETERS))
def test_shipped_configs_build_the_published_models(plugin, variant, component):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = json.loads((layouts._configs(plugin) / variant / component / "config.json").read_text())
    with init_empty_weights():
        if component == "unet":
            model = UNet2DConditionModel.from_config(config)
        elif component == "vae":
            model = AutoencoderKL.from_config(config)
        else:
            cls = CLIPTextModelWithProjection if config["architectures"] == ["CLIPTextModelWithProjection"] else CLIPTextModel
            model = cls(CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"}))
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[(plugin, variant, component)]


@pytest.mark.parametrize("plugin, variant", [("autopipe_sd", "tiny"), ("autopipe_sd", "sd1"), ("autopipe_sd", "sd2-inpainting"), ("autopipe_sdxl", "xl-base"), ("autopipe_sdxl", "xl-refiner")])
def test_the_ldm_names_are_the_ones_diffusers_converts_back(plugin, variant):
    """autopipe_sd.ldm, through diffusers' own converter, gives back every tensor of the config's model with its shape."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    from autopipe_sd.ldm import to_ldm

    folder = layouts._configs(plugin) / variant
    uc = json.loads((folder / "unet/config.json").read_text())
    vc = json.loads((folder / "vae/config.json").read_text())
    with init_empty_weights():
        unet, vae = UNet2DConditionModel.from_config(uc), AutoencoderKL.from_config(vc)
    ldm = to_ldm(unet.state_dict(), uc, vae.state_dict(), vc)
    for model, back in ((unet, convert_ldm_unet_checkpoint(dict(ldm), uc)), (vae, convert_ldm_vae_checkpoint(dict(ldm), vc))):
        assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_the_clip_vocabulary_is_derived_exactly():
    from autopipe_sd.single_file import clip_bpe

    vocab, merges = clip_bpe()
    assert len(vocab) == 49408 and len(merges) == 48894
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert vocab["a</w>"] == 320 and vocab["cat</w>"] == 2368


# The command line.

def test_cli_resolve_and_inspect_a_file(files, capsys):
    path = str(files("xl-refiner"))
    assert main(["resolve", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == "stable-diffusion-xl" and out["pipelines"]["text2img"] is None
    assert out["pipelines"]["img2img"] == "StableDiffusionXLImg2ImgPipeline" and out["variant"] == "xl-refiner"
    assert main(["inspect", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    header = read_header(path)
    assert info["header"]["tensors"] == len(header.tensors) and info["header"]["parameters"] == header.parameters
    assert info["header"]["bytes_by_dtype"] == {"F16": header.data_bytes}
    verdicts = {v["plugin"]: v for v in info["verdicts"]}
    assert verdicts["autopipe-sdxl"]["detections"][0]["variant"] == "xl-refiner"
    assert verdicts["autopipe-sd"]["detections"] == [] and info["best"]["plugin"] == "autopipe-sdxl"
    # SD was shown the file (it holds SD's key, the UNet's conv_in) and declined it; ControlNet's keys are not in it
    assert verdicts["autopipe-sd"]["keys_absent"] is False and verdicts["autopipe-controlnet"]["keys_absent"] is True
    assert main(["inspect", path]) == 0
    text = capsys.readouterr().out
    assert "autopipe-sdxl" in text and "xl-refiner" in text and "F16" in text
    assert "autopipe-controlnet: not one of its families (the file holds none of its autopipe_detect_keys)" in text


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_a_controlnet_file_loads_offline_and_drives_a_single_file_pipeline(tiny_file, tmp_path, layout):
    """autopipe_controlnet.from_single_file with its shipped config, passed as controlnet= to a single-file SD pipeline."""
    import torch
    from diffusers import ControlNetModel
    from PIL import Image
    from safetensors.torch import save_file

    import autopipe_controlnet
    from autopipe_controlnet.single_file import CONFIGS

    torch.manual_seed(0)
    source = ControlNetModel.from_config(json.loads((Path(CONFIGS) / "controlnet-tiny" / "config.json").read_text()))
    path = tmp_path / "control_tiny.safetensors"
    state = source.state_dict()
    if layout == "original":
        state = layouts.controlnet_to_original(state, dict(source.config))
        assert "control_model.input_hint_block.14.weight" in state and "control_model.zero_convs.0.0.weight" in state
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    best = single_file.detect(read_header(path)).best
    assert best.variant == "controlnet-tiny" and (layout in best.reason)
    controlnet = autopipe_controlnet.from_single_file(str(path))
    loaded = controlnet.state_dict()
    assert loaded.keys() == source.state_dict().keys()
    assert all(torch.equal(v, loaded[k]) for k, v in source.state_dict().items())
    pipe = AutoPipelineForText2Image.from_single_file(str(tiny_file), controlnet=controlnet)
    assert type(pipe).__name__ == "StableDiffusionControlNetPipeline" and pipe.controlnet is controlnet
    out = pipe("a cat", image=Image.new("RGB", (64, 64)), height=64, width=64, num_inference_steps=2).images[0]
    assert out.size == (64, 64)


def test_a_file_without_its_text_encoder_says_what_to_pass(tiny_file, tmp_path):
    from safetensors.torch import load_file, save_file

    unet_only = tmp_path / "unet-only.safetensors"
    save_file({k: v for k, v in load_file(str(tiny_file)).items() if not k.startswith("cond_stage_model.")}, str(unet_only))
    best = single_file.detect(read_header(unet_only)).best
    assert best.variant == "tiny" and "pass text_encoder=" in best.reason
    with pytest.raises(UnsupportedModelError, match="text_encoder"):
        AutoPipelineForText2Image.from_single_file(str(unet_only))


def test_sdxl_loading_builds_both_tokenizers_from_the_shipped_bpe(files):
    """The SDXL hook hands diffusers the config folder and two CLIP tokenizers (the second pads with '!')."""
    from autopipe_sdxl.single_file import load

    seen = {}

    class Recorder:
        @classmethod
        def from_single_file(cls, path, **kwargs):
            seen.update(kwargs, path=path)
            return "pipeline"

    detection = single_file.detect(read_header(files("xl-base"))).best
    assert load(Recorder, "x.safetensors", detection, {"config": detection.config, "local_files_only": True}) == "pipeline"
    assert seen["config"] == detection.config and seen["local_files_only"] is True
    assert seen["tokenizer"].pad_token == "<|endoftext|>" and seen["tokenizer_2"].pad_token == "!"
    assert seen["tokenizer_2"]("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    refiner = single_file.detect(read_header(files("xl-refiner"))).best
    seen.clear()
    load(Recorder, "x.safetensors", refiner, {"config": refiner.config})
    assert "tokenizer" not in seen and seen["tokenizer_2"].pad_token == "!"  # the refiner has no first text encoder


def test_resolving_a_file_imports_no_torch_diffusers_or_transformers(files):
    import subprocess
    import sys

    code = (
        "import sys; from autopipe_core import resolve; "
        f"r = resolve({str(files('xl-base'))!r}, 'text2img'); "
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'safetensors') if m in sys.modules); "
        "print(r.pipeline_class, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "StableDiffusionXLPipeline []", out.stderr


def test_a_tiny_sdxl_file_in_the_original_layout_loads_offline_with_both_text_encoders(tmp_path):
    """The SDXL path end to end: OpenCLIP names for the second encoder, two tokenizers from the shipped BPE, the shipped configs."""
    import torch
    from safetensors.torch import load_file

    path = layouts.build_tiny_sdxl_file(tmp_path / "tiny-sdxl.safetensors")
    assert single_file.detect(read_header(path)).best.variant == "xl-tiny"
    t2i = AutoPipelineForText2Image.from_single_file(str(path))
    assert type(t2i).__name__ == "StableDiffusionXLPipeline"
    weights = load_file(str(path))
    second = t2i.text_encoder_2
    assert torch.equal(second.text_projection.weight, weights["conditioner.embedders.1.model.text_projection"].T)
    q = next(v for k, v in second.state_dict().items() if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert torch.equal(q, weights["conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"][: q.shape[0]])
    assert torch.equal(t2i.unet.add_embedding.linear_1.weight, weights["model.diffusion_model.label_emb.0.0.weight"])
    assert t2i.tokenizer_2.pad_token == "!" and t2i.tokenizer.pad_token == "<|endoftext|>"
    image = t2i("a cat", height=64, width=64, num_inference_steps=2).images[0]
    i2i = AutoPipelineForImage2Image.from_single_file(str(path))
    assert type(i2i).__name__ == "StableDiffusionXLImg2ImgPipeline"
    assert i2i("a cat", image=image, strength=1.0, num_inference_steps=2).images[0].size == (64, 64)


def test_allow_pickle_loads_a_ckpt_through_diffusers(tiny_file, tmp_path):
    import torch
    from safetensors.torch import load_file

    ckpt = tmp_path / "tiny-sd.ckpt"
    torch.save({"state_dict": load_file(str(tiny_file))}, ckpt)
    with pytest.raises(UnsafeCheckpointError):
        AutoPipelineForText2Image.from_single_file(str(ckpt))
    pipe = AutoPipelineForText2Image.from_single_file(str(ckpt), allow_pickle=True)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert torch.equal(pipe.unet.conv_in.weight, load_file(str(tiny_file))["model.diffusion_model.input_blocks.0.0.weight"])


def test_from_single_file_of_a_url_says_to_download_it_first():
    with pytest.raises(ModelNotFoundError, match="hf_hub_download"):
        AutoPipelineForText2Image.from_single_file("https://huggingface.co/org/repo/blob/main/model.safetensors")
