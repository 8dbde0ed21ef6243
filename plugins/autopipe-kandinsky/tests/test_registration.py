"""Registration, resolution from JSON, loading plans and imports: nothing here loads a weight."""

import json

import pytest

from autopipe_core import DeviceFacts, Identity, Task, UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.registry import get_registry
from autopipe_kandinsky import COMBINED, DECODER, DECODER_ONLY, INPAINTING, KANDINSKY21, KANDINSKY22, TEXT_DECODER
from autopipe_kandinsky.loading import plan

GiB = 1 << 30


def write_folder(root, index, unet=None):
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps(index))
    if unet is not None:
        (root / "unet").mkdir()
        (root / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", **unet}))
    return root


# model_index.json as kandinsky-community's repos ship them (the keys resolution reads).
DECODER_22 = {"_class_name": "KandinskyV22Pipeline", "movq": ["diffusers", "VQModel"], "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DConditionModel"]}
INPAINT_22 = {**DECODER_22, "_class_name": "KandinskyV22InpaintPipeline"}
PRIOR_22 = {
    "_class_name": "KandinskyV22PriorPipeline",
    "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
    "image_processor": ["transformers", "CLIPImageProcessor"],
    "prior": ["diffusers", "PriorTransformer"],
    "scheduler": ["diffusers", "UnCLIPScheduler"],
    "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
}
DECODER_21 = {
    "_class_name": "KandinskyPipeline",
    "movq": ["diffusers", "VQModel"],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["kandinsky", "MultilingualCLIP"],
    "tokenizer": ["transformers", "XLMRobertaTokenizerFast"],
    "unet": ["diffusers", "UNet2DConditionModel"],
}
COMBINED_22 = {
    "_class_name": "KandinskyV22CombinedPipeline",
    **{k: v for k, v in DECODER_22.items() if k != "_class_name"},
    **{f"prior_{k}": v for k, v in PRIOR_22.items() if k != "_class_name"},
}


def test_rows_combined_plain_and_decoder_only_with_on_disk():
    registry = get_registry()
    for family in (KANDINSKY21, KANDINSKY22):
        plain = registry.table[(family, frozenset())]
        decoder = registry.table[(family, frozenset({DECODER}))]
        assert {t: ref for t, (ref, _) in plain.items()} == dict(COMBINED[family])
        assert {t: ref for t, (ref, _) in decoder.items()} == dict(DECODER_ONLY[family])
    entry = registry.identify(("KandinskyV22Pipeline",))
    assert (entry.family, entry.modifiers, entry.on_disk) == (KANDINSKY22, frozenset({DECODER}), frozenset())
    entry = registry.identify(("KandinskyV22InpaintCombinedPipeline",))
    assert (entry.family, entry.modifiers) == (KANDINSKY22, frozenset())


@pytest.mark.parametrize("task, expected", [
    (Task.TEXT2IMG, "KandinskyV22CombinedPipeline"),
    (Task.IMG2IMG, "KandinskyV22Img2ImgCombinedPipeline"),
])
def test_a_decoder_folder_resolves_to_the_combined_class(tmp_path, task, expected):
    folder = write_folder(tmp_path / "decoder", DECODER_22, {"in_channels": 4, "out_channels": 8})
    resolution = resolve(folder, task)
    assert (resolution.family, resolution.modifiers, resolution.pipeline_class) == (KANDINSKY22, frozenset(), expected)
    assert resolution.variant == TEXT_DECODER.name


def test_a_combined_folder_reads_its_unet_config_too(tmp_path):
    folder = write_folder(tmp_path / "combined", COMBINED_22, {"in_channels": 4})
    assert resolve(folder, "img2img").pipeline_class == "KandinskyV22Img2ImgCombinedPipeline"
    with pytest.raises(UnsupportedTaskError, match="cannot do inpaint"):
        resolve(folder, "inpaint")


def test_inpaint_of_a_4_channel_decoder_is_refused_early_with_what_works(tmp_path):
    folder = write_folder(tmp_path / "decoder", DECODER_22, {"in_channels": 4})
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(folder, "inpaint")
    message = str(info.value)
    assert "4 input channels" in message and "AutoPipelineForText2Image" in message and "inpainting decoder" in message


def test_the_inpainting_decoder_does_inpaint_only(tmp_path):
    folder = write_folder(tmp_path / "inpaint", INPAINT_22, {"in_channels": 9})
    resolution = resolve(folder, "inpaint")
    assert (resolution.pipeline_class, resolution.variant) == ("KandinskyV22InpaintCombinedPipeline", INPAINTING.name)
    for task in ("text2img", "img2img"):
        with pytest.raises(UnsupportedTaskError, match="AutoPipelineForInpainting"):
            resolve(folder, task)


def test_kandinsky_21_decoder_resolves_to_its_combined_classes(tmp_path):
    folder = write_folder(tmp_path / "k21", DECODER_21, {"in_channels": 4})
    assert resolve(folder, "text2img").pipeline_class == "KandinskyCombinedPipeline"
    assert resolve(folder, "img2img").pipeline_class == "KandinskyImg2ImgCombinedPipeline"
    inpaint = write_folder(tmp_path / "k21i", {**DECODER_21, "_class_name": "KandinskyInpaintPipeline"}, {"in_channels": 9})
    resolution = resolve(inpaint, "inpaint")
    assert (resolution.family, resolution.pipeline_class) == (KANDINSKY21, "KandinskyInpaintCombinedPipeline")


@pytest.mark.parametrize("name, family", [
    ("KandinskyV22PriorPipeline", KANDINSKY22),
    ("KandinskyV22PriorEmb2EmbPipeline", KANDINSKY22),
    ("KandinskyPriorPipeline", KANDINSKY21),
])
def test_a_prior_alone_is_refused_with_what_to_load(tmp_path, name, family):
    folder = write_folder(tmp_path / "prior", {**PRIOR_22, "_class_name": name})
    with pytest.raises(UnsupportedModelError) as info:
        resolve(folder, "text2img")
    message = str(info.value)
    assert not isinstance(info.value, UnsupportedTaskError)
    assert f"family {family}" in message and "prior" in message and "Load the decoder instead" in message


@pytest.mark.parametrize("family", [KANDINSKY21, KANDINSKY22])
def test_load_plans(family):
    fp16 = Identity("folder", "x", "KandinskyV22Pipeline", files=("unet/diffusion_pytorch_model.fp16.safetensors",))
    plain = Identity("folder", "x", "KandinskyV22Pipeline", files=("unet/diffusion_pytorch_model.safetensors",))
    cpu = plan(family, fp16, DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, cpu.placement) == ("float32", None, "device")
    roomy = plan(family, fp16, DeviceFacts("cuda", 1, 4 * GiB, 80 * GiB))
    assert (roomy.dtype, roomy.variant, roomy.placement, roomy.device) == ("float16", "fp16", "device", "cuda")
    short = plan(family, plain, DeviceFacts("cuda", 1, GiB, 80 * GiB))
    assert (short.dtype, short.variant, short.placement) == ("float16", None, "device")  # the core plans the placement
    unknown = plan(family, plain, DeviceFacts("cuda", 1, None, None))
    assert unknown.placement == "device"


def test_the_plan_hook_is_what_the_core_asks(tmp_path):
    from autopipe_core import loading

    folder = write_folder(tmp_path / "decoder", DECODER_22, {"in_channels": 4})
    (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    resolution = resolve(folder, "text2img")
    small = loading.plan(resolution, DeviceFacts("cuda", 1, 4 * GiB, 8 * GiB))
    # no card naming a prior: its size is unknown, so the rules are not applied, and the reason says so
    assert (small.dtype, small.variant, small.placement) == ("float16", "fp16", "device")
    assert "prior" in small.reason and "not applied" in small.reason
