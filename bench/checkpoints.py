"""Full-size random-weight checkpoints for the benchmark, built once into the bench cache and reused.

    python bench/checkpoints.py sd15      # SD 1.5 architecture, float16: a diffusers folder and one LDM .safetensors file
    python bench/checkpoints.py sdxl      # SDXL base architecture, float16 (about 7 GB each)
    python bench/checkpoints.py small     # the tiny SD checkpoint as one LDM .safetensors file (about 8 MB)
    python bench/checkpoints.py sparse-xl # SDXL base's UNet and VAE names and shapes, header only (5.3 GB on paper, KB on disk)

Each model is built from the full-size configs the plugins ship
(``autopipe_sd/configs/sd1``, ``autopipe_sdxl/configs/xl-base``), initialised
at random directly in float16 (torch's default dtype set to float16 while the
modules are constructed, so no float32 copy is ever held), and written with
``save_pretrained``. The same weights are then written as one file in the
original (LDM / SGM) layout, renamed with ``autopipe_sd.ldm`` and streamed
tensor by tensor from the folder's memory-mapped files, so that building the
7 GB SDXL file never holds more than one tensor beyond the page cache.

The cache is ``$AUTOPIPE_BENCH_DIR`` (default ``~/.cache/autopipe/bench``), outside
the repository. Everything is written into a staging folder and renamed into
place when complete, so an interrupted build is never taken for a finished one.
This module imports torch and diffusers only inside the build functions: the
benchmark's parent process stays free of them and calls this file as a child.
"""

from __future__ import annotations

import importlib.metadata as _md
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

ENV_DIR = "AUTOPIPE_BENCH_DIR"
KINDS = ("sd15", "sdxl", "small", "sparse-xl")


def cache_dir() -> Path:
    root = os.environ.get(ENV_DIR)
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autopipe" / "bench"


def _version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "none"


def target(kind: str) -> Path:
    """The cached folder for `kind`: it holds `folder/` (diffusers layout, not for "small") and `model.safetensors`."""
    dtype = "-fp16" if kind in ("sd15", "sdxl") else ""
    return cache_dir() / f"{kind}{dtype}-diffusers{_version('diffusers')}-autopipe-sd{_version('autopipe-sd')}-v1"


def paths(kind: str) -> tuple[Path | None, Path]:
    t = target(kind)
    return (t / "folder" if kind in ("sd15", "sdxl") else None), t / "model.safetensors"


def ready(kind: str) -> bool:
    return (target(kind) / "DONE").is_file()


def ensure(kind: str, env: dict[str, str] | None = None, log=sys.stderr) -> tuple[bool, float]:
    """Build `kind` in a child process unless cached. Returns (built_now, seconds)."""
    import time

    if ready(kind):
        return False, 0.0
    t0 = time.perf_counter()
    print(f"building the {kind} checkpoint into {target(kind)} (once; later runs reuse it) ...", file=log, flush=True)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), kind], env=env, capture_output=True, text=True)
    if out.returncode != 0 or not ready(kind):
        raise SystemExit(f"building the {kind} checkpoint failed (exit {out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return True, time.perf_counter() - t0


# --------------------------------------------------------------------------- writing one safetensors file, streamed


class Ref:
    """A tensor to be written: its shape, where its bytes come from, and an optional reshape (for to_ldm)."""

    def __init__(self, source: Callable[[], Any], shape: tuple[int, ...], dtype: str = "F16"):
        self.source, self.shape, self.dtype = source, tuple(shape), dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reshape(self, *shape: int) -> "Ref":
        src = self.source
        return Ref(lambda: src().reshape(*shape), shape, self.dtype)


def write_streamed(path: Path, tensors: dict[str, Ref], metadata: dict[str, str] | None = None) -> None:
    """A valid safetensors file written one tensor at a time (the library's save_file builds it all in memory)."""
    import math

    size = {"F16": 2, "BF16": 2, "F32": 4, "I64": 8}
    entries: dict[str, Any] = {}
    offset = 0
    for name, ref in tensors.items():
        n = math.prod(ref.shape) * size[ref.dtype]
        entries[name] = {"dtype": ref.dtype, "shape": list(ref.shape), "data_offsets": [offset, offset + n]}
        offset += n
    if metadata:
        entries["__metadata__"] = dict(metadata)
    raw = json.dumps(entries, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for name, ref in tensors.items():
            t = ref.source().contiguous()
            if tuple(t.shape) != ref.shape:
                raise ValueError(f"{name}: {tuple(t.shape)} != {ref.shape}")
            f.write(memoryview(t.view(-1).view(__import__("torch").uint8).numpy()))
        if f.tell() != 8 + len(raw) + offset:
            raise ValueError("size mismatch")


def folder_refs(component: Path) -> dict[str, Ref]:
    """Lazy references to every tensor of a saved component (diffusion_pytorch_model / model .safetensors)."""
    from safetensors import safe_open

    files = sorted(component.glob("*.safetensors"))
    out: dict[str, Ref] = {}
    for file in files:
        handle = safe_open(str(file), framework="pt")
        for key in handle.keys():
            sl = handle.get_slice(key)
            dtype = {"F16": "F16", "BF16": "BF16", "F32": "F32", "I64": "I64"}[sl.get_dtype()]
            out[key] = Ref(lambda h=handle, k=key: h.get_tensor(k), tuple(sl.get_shape()), dtype)
    return out


def open_clip_names(text: dict[str, Ref], prefix: str) -> dict[str, Ref]:
    """transformers' CLIPTextModelWithProjection -> OpenCLIP's names (SDXL's second encoder in the SGM file)."""
    import torch

    out: dict[str, Ref] = {}
    layers = sorted({int(k.split(".")[3]) for k in text if k.startswith("text_model.encoder.layers.")})
    simple = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    for old, new in simple.items():
        out[prefix + new] = text[old]
    proj = text["text_projection.weight"]
    out[prefix + "text_projection"] = Ref(lambda: proj.source().t(), proj.shape[::-1], proj.dtype)
    parts = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    for i in layers:
        src, dst = f"text_model.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [text[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            shape = (sum(r.shape[0] for r in qkv), *qkv[0].shape[1:])
            out[f"{dst}attn.in_proj_{kind}"] = Ref(lambda qkv=qkv: torch.cat([r.source() for r in qkv]), shape, qkv[0].dtype)
            for old, new in parts.items():
                out[f"{dst}{new}.{kind}"] = text[f"{src}{old}.{kind}"]
    return out


def write_ldm(folder: Path, dest: Path, xl: bool) -> None:
    from autopipe_sd.ldm import to_ldm

    read = lambda name: json.loads((folder / name / "config.json").read_text())  # noqa: E731
    unet, vae, text = folder_refs(folder / "unet"), folder_refs(folder / "vae"), folder_refs(folder / "text_encoder")
    if not xl:
        tensors = to_ldm(unet, read("unet"), vae, read("vae"), text)
    else:
        tensors = to_ldm(unet, read("unet"), vae, read("vae"))
        for key, ref in text.items():
            if not key.endswith("position_ids"):
                tensors["conditioner.embedders.0.transformer." + ("" if key.startswith("text_model.") else "text_model.") + key] = ref
        tensors.update(open_clip_names(folder_refs(folder / "text_encoder_2"), "conditioner.embedders.1.model."))
    write_streamed(dest, tensors, {"format": "pt"})


# --------------------------------------------------------------------------- building


def _configs(plugin: str, variant: str) -> Path:
    import importlib

    return Path(importlib.import_module(plugin).__file__).parent / "configs" / variant


def build_folder(kind: str, dest: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from autopipe_sd.single_file import tokenizer

    xl = kind == "sdxl"
    configs = _configs("autopipe_sdxl", "xl-base") if xl else _configs("autopipe_sd", "sd1")
    read = lambda name: json.loads((configs / name / "config.json").read_text())  # noqa: E731
    torch.manual_seed(0)
    dest.mkdir(parents=True)
    # One component at a time, constructed directly in float16, saved, and freed.
    torch.set_default_dtype(torch.float16)
    try:
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("unet", lambda: UNet2DConditionModel.from_config(read("unet"))),
            ("vae", lambda: AutoencoderKL.from_config(read("vae"))),
            ("text_encoder", lambda: CLIPTextModel(CLIPTextConfig(**{k: v for k, v in read("text_encoder").items() if k != "architectures"}))),
        ]
        if xl:
            parts.append(("text_encoder_2", lambda: CLIPTextModelWithProjection(CLIPTextConfig(**{k: v for k, v in read("text_encoder_2").items() if k != "architectures"}))))
        for name, make in parts:
            model = make().to(torch.float16)
            model.save_pretrained(dest / name)
            del model
    finally:
        torch.set_default_dtype(torch.float32)
    for name in ("tokenizer", "tokenizer_2") if xl else ("tokenizer",):
        tokenizer(configs / name).save_pretrained(dest / name)
    scheduler = (EulerDiscreteScheduler if xl else PNDMScheduler).from_config(json.loads((configs / "scheduler" / "scheduler_config.json").read_text()))
    scheduler.save_pretrained(dest / "scheduler")
    index = json.loads((configs / "model_index.json").read_text())
    import diffusers

    index["_diffusers_version"] = diffusers.__version__
    (dest / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def build(kind: str) -> None:
    final = target(kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        if kind == "small":
            from autopipe_sd.tiny import build_single_file

            build_single_file(staging / "model.safetensors")
        elif kind == "sparse-xl":
            # The issue-5 benchmark's multi-gigabyte file: a true header over a hole (autopipe_core.headers.write_header).
            import autopipe_sdxl
            from autopipe_core.headers import write_header
            from autopipe_sd.ldm import meta_layout

            layout = meta_layout(Path(autopipe_sdxl.__file__).parent / "configs" / "xl-base")
            write_header(staging / "model.safetensors", {name: ("F16", shape) for name, shape in layout.items()})
        else:
            build_folder(kind, staging / "folder")
            write_ldm(staging / "folder", staging / "model.safetensors", xl=kind == "sdxl")
        (staging / "DONE").write_text("")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: Iterable[str]) -> int:
    argv = list(argv)
    if not argv or any(a not in KINDS for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    for kind in argv:
        if ready(kind):
            print(f"{kind}: {target(kind)} (cached)")
            continue
        build(kind)
        print(f"{kind}: {target(kind)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
