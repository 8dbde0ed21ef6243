"""Full-size checkpoints without their weights: header-only sparse safetensors files of the real tensor shapes.

The six families' usual checkpoints (SD 1.5, SDXL base, each with a
ControlNet, DeepFloyd IF-I-XL, Kandinsky 2.1 and 2.2) written as diffusers
folders whose weight files hold a true safetensors header and nothing else:
each file is truncated to the length its header says (8 bytes + header +
data), so it is sparse, takes no disk and reads as a valid file. Planning
reads only headers, so it sees these exactly as it would see the real ones.

The shapes come from bench/fullsize.json (written by
bench/fullsize_measure.py, which says where each figure comes from). Both
the plain float32 files and the fp16 variant are written, as the hub repos
ship them; IF's T5 is sharded in two, as on the hub.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("fullsize.json")

CLASSES = {
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "controlnet": ["diffusers", "ControlNetModel"],
    "movq": ["diffusers", "VQModel"],
    "prior": ["diffusers", "PriorTransformer"],
    "scheduler": ["diffusers", "DDPMScheduler"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
}

#: name -> (pipeline class, {component: (checkpoint in fullsize.json, component there, library, class)}, configs, prior)
CHECKPOINTS: dict[str, dict[str, Any]] = {
    "sd15": {
        "title": "SD 1.5",
        "class": "StableDiffusionPipeline",
        "components": {
            "unet": ("sd15", "unet", "diffusers", "UNet2DConditionModel"),
            "vae": ("sd15", "vae", "diffusers", "AutoencoderKL"),
            "text_encoder": ("sd15", "text_encoder", "transformers", "CLIPTextModel"),
            "safety_checker": ("sd15", "safety_checker", "stable_diffusion", "StableDiffusionSafetyChecker"),
        },
        "configs": {"unet": {"sample_size": 64, "in_channels": 4}},
    },
    "sdxl": {
        "title": "SDXL base 1.0",
        "class": "StableDiffusionXLPipeline",
        "components": {
            "unet": ("sdxl", "unet", "diffusers", "UNet2DConditionModel"),
            "vae": ("sd15", "vae", "diffusers", "AutoencoderKL"),
            "text_encoder": ("sd15", "text_encoder", "transformers", "CLIPTextModel"),
            "text_encoder_2": ("sdxl", "text_encoder_2", "transformers", "CLIPTextModelWithProjection"),
        },
        "configs": {"unet": {"sample_size": 128, "in_channels": 4, "projection_class_embeddings_input_dim": 2816}, "vae": {"force_upcast": True}},
    },
    "sd15-controlnet": {
        "title": "SD 1.5 + ControlNet",
        "class": "StableDiffusionControlNetPipeline",
        "base": "sd15",
        "components": {"controlnet": ("sd15-controlnet", "controlnet", "diffusers", "ControlNetModel")},
    },
    "sdxl-controlnet": {
        "title": "SDXL + ControlNet",
        "class": "StableDiffusionXLControlNetPipeline",
        "base": "sdxl",
        "components": {"controlnet": ("sdxl-controlnet", "controlnet", "diffusers", "ControlNetModel")},
    },
    "kandinsky21": {
        "title": "Kandinsky 2.1",
        "class": "KandinskyPipeline",
        "components": {
            "unet": ("kandinsky21", "unet", "diffusers", "UNet2DConditionModel"),
            "movq": ("kandinsky21", "movq", "diffusers", "VQModel"),
            "text_encoder": ("kandinsky21", "text_encoder", "kandinsky", "MultilingualCLIP"),
        },
        "configs": {"unet": {"sample_size": 96, "in_channels": 4}},
        "prior": {
            "class": "KandinskyPriorPipeline",
            "components": {
                "prior": ("kandinsky21", "prior_prior", "diffusers", "PriorTransformer"),
                "text_encoder": ("kandinsky21", "prior_text_encoder", "transformers", "CLIPTextModelWithProjection"),
                "image_encoder": ("kandinsky21", "prior_image_encoder", "transformers", "CLIPVisionModelWithProjection"),
            },
        },
    },
    "kandinsky22": {
        "title": "Kandinsky 2.2",
        "class": "KandinskyV22Pipeline",
        "components": {
            "unet": ("kandinsky22", "unet", "diffusers", "UNet2DConditionModel"),
            "movq": ("kandinsky22", "movq", "diffusers", "VQModel"),
        },
        "configs": {"unet": {"sample_size": 96, "in_channels": 4}},
        "prior": {
            "class": "KandinskyV22PriorPipeline",
            "components": {
                "prior": ("kandinsky22", "prior_prior", "diffusers", "PriorTransformer"),
                "text_encoder": ("kandinsky22", "prior_text_encoder", "transformers", "CLIPTextModelWithProjection"),
                "image_encoder": ("kandinsky22", "prior_image_encoder", "transformers", "CLIPVisionModelWithProjection"),
            },
        },
    },
    "if-i-xl": {
        "title": "DeepFloyd IF-I-XL",
        "class": "IFPipeline",
        "components": {
            "text_encoder": ("if-i-xl", "text_encoder", "transformers", "T5EncoderModel"),
            "unet": ("if-i-xl", "unet", "diffusers", "UNet2DConditionModel"),
        },
        "configs": {"unet": {"sample_size": 64, "in_channels": 3}},
        "shards": {"text_encoder": 2},
    },
}



def _sd35_large(folder: Path) -> Path:
    from autopipe_sd3.architectures import write_fullsize

    return write_fullsize(folder, "sd35-large")


def _flux1_dev(folder: Path) -> Path:
    from autopipe_flux.layout import write_header_only
    from autopipe_flux.single_file import config_folder

    return write_header_only(config_folder("flux-dev"), folder)


# Families whose plugins write their own header-only copies, with the shapes of the models their configs build on the
# meta device (diffusers' and transformers' own classes): "writer" is called with the folder to write. Their files
# are what the official repositories ship: bfloat16, no fp16 variant.
CHECKPOINTS["sd35-large"] = {"title": "SD 3.5 Large", "writer": _sd35_large}
CHECKPOINTS["flux1-dev"] = {"title": "FLUX.1-dev", "writer": _flux1_dev}

#: The weight file stem of each library: transformers saves model.safetensors, diffusers diffusion_pytorch_model.safetensors.
STEM = {"transformers": "model", "kandinsky": "model", "stable_diffusion": "model"}


@lru_cache(maxsize=1)
def shapes() -> dict[str, dict[str, list]]:
    return json.loads(DATA.read_text())


def tensors(checkpoint: str, component: str) -> list[tuple[str, list[int]]]:
    """(name, shape) of every tensor of one component, groups expanded."""
    out = []
    for name, shape, count in shapes()[checkpoint][component]:
        out.extend((name if count == 1 else f"{name}.{i}", shape) for i in range(count))
    return out


def parameters(checkpoint: str, component: str) -> int:
    total = 0
    for _, shape, count in shapes()[checkpoint][component]:
        n = 1
        for d in shape:
            n *= d
        total += n * count
    return total


def write_sparse(path: Path, items: list[tuple[str, list[int]]], dtype: str) -> None:
    """A safetensors file of these tensors whose data is a hole: the header is real, the file is sparse."""
    size = {"F32": 4, "F16": 2}[dtype]
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in items:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n * size]}
        offset += n * size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)


def _write_component(folder: Path, name: str, source: tuple[str, str, str, str], shards: int, config: dict) -> None:
    checkpoint, component, library, cls = source
    stem = STEM.get(library, "diffusion_pytorch_model")
    items = tensors(checkpoint, component)
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "config.json").write_text(json.dumps({"_class_name": cls, **config}))
    for dtype, variant in (("F32", ""), ("F16", ".fp16")):
        if shards == 1:
            write_sparse(folder / name / f"{stem}{variant}.safetensors", items, dtype)
            continue
        per = -(-len(items) // shards)
        weight_map = {}
        for i in range(shards):
            part = items[i * per:(i + 1) * per]
            filename = f"{stem}{variant}-{i + 1:05d}-of-{shards:05d}.safetensors"
            write_sparse(folder / name / filename, part, dtype)
            weight_map.update({n: filename for n, _ in part})
        index = f"{stem}.safetensors.index{variant}.json"
        (folder / name / index).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def _write_pipeline(folder: Path, spec: dict[str, Any]) -> None:
    index: dict[str, Any] = {"_class_name": spec["class"], "_diffusers_version": "0.42.1",
                             "scheduler": CLASSES["scheduler"], "tokenizer": CLASSES["tokenizer"]}
    for name, source in spec["components"].items():
        index[name] = [source[2] if source[2] in ("diffusers", "transformers") else source[2], source[3]]
        _write_component(folder, name, source, spec.get("shards", {}).get(name, 1), spec.get("configs", {}).get(name, {}))
    for extra in ("scheduler", "tokenizer"):
        (folder / extra).mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(index, indent=1))


def spec_of(name: str) -> dict[str, Any]:
    """A checkpoint's spec with its base's components and configs merged in (the ControlNet pipelines)."""
    spec = dict(CHECKPOINTS[name])
    if "base" in spec:
        base = CHECKPOINTS[spec["base"]]
        spec = {**base, **spec, "components": {**base["components"], **spec["components"]}}
    return spec


def write(name: str, root: Path) -> Path:
    """Write the checkpoint `name` (a key of CHECKPOINTS) as a diffusers folder under `root`; returns the folder."""
    spec = spec_of(name)
    folder = Path(root) / name
    if "writer" in spec:
        return Path(spec["writer"](folder))
    _write_pipeline(folder, spec)
    if "prior" in spec:
        _write_pipeline(folder / "prior", spec["prior"])
        (folder / "README.md").write_text("---\nprior:\n- prior\n---\n\nweights are holes: header-only sparse files\n")
    return folder


def expected_parameters(name: str) -> dict[str, int]:
    """The parameter count of each component as the pipeline will name it (a prior's as prior_<name>), from the shapes in
    fullsize.json; a checkpoint its plugin writes has none here (KeyError): its counts are the published ones."""
    spec = spec_of(name)
    if "writer" in spec:
        raise KeyError(f"{name} is written by its plugin; bench/fullsize.json holds no shapes for it")
    out = {n: parameters(s[0], s[1]) for n, s in spec["components"].items()}
    for n, s in spec.get("prior", {}).get("components", {}).items():
        out[f"prior_{n}"] = parameters(s[0], s[1])
    return out
