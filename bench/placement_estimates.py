"""Estimate (headers) vs real parameter bytes of each family's loaded tiny pipeline, float32 (CPU plan) and float16 (CUDA plan).

Run: .venv/bin/python bench/placement_estimates.py (builds the tiny checkpoints in the autopipe cache on first use).
"""
import os
os.environ["HF_HUB_OFFLINE"] = "1"; os.environ.pop("AUTOPIPE_PLUGINS", None)
import torch
from autopipe_core import DeviceFacts, resolve, loading, planning
from autopipe_core.tiny import tiny_checkpoint
GiB = 1 << 30
for fam in ["stable-diffusion", "stable-diffusion-xl", "if", "kandinsky", "kandinsky22", "controlnet"]:
    for dev in (DeviceFacts("cpu"), DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB, True)):
        kw = {}
        path, _ = tiny_checkpoint("stable-diffusion" if fam == "controlnet" else fam)
        if fam == "controlnet":
            from diffusers import ControlNetModel, UNet2DConditionModel
            dt = torch.float32 if not dev.accelerated else torch.float16
            kw["controlnet"] = ControlNetModel.from_unet(UNet2DConditionModel.from_pretrained(path / "unet"), conditioning_embedding_out_channels=(8, 16)).to(dt)
        r = resolve(path, "text2img", **kw)
        p = planning.plan(r, dev, kwargs=kw)
        pipe = loading.from_pretrained(r, path, loading.load_kwargs(p.plan, kw))
        real = sum(q.numel() * q.element_size() for c in pipe.components.values() if isinstance(c, torch.nn.Module) for q in c.parameters())
        print(f"{fam:<20} {p.plan.dtype:<8} estimate {p.footprint.weights:>9} real {real:>9} ratio {p.footprint.weights/real:.4f}")
