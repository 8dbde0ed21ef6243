"""from_pipe carries the whole state of a pipeline: every constructor value given at from_pretrained, whether the
class records it in its config or keeps it elsewhere (PAG's layers, SDXL's watermarker), through any chain of
switches, and the placement autopipe applied (model offload re-applied, sequential offload and device maps kept)."""

import itertools

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
from autopipe_core.switch import PLAN, signature

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
SHIPPED = (
    "autopipe-sd,autopipe-sdxl,autopipe-kandinsky,autopipe-deepfloyd-if,autopipe-controlnet,autopipe-lcm,autopipe-kolors,"
    "autopipe-sd3,autopipe-flux,autopipe-qwenimage,autopipe-pixart,autopipe-hunyuandit,autopipe-zimage,autopipe-cascade,"
    "autopipe-flux2,autopipe-lumina,autopipe-auraflow,autopipe-cogview,autopipe-bria,autopipe-ovis,"
    "autopipe-prx,autopipe-hidream,autopipe-helios,autopipe-krea2,autopipe-nucleusmoe,"
    "autopipe-ideogram,autopipe-glm-image"
)


class FakeWatermarker:
    """Stands in for invisible-watermark's encoder (an optional dependency that pulls OpenCV): diffusers only calls it."""

    def apply_watermark(self, images):
        return images


@pytest.fixture
def watermarker_available(monkeypatch):
    """diffusers builds SDXL's watermarker only where invisible-watermark is installed: make it so for the test."""
    import diffusers.pipelines.stable_diffusion_xl as package

    for name in ("pipeline_stable_diffusion_xl", "pipeline_stable_diffusion_xl_img2img", "pipeline_stable_diffusion_xl_inpaint"):
        module = __import__(f"{package.__name__}.{name}", fromlist=["x"])
        monkeypatch.setattr(module, "is_invisible_watermark_available", lambda: True)
        monkeypatch.setattr(module, "StableDiffusionXLWatermarker", FakeWatermarker, raising=False)
    import diffusers.pipelines.pag as pag

    for name in ("pipeline_pag_sd_xl", "pipeline_pag_sd_xl_img2img", "pipeline_pag_sd_xl_inpaint"):
        module = __import__(f"{pag.__name__}.{name}", fromlist=["x"])
        monkeypatch.setattr(module, "is_invisible_watermark_available", lambda: True)
        monkeypatch.setattr(module, "StableDiffusionXLWatermarker", FakeWatermarker, raising=False)


# family -> {constructor argument: (a value unlike its default, how to read it back from a live pipeline)}.
# Read back by hand, not through autopipe's own reading: config entries from the config; the rest from where
# diffusers keeps them.
GIVEN = {
    "stable-diffusion": {
        "requires_safety_checker": (False, lambda p: p.config.requires_safety_checker),
        "pag_applied_layers": (["down.block_1"], lambda p: p.pag_applied_layers),
    },
    "stable-diffusion-xl": {
        "force_zeros_for_empty_prompt": (False, lambda p: p.config.force_zeros_for_empty_prompt),
        "requires_aesthetics_score": (True, lambda p: p.config.requires_aesthetics_score),
        "add_watermarker": (False, lambda p: p.watermark is not None),
        "pag_applied_layers": (["down.block_1"], lambda p: p.pag_applied_layers),
    },
    "if": {"requires_safety_checker": (False, lambda p: p.config.requires_safety_checker)},
    "kandinsky": {},
    "kandinsky22": {},
    # diffusers' LCM img2img takes requires_safety_checker and records it nowhere: autopipe keeps it as the unused
    # config entry "_requires_safety_checker", which from_pipe gives back to the next class.
    "latent-consistency": {"requires_safety_checker": (False, lambda p: p.config.get("requires_safety_checker", p.config.get("_requires_safety_checker")))},
    "kolors": {
        "force_zeros_for_empty_prompt": (True, lambda p: p.config.force_zeros_for_empty_prompt),  # autopipe-kolors loads False
        "pag_applied_layers": (["down.block_1"], lambda p: p.pag_applied_layers),
    },
    "stable-diffusion-3": {"pag_applied_layers": (["blocks.0"], lambda p: p.pag_applied_layers)},
    "flux": {},
    "chroma": {},
    "qwenimage": {},
    "qwenimage-edit": {},
    "qwenimage-edit-plus": {},
    "qwenimage-layered": {},
    "qwenimage21": {"sample_sigmas": ([1.0, 0.5], lambda p: list(p.config.sample_sigmas))},
    "pixart-alpha": {},
    "pixart-sigma": {"pag_applied_layers": (["blocks.0"], lambda p: p.pag_applied_layers)},
    "sana": {"pag_applied_layers": (["transformer_blocks.1"], lambda p: p.pag_applied_layers)},
    "sana-sprint": {},
    "kandinsky3": {},
    "z-image": {},
    "z-image-omni": {},
    "cascade": {},
    "wuerstchen": {},
    "flux2": {},
    "flux2-klein": {"is_distilled": (False, lambda p: p.config.is_distilled)},  # the tiny checkpoint says true
    "lumina": {},
    "lumina2": {},
    "auraflow": {},
    "cogview3": {},
    "cogview4": {},
    "bria": {},
    "bria-fibo": {},
    "ovis": {},
    "prx": {"default_sample_size": (256, lambda p: p.config.default_sample_size)},  # diffusers' default is 512
    "prx-pixel": {  # diffusers' defaults: 1024, 256, 2.0
        "default_sample_size": (512, lambda p: p.config.default_sample_size),
        "prompt_max_tokens": (64, lambda p: p.config.prompt_max_tokens),
        "noise_scale": (1.5, lambda p: p.config.noise_scale),
    },
    "hidream": {},
    "helios": {},
    "helios-pyramid": {
        "is_cfg_zero_star": (True, lambda p: p.config.is_cfg_zero_star),
        "is_distilled": (False, lambda p: p.config.is_distilled),  # the tiny checkpoint says true
    },
    "krea2": {  # the tiny checkpoint says (1, 2), False and 2
        "text_encoder_select_layers": ((0, 2), lambda p: tuple(p.config.text_encoder_select_layers)),
        "is_distilled": (True, lambda p: p.config.is_distilled),
        "patch_size": (1, lambda p: p.config.patch_size),
    },
    "nucleusmoe-image": {},
    "ideogram4": {},
    "glm-image": {},
    "hunyuandit": {
        "requires_safety_checker": (True, lambda p: p.config.requires_safety_checker),  # the tiny checkpoint says false
        "pag_applied_layers": (["blocks.0"], lambda p: p.pag_applied_layers),
    },
}


def _rows(registry, family):
    """(modifiers, task, class reference) of every row of the family the kit can select with a switch (plain, PAG)."""
    return [
        (mods, task.value, ref)
        for (fam, mods), tasks in registry.table.items() if fam == family and mods <= {"pag"}
        for task, (ref, _) in tasks.items()
    ]


def test_every_constructor_argument_of_every_shipped_family_is_covered(monkeypatch):
    from autopipe_core.registry import get_registry
    from autopipe_core.resolve import import_class

    monkeypatch.setenv("AUTOPIPE_PLUGINS", SHIPPED)
    registry = get_registry()
    for family in GIVEN:
        arguments = set()
        for _, _, ref in _rows(registry, family):
            arguments |= signature(import_class(ref))[2]
        assert arguments == set(GIVEN[family]), f"{family}: cover {sorted(arguments ^ set(GIVEN[family]))} in GIVEN"


@pytest.mark.parametrize("family", ["stable-diffusion", "stable-diffusion-xl", "if", "latent-consistency", "kolors", "stable-diffusion-3", "pixart-sigma", "sana", "hunyuandit", "flux2-klein", "prx", "prx-pixel", "helios-pyramid", "krea2"])
def test_a_value_given_at_from_pretrained_survives_any_chain_of_switches(family, tiny_checkpoint, monkeypatch, request):
    from autopipe_core.registry import get_registry
    from autopipe_core.resolve import import_class

    monkeypatch.setenv("AUTOPIPE_PLUGINS", SHIPPED)
    if family == "stable-diffusion-xl":
        request.getfixturevalue("watermarker_available")
    path = tiny_checkpoint(family)
    registry = get_registry()
    rows = _rows(registry, family)
    given = GIVEN[family]
    start = min(rows, key=lambda r: (len(r[0]), r[1]))  # text2img, no modifier
    first_class = import_class(start[2])
    takes = signature(first_class)[2]
    pipe = AUTO[start[1]].from_pretrained(path, **({"enable_pag": True} if start[0] else {}), **{k: v for k, (v, _) in given.items() if k in takes})
    # What the first class did not take is given at the first switch to a class that does: from_pipe carries it from there.
    pending = {k: v for k, (v, _) in given.items() if k not in takes}
    seen = set(takes)
    for mods, task, ref in itertools.chain(rows, reversed(rows), rows[::2]):
        cls = import_class(ref)
        arguments = signature(cls)[2]
        extra = {k: pending.pop(k) for k in list(pending) if k in arguments}
        pipe = AUTO[task].from_pipe(pipe, enable_pag=bool(mods), **extra)
        assert type(pipe) is cls
        seen |= arguments
        for name, (value, read) in given.items():
            if name in arguments and name in seen:
                assert read(pipe) == value, f"{family}: {name} is {read(pipe)!r} after switching to {cls.__name__}, not {value!r}"


def test_model_cpu_offload_is_carried_and_each_pipeline_still_runs(tiny_sd):
    import torch

    t2i = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="model_cpu_offload", device="cpu")
    assert len(t2i._all_hooks) == 3 and getattr(t2i, PLAN).placement == "model_cpu_offload"
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    inp = AutoPipelineForInpainting.from_pipe(i2i)
    for pipe in (i2i, inp):
        assert len(pipe._all_hooks) == 3, type(pipe).__name__  # not 0: the new pipeline manages the shared modules' hooks
        assert getattr(pipe, PLAN).placement == "model_cpu_offload"
        assert pipe.unet is t2i.unet
    from PIL import Image

    image = Image.new("RGB", (64, 64), (200, 100, 50))
    mask = Image.new("L", (64, 64), 255)
    for pipe, extra in ((inp, {"image": image, "mask_image": mask}), (t2i, {})):
        out = pipe("x", num_inference_steps=1, height=64, width=64, generator=torch.Generator().manual_seed(0), **extra)
        assert out.images[0].size == (64, 64)


def test_sequential_offload_and_a_device_map_are_kept(tiny_sd):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_sd, placement="sequential_cpu_offload", device="cpu")
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert i2i._offload_device == t2i._offload_device and getattr(i2i, PLAN).placement == "sequential_cpu_offload"
    assert any(hasattr(m, "_hf_hook") for m in i2i.unet.modules())  # the shared modules keep their streaming hooks
    plain = AutoPipelineForText2Image.from_pretrained(tiny_sd)
    plain.hf_device_map = {"unet": 0, "vae": 1, "text_encoder": 0}  # as diffusers sets it after device_map="balanced"
    assert AutoPipelineForInpainting.from_pipe(plain).hf_device_map == plain.hf_device_map


def test_kandinskys_inner_pipelines_keep_their_offload(tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-kandinsky")
    def hooks(pipe):  # diffusers keeps them on the combined pipeline, or (img2img) on its inner prior and decoder
        return [len(getattr(p, "_all_hooks", None) or ()) for p in (pipe, pipe.prior_pipe, pipe.decoder_pipe)]

    t2i = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint("kandinsky22"), placement="model_cpu_offload", device="cpu")
    assert hooks(t2i)[0] > 0
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert type(i2i).__name__ == "KandinskyV22Img2ImgCombinedPipeline"
    assert hooks(i2i)[1] > 0 and hooks(i2i)[2] > 0  # re-applied through the class's own enable_model_cpu_offload
    back = AutoPipelineForText2Image.from_pipe(i2i)  # and back, from offload held by the inner pipelines
    assert hooks(back)[0] == hooks(t2i)[0]
