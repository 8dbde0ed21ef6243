"""ControlNet and ControlNet Union over SDXL: the cases diffusers 0.42's AutoPipeline gets wrong."""

import pytest
import torch
from PIL import Image

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
PLAIN = {"text2img": "StableDiffusionXLPipeline", "img2img": "StableDiffusionXLImg2ImgPipeline", "inpaint": "StableDiffusionXLInpaintPipeline"}
CN = {
    "text2img": "StableDiffusionXLControlNetPipeline",
    "img2img": "StableDiffusionXLControlNetImg2ImgPipeline",
    "inpaint": "StableDiffusionXLControlNetInpaintPipeline",
}
UNION = {
    "text2img": "StableDiffusionXLControlNetUnionPipeline",
    "img2img": "StableDiffusionXLControlNetUnionImg2ImgPipeline",
    "inpaint": "StableDiffusionXLControlNetUnionInpaintPipeline",
}


@pytest.fixture(autouse=True)
def _with_sdxl_and_controlnet(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sdxl,autopipe-controlnet")


@pytest.fixture(scope="module")
def sdxl(tiny_checkpoint):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOPIPE_PLUGINS", "autopipe-sdxl")
        return AutoPipelineForText2Image.from_pretrained(tiny_checkpoint("stable-diffusion-xl"))


@pytest.fixture(scope="module")
def union(sdxl):
    from diffusers import ControlNetUnionModel

    torch.manual_seed(0)
    shape = dict(ControlNetUnionModel.from_unet(sdxl.unet, conditioning_embedding_out_channels=(8, 16)).config)
    width = sdxl.unet.config.block_out_channels[0]  # the union transformer works at the first block's width
    shape.update(num_trans_channel=width, num_proj_channel=width, num_trans_head=2)
    return ControlNetUnionModel(**{k: v for k, v in shape.items() if not k.startswith("_")})


@pytest.fixture(scope="module")
def cn(sdxl):
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    return ControlNetModel.from_unet(sdxl.unet, conditioning_embedding_out_channels=(8, 16))


@pytest.mark.parametrize("task", list(AUTO))
def test_from_pipe_with_a_union_model_gives_the_union_class(sdxl, union, task):
    # diffusers 0.42 gives the plain ControlNet class here, which then crashes
    pipe = AUTO[task].from_pipe(sdxl, controlnet=union)
    assert type(pipe).__name__ == UNION[task] and pipe.controlnet is union and pipe.unet is sdxl.unet


@pytest.mark.parametrize("task", list(AUTO))
def test_from_pipe_of_a_union_pipeline_with_none_gives_plain_sdxl(sdxl, union, task):
    # diffusers 0.42 raises for two tasks and returns a broken pipeline for the third
    union_pipe = AutoPipelineForText2Image.from_pipe(sdxl, controlnet=union)
    plain = AUTO[task].from_pipe(union_pipe, controlnet=None)
    assert type(plain).__name__ == PLAIN[task] and not hasattr(plain, "controlnet")
    assert plain.text_encoder_2 is sdxl.text_encoder_2


@pytest.mark.parametrize("task", list(AUTO))
def test_plain_controlnet_and_back(sdxl, cn, union, task):
    pipe = AUTO[task].from_pipe(sdxl, controlnet=cn)
    assert type(pipe).__name__ == CN[task]
    swapped = AUTO[task].from_pipe(pipe, controlnet=union)  # plain -> union
    assert type(swapped).__name__ == UNION[task] and swapped.controlnet is union


def test_union_text2img_runs(sdxl, union):
    pipe = AutoPipelineForText2Image.from_pipe(sdxl, controlnet=union)
    control = Image.new("RGB", (64, 64), (255, 255, 255))
    out = pipe("a house", control_image=[control], control_mode=[0], num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert out.size == (64, 64)


def test_controlnet_with_pag_on_sdxl(sdxl, cn):
    assert type(AutoPipelineForImage2Image.from_pipe(sdxl, controlnet=cn, enable_pag=True)).__name__ == "StableDiffusionXLControlNetPAGImg2ImgPipeline"


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
def test_a_controlnet_for_the_base_under_the_refiner_is_refused_before_loading(cn, tiny_checkpoint, task):
    from autopipe_core import UnsupportedModelError, resolve

    refiner = tiny_checkpoint("stable-diffusion-xl", "refiner")
    assert cn.config.projection_class_embeddings_input_dim != resolve(refiner, "img2img").identity.configs["unet"]["projection_class_embeddings_input_dim"]
    with pytest.raises(UnsupportedModelError, match="controlnet= does not fit .*trained for a UNet with (cross_attention_dim|projection_class_embeddings_input_dim)"):
        resolve(refiner, task, controlnet=cn)
    with pytest.raises(UnsupportedModelError, match="use a ControlNet trained for this model"):
        AUTO[task].from_pretrained(refiner, controlnet=cn)
    assert type(AUTO[task].from_pretrained(tiny_checkpoint("stable-diffusion-xl"), controlnet=cn)).__name__ == CN[task]  # the base: fits


def test_a_controlnet_folder_passed_as_the_model_says_to_pass_it_as_controlnet(cn, tmp_path):
    from autopipe_core import UnsupportedModelError, resolve

    cn.save_pretrained(tmp_path / "cn")
    with pytest.raises(UnsupportedModelError, match="holds one model, a ControlNetModel .*pass it as controlnet="):
        resolve(tmp_path / "cn", "text2img")
