"""Full-size random-weight checkpoints for the benchmark, built once into the bench cache and reused.

    python bench/checkpoints.py sd15      # SD 1.5 architecture, float16: a diffusers folder and one LDM .safetensors file
    python bench/checkpoints.py sdxl      # SDXL base architecture, float16 (about 7 GB each)
    python bench/checkpoints.py small     # the tiny SD checkpoint as one LDM .safetensors file (about 8 MB)
    python bench/checkpoints.py sparse-xl # the SDXL file's header (UNet, VAE, both text encoders), over a hole: 7 GB on paper, KB on disk
    python bench/checkpoints.py small-15  # the SD 1.5 file's tensor names and count, tiny shapes, real bytes (about 1/1000 of it)
    python bench/checkpoints.py sparse-15 # the SD 1.5 file's header over a hole (2 GB on paper)
    python bench/checkpoints.py small-xl  # sparse-xl's tensor names and count, tiny shapes, real bytes
    python bench/checkpoints.py tiny-sd   # the plugins' tiny SD and SDXL pipelines as diffusers folders (a few MB):
    python bench/checkpoints.py tiny-sdxl # a load whose weights cost next to nothing, for autopipe's own overhead

The small-* files and the SD 1.5 file differ only in size: the same names in
the same order, the same count and the same header length (the small one's
JSON is padded with spaces to the big one's length, as safetensors allows);
only the tensors' shapes, and so the bytes after the header, differ. The
sparse-* files are the header-size pair: both a header over a hole, 1,130
against 2,513 tensors.

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
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ENV_DIR = "AUTOPIPE_BENCH_DIR"
KINDS = ("sd15", "sdxl", "small", "sparse-xl", "small-15", "sparse-15", "small-xl", "tiny-sd", "tiny-sdxl")
#: What each derived kind is made from: built after it.
SOURCE = {"small-15": "sd15", "sparse-15": "sd15", "small-xl": "sparse-xl"}
#: Tensors whose shapes detection reads (autopipe-sd's conv_in and cross-attention width, autopipe-sdxl's label_emb):
#: kept at full size in a small-* file, so it classifies as the file it was made from.
KEEP_SHAPE = (
    "model.diffusion_model.input_blocks.0.0.weight",
    "model.diffusion_model.label_emb.0.0.weight",
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
)
#: A small-* file's dimensions: each one above 4 divided by this (rounded up), kernel sizes and channel counts of 4 or less kept.
SHRINK = 32


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
    # v2: sparse-xl holds the whole SGM file's header (text encoders included), not the UNet and VAE alone.
    version = "v2" if kind in ("sparse-xl", "small-xl") else "v1"
    return cache_dir() / f"{kind}{dtype}-diffusers{_version('diffusers')}-autopipe-sd{_version('autopipe-sd')}-{version}"


#: The kinds that are a diffusers folder (`folder/`); the tiny ones are nothing else.
FOLDER_KINDS = ("sd15", "sdxl", "tiny-sd", "tiny-sdxl")


def paths(kind: str) -> tuple[Path | None, Path]:
    t = target(kind)
    return (t / "folder" if kind in FOLDER_KINDS else None), t / "model.safetensors"


def ready(kind: str) -> bool:
    return (target(kind) / "DONE").is_file()


@dataclass(frozen=True)
class Built:
    """How a checkpoint came to be there in this run: built now (seconds, the build process's peak RSS in MiB) or reused."""

    kind: str
    built_now: bool
    seconds: float = 0.0
    peak_mib: float = 0.0

    def describe(self) -> str:
        """The page's words: a figure only when it was measured in this run."""
        if not self.built_now:
            return "reused, built earlier"
        return f"built in this run in {self.seconds:.0f} s, the build process peaking at {self.peak_mib:,.0f} MiB resident"


def ensure(kind: str, env: dict[str, str] | None = None, log=sys.stderr) -> Built:
    """Build `kind` in a child process unless cached (its source first, for a derived kind)."""
    import time

    if kind in SOURCE:
        ensure(SOURCE[kind], env, log)
    if ready(kind):
        return Built(kind, False)
    t0 = time.perf_counter()
    print(f"building the {kind} checkpoint into {target(kind)} (once; later runs reuse it) ...", file=log, flush=True)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), kind], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child's so far: an upper bound, see below
    if proc.returncode != 0 or not ready(kind):
        raise SystemExit(f"building the {kind} checkpoint failed (exit {proc.returncode}):\n{out[-8000:]}")
    peak_line = [line for line in out.splitlines() if line.startswith("PEAK_MIB ")]
    if peak_line:  # the build process's own VmHWM, printed by main(): exact where RUSAGE_CHILDREN is a maximum over children
        peak = float(peak_line[-1].split()[1])
    return Built(kind, True, time.perf_counter() - t0, peak)


# --------------------------------------------------------------------------- headers, read and rewritten without torch


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's header (names in file order, with __metadata__) and its length in bytes."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), n


def shrunk(name: str, shape: list[int]) -> list[int]:
    """A small-* file's shape: each dimension above 4 divided by SHRINK, rounded up; KEEP_SHAPE's tensors as they are."""
    if name in KEEP_SHAPE:
        return list(shape)
    return [d if d <= 4 else -(-d // SHRINK) for d in shape]


def write_small(source: Path, dest: Path) -> None:
    """`source`'s names, order, count and header length, with shrunk shapes and real (zero) bytes."""
    import math

    header, length = read_header(source)
    size = {"F16": 2, "BF16": 2, "F32": 4, "I64": 8}
    entries: dict[str, Any] = {}
    offset = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = shrunk(name, info["shape"])
        n = math.prod(shape) * size[info["dtype"]]
        entries[name] = {"dtype": info["dtype"], "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    if "__metadata__" in header:
        entries["__metadata__"] = header["__metadata__"]
    raw = json.dumps(entries, separators=(",", ":")).encode()
    if len(raw) > length:
        raise ValueError(f"the small header ({len(raw)} bytes) is longer than {source}'s ({length})")
    raw += b" " * (length - len(raw))  # the same header length: safetensors pads its JSON with spaces
    with open(dest, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        chunk = bytes(1 << 20)
        left = offset
        while left:
            f.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))


def write_sparse_copy(source: Path, dest: Path) -> None:
    """`source`'s header (names, dtypes, shapes, metadata) over a hole."""
    from autopipe_core.headers import write_header

    header, _ = read_header(source)
    meta = header.pop("__metadata__", None)
    write_header(dest, {name: (info["dtype"], tuple(info["shape"])) for name, info in header.items()}, meta)


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
        tensors = sgm(unet, read("unet"), vae, read("vae"), text, folder_refs(folder / "text_encoder_2"))
    write_streamed(dest, tensors, {"format": "pt"})


def sgm(unet: dict[str, Ref], unet_config: dict, vae: dict[str, Ref], vae_config: dict, text: dict[str, Ref], text2: dict[str, Ref]) -> dict[str, Ref]:
    """SDXL's one-file (SGM) layout: the UNet and VAE as LDM names, CLIP-L as embedders.0, bigG as OpenCLIP's embedders.1."""
    from autopipe_sd.ldm import to_ldm

    tensors = to_ldm(unet, unet_config, vae, vae_config)
    for key, ref in text.items():
        if not key.endswith("position_ids"):
            tensors["conditioner.embedders.0.transformer." + ("" if key.startswith("text_model.") else "text_model.") + key] = ref
    tensors.update(open_clip_names(text2, "conditioner.embedders.1.model."))
    return tensors


def sgm_layout(configs: Path) -> dict[str, tuple[int, ...]]:
    """The SDXL file's names and shapes (write_ldm's, through sgm()) from a config folder, on the meta device: no weights."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    read = lambda name: json.loads((configs / name / "config.json").read_text())  # noqa: E731
    clip = lambda name: CLIPTextConfig(**{k: v for k, v in read(name).items() if k != "architectures"})  # noqa: E731
    with init_empty_weights():
        models = {
            "unet": UNet2DConditionModel.from_config(read("unet")), "vae": AutoencoderKL.from_config(read("vae")),
            "text_encoder": CLIPTextModel(clip("text_encoder")), "text_encoder_2": CLIPTextModelWithProjection(clip("text_encoder_2")),
        }
    refs = {k: {n: Ref(lambda t=t: t, tuple(t.shape)) for n, t in m.state_dict().items()} for k, m in models.items()}
    tensors = sgm(refs["unet"], read("unet"), refs["vae"], read("vae"), refs["text_encoder"], refs["text_encoder_2"])
    return {name: ref.shape for name, ref in tensors.items()}

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


@contextmanager
def staged(final: Path) -> Iterator[Path]:
    """A temporary folder beside `final` to build into; on success it is marked DONE and renamed into place (whatever
    was at `final` replaced), and on any failure removed: a half-built checkpoint is never taken for a built one."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield staging
        (staging / "DONE").write_text("")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build(kind: str) -> None:
    with staged(target(kind)) as staging:
        if kind == "small":
            from autopipe_sd.tiny import build_single_file

            build_single_file(staging / "model.safetensors")
        elif kind == "sparse-xl":
            # The SDXL file's header over a hole (autopipe_core.headers.write_header): its 2,513 tensors without the 7 GB build.
            import autopipe_sdxl
            from autopipe_core.headers import write_header

            layout = sgm_layout(Path(autopipe_sdxl.__file__).parent / "configs" / "xl-base")
            write_header(staging / "model.safetensors", {name: ("F16", shape) for name, shape in layout.items()}, {"format": "pt"})
        elif kind in ("small-15", "small-xl"):
            write_small(paths(SOURCE[kind])[1], staging / "model.safetensors")
        elif kind == "sparse-15":
            write_sparse_copy(paths("sd15")[1], staging / "model.safetensors")
        elif kind in ("tiny-sd", "tiny-sdxl"):
            import importlib

            importlib.import_module("autopipe_sd.tiny" if kind == "tiny-sd" else "autopipe_sdxl.tiny").build(staging / "folder")
        else:
            build_folder(kind, staging / "folder")
            write_ldm(staging / "folder", staging / "model.safetensors", xl=kind == "sdxl")


def weights_on_disk(path: Path) -> int:
    """The bytes of the .safetensors files under `path`: a checkpoint's weights, without its configs and tokenizers."""
    return sum(f.stat().st_size for f in path.rglob("*.safetensors"))


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
        if kind in SOURCE and not ready(SOURCE[kind]):
            build(SOURCE[kind])
        build(kind)
        print(f"{kind}: {target(kind)}")
    hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
    if hwm:
        print(f"PEAK_MIB {int(hwm[0]) / 1024:.1f}")  # read by ensure(): this process's own peak, as the page states it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
