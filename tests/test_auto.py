"""AutoPipelineFor*: from_pretrained and from_pipe end to end on the tiny SD checkpoint."""

import itertools
import json
import shutil
import warnings

from pathlib import Path

import pytest
import torch
from PIL import Image

from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    IgnoredArgumentWarning,
    UnsupportedTaskError,
    resolve,
)

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
CLASSES = {"text2img": "StableDiffusionPipeline", "img2img": "StableDiffusionImg2ImgPipeline", "inpaint": "StableDiffusionInpaintPipeline"}
MODELS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _inputs(task):
    image = Image.new("RGB", (64, 64), (200, 120, 40))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    kwargs = {"num_inference_steps": 2, "generator": torch.Generator().manual_seed(0)}
    if task != "text2img":
        kwargs["image"] = image
    if task == "inpaint":
        kwargs["mask_image"] = mask
    return kwargs


def _run(pipe, task):
    images = pipe("a red fox", **_inputs(task)).images
    assert len(images) == 1 and isinstance(images[0], Image.Image) and images[0].size == (64, 64)
    return images[0]


@pytest.fixture(scope="module")
def t2i(tiny_sd):
    return AutoPipelineForText2Image.from_pretrained(tiny_sd)


@pytest.mark.parametrize("task", list(AUTO))
def test_from_pretrained_each_task_returns_an_image(tiny_sd, task):
    pipe = AUTO[task].from_pretrained(tiny_sd)
    assert type(pipe).__name__ == CLASSES[task]
    _run(pipe, task)


@pytest.mark.parametrize("source, target", list(itertools.permutations(AUTO, 2)))
def test_from_pipe_switches_sharing_the_same_objects(t2i, source, target):
    start = t2i if source == "text2img" else AUTO[source].from_pipe(t2i)
    switched = AUTO[target].from_pipe(start)
    assert type(switched).__name__ == CLASSES[target]
    for name in MODELS:
        assert getattr(switched, name) is getattr(start, name), name
    _run(switched, target)


def test_config_round_trip_text2img_img2img_text2img(t2i):
    back = AutoPipelineForText2Image.from_pipe(AutoPipelineForImage2Image.from_pipe(t2i))
    assert dict(back.config) == dict(t2i.config)


def test_config_round_trip_through_every_task_and_pag(tiny_sd):
    i2i = AutoPipelineForImage2Image.from_pretrained(tiny_sd, requires_safety_checker=True)
    pipe = i2i
    for auto, pag in [(AutoPipelineForInpainting, True), (AutoPipelineForText2Image, None), (AutoPipelineForInpainting, False)]:
        pipe = auto.from_pipe(pipe, **({} if pag is None else {"enable_pag": pag}))
    back = AutoPipelineForImage2Image.from_pipe(pipe)
    assert dict(back.config) == dict(i2i.config)


def test_from_pretrained_passes_every_kwarg_through(tiny_sd):
    pipe = AutoPipelineForImage2Image.from_pretrained(tiny_sd, torch_dtype=torch.bfloat16, requires_safety_checker=True)
    assert pipe.unet.dtype == torch.bfloat16
    assert pipe.config.requires_safety_checker is True


def test_requires_safety_checker_survives_and_can_be_overridden(tiny_sd):
    # diffusers' documented example, both ways round
    i2i = AutoPipelineForImage2Image.from_pretrained(tiny_sd, requires_safety_checker=True)
    assert AutoPipelineForText2Image.from_pipe(i2i).config.requires_safety_checker is True
    off = AutoPipelineForText2Image.from_pipe(i2i, requires_safety_checker=False)
    assert off.config.requires_safety_checker is False
    assert AutoPipelineForInpainting.from_pipe(off).config.requires_safety_checker is False
    assert AutoPipelineForInpainting.from_pipe(off, requires_safety_checker=True).config.requires_safety_checker is True


def test_from_pipe_components_can_be_overridden(t2i):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(t2i.scheduler.config)
    i2i = AutoPipelineForImage2Image.from_pipe(t2i, scheduler=scheduler)
    assert i2i.scheduler is scheduler and i2i.unet is t2i.unet
    assert t2i.scheduler is not scheduler  # the source pipeline is untouched


def test_optional_components_are_carried_unless_set_to_none(t2i):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=32, patch_size=8, projection_dim=32)
    )
    with_encoder = AutoPipelineForImage2Image.from_pipe(t2i, image_encoder=encoder)
    assert with_encoder.image_encoder is encoder
    assert AutoPipelineForInpainting.from_pipe(with_encoder).image_encoder is encoder
    assert AutoPipelineForInpainting.from_pipe(with_encoder, image_encoder=None).image_encoder is None


def test_dtype_is_kept(tiny_sd):
    half = AutoPipelineForText2Image.from_pretrained(tiny_sd, torch_dtype=torch.float16)
    for target in (AutoPipelineForImage2Image, AutoPipelineForInpainting):
        switched = target.from_pipe(half)
        assert switched.unet.dtype == torch.float16 and switched.vae.dtype == torch.float16
    assert half.unet.dtype == torch.float16  # diffusers' DiffusionPipeline.from_pipe would have cast it to float32


def test_no_dtype_named_loads_every_component_in_float32(tmp_path, tiny_sd):
    # Real SD and SDXL text encoders' configs say torch_dtype float16. transformers 5 loads a model in its config's
    # dtype when handed none, and diffusers 0.42.1 hands it none: the text encoder came out float16 beside a float32
    # UNet and the first call failed ("mat1 and mat2 must have the same dtype"). No dtype means float32, as diffusers
    # documents and transformers 4 gave.
    copy = shutil.copytree(tiny_sd, tmp_path / "half-config")
    config = copy / "text_encoder" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "torch_dtype": "float16", "dtype": "float16"}))
    pipe = AutoPipelineForText2Image.from_pretrained(copy)
    assert pipe.text_encoder.dtype == pipe.unet.dtype == torch.float32
    _run(pipe, "text2img")
    assert AutoPipelineForText2Image.from_pretrained(copy, torch_dtype=None).text_encoder.dtype == torch.float32
    assert AutoPipelineForText2Image.from_pretrained(copy, dtype=torch.bfloat16).text_encoder.dtype == torch.bfloat16


def test_pag_in_from_pretrained_and_back_out_in_from_pipe(tiny_sd):
    pag = AutoPipelineForInpainting.from_pretrained(tiny_sd, enable_pag=True)
    assert type(pag).__name__ == "StableDiffusionPAGInpaintPipeline"
    _run(pag, "inpaint")
    pag_t2i = AutoPipelineForText2Image.from_pipe(pag)
    assert type(pag_t2i).__name__ == "StableDiffusionPAGPipeline"  # PAG is kept across tasks
    plain = AutoPipelineForImage2Image.from_pipe(pag_t2i, enable_pag=False)
    assert type(plain).__name__ == "StableDiffusionImg2ImgPipeline"
    assert plain.unet is pag.unet
    assert type(AutoPipelineForImage2Image.from_pipe(plain, enable_pag=True)).__name__ == "StableDiffusionPAGImg2ImgPipeline"


def test_unused_from_pipe_kwargs_warn_saying_where_they_belong(t2i):
    # diffusers' own guide passes strength=0.3 to from_pipe, which diffusers drops in silence
    with pytest.warns(IgnoredArgumentWarning, match=r"strength=0\.3.*__call__") as record:
        i2i = AutoPipelineForImage2Image.from_pipe(t2i, strength=0.3)
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline"
    assert record[0].filename == __file__  # points at the caller's line
    with pytest.warns(IgnoredArgumentWarning, match="loading option"):
        AutoPipelineForImage2Image.from_pipe(t2i, torch_dtype=torch.float16)
    with pytest.warns(IgnoredArgumentWarning, match="no component, config entry or call argument"):
        AutoPipelineForImage2Image.from_pipe(t2i, colour="blue")


def test_known_kwargs_do_not_warn(t2i):
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredArgumentWarning)
        AutoPipelineForImage2Image.from_pipe(t2i, requires_safety_checker=False, enable_pag=False)


@pytest.mark.parametrize("auto", list(AUTO.values()))
def test_constructor_raises_environment_error(auto):
    with pytest.raises(EnvironmentError, match="from_pretrained.*from_pipe"):
        auto()


def test_from_pretrained_refuses_a_live_pipeline(t2i):
    with pytest.raises(TypeError, match="from_pipe"):
        AutoPipelineForImage2Image.from_pretrained(t2i)


@pytest.mark.parametrize("task", ["text2img", "img2img"])
def test_inpainting_only_fails_before_reading_any_weight(tmp_path, tiny_sd_inpainting, task):
    # Corrupt every weight file: the error must still be the early, clear one.
    broken = shutil.copytree(tiny_sd_inpainting, tmp_path / "broken")
    for weights in broken.rglob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    with pytest.raises(UnsupportedTaskError, match="AutoPipelineForInpainting"):
        AUTO[task].from_pretrained(broken)


def test_inpainting_only_from_pipe_to_text2img_fails_early(tiny_sd_inpainting):
    inpaint = AutoPipelineForInpainting.from_pretrained(tiny_sd_inpainting)
    assert inpaint.unet.config.in_channels == 9
    _run(inpaint, "inpaint")
    with pytest.raises(UnsupportedTaskError, match="9 input channels"):
        AutoPipelineForText2Image.from_pipe(inpaint)


def test_saved_switched_pipeline_reloads_with_its_config(tmp_path, t2i):
    i2i = AutoPipelineForImage2Image.from_pipe(t2i, requires_safety_checker=True)
    i2i.save_pretrained(tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionImg2ImgPipeline" and index["requires_safety_checker"] is True
    reloaded = AutoPipelineForInpainting.from_pretrained(tmp_path / "saved")
    assert type(reloaded).__name__ == "StableDiffusionInpaintPipeline" and reloaded.config.requires_safety_checker is True


def test_from_pretrained_a_hub_repo_id_from_the_local_hub_cache(tmp_path, tiny_sd):
    from layouts import hub_cache

    files = {str(f.relative_to(tiny_sd)): f for f in tiny_sd.rglob("*") if f.is_file()}
    hub_cache(tmp_path / "hub", "someone/tiny-sd", files)
    pipe = AutoPipelineForInpainting.from_pretrained("someone/tiny-sd", cache_dir=tmp_path / "hub", local_files_only=True)
    assert type(pipe).__name__ == "StableDiffusionInpaintPipeline"
    _run(pipe, "inpaint")


def test_from_pipe_reads_a_transformers_components_config_through_its_own_serialisation(t2i, monkeypatch):
    # A family may ask for a transformers component's config (a plugin declaring SD3's text_encoder_3, say).
    from dataclasses import replace

    from autopipe_core import registry as registry_module
    from autopipe_core.resolve import identify

    registry = registry_module.get_registry()
    spec, owner = registry.families["stable-diffusion"]
    families = {**registry.families, "stable-diffusion": (replace(spec, configs=("text_encoder",)), owner)}
    patched = replace(registry, families=families)
    monkeypatch.setattr(registry_module, "get_registry", lambda: patched)
    monkeypatch.setattr("autopipe_core.scope.get_registry", lambda: patched)
    monkeypatch.setattr("autopipe_core.scope.scoped", lambda distributions: patched)  # a load's own registry (scope.py)
    identity = identify(t2i, patched)
    assert identity.configs["text_encoder"]["model_type"] == "clip_text_model"
    assert identity.configs["text_encoder"] == t2i.text_encoder.config.to_dict()
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline" and i2i.text_encoder is t2i.text_encoder


# --- components checked against the class before any weight is read --------------------------------------


def _without(tiny_sd, tmp_path, component: str, listed: bool):
    folder = tmp_path / f"no-{component}"
    shutil.copytree(tiny_sd, folder)
    shutil.rmtree(folder / component)
    if not listed:
        index = json.loads((folder / "model_index.json").read_text())
        del index[component]
        (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_a_listed_component_without_its_folder_loads_when_the_caller_passes_it(tiny_sd, tmp_path, t2i):
    folder = _without(tiny_sd, tmp_path, "unet", listed=True)
    assert resolve(folder, "text2img", unet=t2i.unet).pipeline_class == "StableDiffusionPipeline"
    pipe = AutoPipelineForText2Image.from_pretrained(folder, unet=t2i.unet)
    assert pipe.unet is t2i.unet


def test_a_missing_component_is_named_before_any_weight_is_read(tiny_sd, tmp_path, monkeypatch):
    from diffusers import ModelMixin
    from transformers import PreTrainedModel

    from autopipe_core import InvalidModelError

    loaded = []
    for owner in (ModelMixin, PreTrainedModel):
        original = owner.__dict__["from_pretrained"].__func__
        monkeypatch.setattr(owner, "from_pretrained", classmethod(lambda cls, *a, _o=original, **k: loaded.append(cls.__name__) or _o(cls, *a, **k)))
    for listed in (False, True):
        folder = _without(tiny_sd, tmp_path / str(listed), "unet", listed)
        with pytest.raises(InvalidModelError, match="unet.*pass unet=... to from_pretrained"):
            AutoPipelineForText2Image.from_pretrained(folder)
    assert loaded == []


def test_a_prior_labelled_as_a_decoder_is_told_what_it_is(tmp_path, tiny_checkpoint, monkeypatch):
    from autopipe_core import InvalidModelError

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-kandinsky")
    prior = tiny_checkpoint("kandinsky22") / "prior"  # the tiny decoder's card names this prior folder
    folder = tmp_path / "mislabelled"
    shutil.copytree(prior, folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "KandinskyV22PriorPipeline"
    index["_class_name"] = "KandinskyV22Pipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    for kwargs in ({}, {"torch_dtype": torch.float32}, {"variant": None, "dtype": torch.float16}):  # keywords that are not components
        with pytest.raises(InvalidModelError, match="are those of KandinskyV22PriorPipeline: .*prior") as info:
            AutoPipelineForText2Image.from_pretrained(folder, **kwargs)
        assert "unet" in str(info.value) and "movq" in str(info.value)


def test_load_config_works_as_on_diffusers_autopipeline_classes(tiny_sd):
    import diffusers

    for name in ("AutoPipelineForText2Image", "AutoPipelineForImage2Image", "AutoPipelineForInpainting"):
        ours = getattr(__import__("autopipe_core"), name).load_config(tiny_sd)
        theirs = getattr(diffusers, name).load_config(tiny_sd)
        assert ours == theirs and ours["_class_name"] == "StableDiffusionPipeline"
    config, unused = AutoPipelineForText2Image.load_config(tiny_sd, return_unused_kwargs=True, foo=1)
    assert unused == {"foo": 1}


@pytest.mark.parametrize("given", ["some/folder", Path("some/folder"), None, 3])
def test_from_pipe_of_a_path_or_anything_but_a_pipeline_says_to_use_from_pretrained(given):
    # Found by a hostile-input trial: from_pipe("sd") raised a raw AttributeError from deep in the switch.
    with pytest.raises(TypeError) as info:
        AutoPipelineForImage2Image.from_pipe(given)
    assert str(info.value) == (
        f"AutoPipelineForImage2Image.from_pipe takes a loaded pipeline (an object with components and config), not {type(given).__name__}; "
        "for a path or repo id use AutoPipelineForImage2Image.from_pretrained"
    )


def test_from_pipe_of_a_pipeline_class_says_to_load_it_first():
    from diffusers import StableDiffusionPipeline

    with pytest.raises(TypeError, match=r"takes a loaded pipeline .* not the class StableDiffusionPipeline; load it first"):
        AutoPipelineForImage2Image.from_pipe(StableDiffusionPipeline)
