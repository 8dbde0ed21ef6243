"""ControlNet over Stable Diffusion: from_pretrained and from_pipe, adding, replacing, keeping and removing it."""

import pytest
import torch
from PIL import Image

from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)
from autopipe_controlnet import choose

AUTO = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
SD = {"text2img": "StableDiffusionPipeline", "img2img": "StableDiffusionImg2ImgPipeline", "inpaint": "StableDiffusionInpaintPipeline"}
SD_CN = {
    "text2img": "StableDiffusionControlNetPipeline",
    "img2img": "StableDiffusionControlNetImg2ImgPipeline",
    "inpaint": "StableDiffusionControlNetInpaintPipeline",
}


@pytest.fixture(autouse=True)
def _with_controlnet(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd,autopipe-controlnet")


def _controlnet(unet, seed=0):
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    # two conditioning stages: the tiny VAE downsamples by 2, so must the conditioning embedding
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))


@pytest.fixture(scope="module")
def sd(tiny_sd):
    return AutoPipelineForText2Image.from_pretrained(tiny_sd)


@pytest.fixture(scope="module")
def cn(sd):
    return _controlnet(sd.unet)


def _call(pipe, task):
    control = Image.new("RGB", (64, 64), (255, 255, 255))
    image = Image.new("RGB", (64, 64), (90, 140, 200))
    mask = Image.new("L", (64, 64), 255)
    kwargs = {"num_inference_steps": 2, "generator": torch.Generator().manual_seed(0)}
    if task == "text2img":
        kwargs["image"] = control
    elif task == "img2img":
        kwargs.update(image=image, control_image=control)
    else:
        kwargs.update(image=image, mask_image=mask, control_image=control)
    out = pipe("a house", **kwargs).images[0]
    assert isinstance(out, Image.Image) and out.size == (64, 64)


@pytest.fixture(scope="module")
def union(tiny_checkpoint):
    """A real (tiny) ControlNetUnionModel, made from the tiny SDXL UNet as union models are made from SDXL's."""
    from diffusers import ControlNetUnionModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(tiny_checkpoint("stable-diffusion-xl") / "unet")
    torch.manual_seed(0)
    shape = dict(ControlNetUnionModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16)).config)
    width = unet.config.block_out_channels[0]  # the union transformer works at the first block's width
    shape.update(num_trans_channel=width, num_proj_channel=width, num_trans_head=2)
    return ControlNetUnionModel(**{k: v for k, v in shape.items() if not k.startswith("_")})


def test_choose_reads_the_model_kind_without_importing(cn, union):
    from diffusers import MultiControlNetModel
    from diffusers.models.controlnets.multicontrolnet_union import MultiControlNetUnionModel

    assert choose(None) is None
    assert choose(cn) == "controlnet"
    assert choose(union) == "controlnet-union"
    assert choose([union, union]) == choose((union,)) == "controlnet-union"
    assert choose([cn, union]) == choose([cn, cn]) == "controlnet"
    assert choose(MultiControlNetModel([cn, cn])) == "controlnet"
    assert choose(MultiControlNetUnionModel([union, union])) == "controlnet-union"

    class ControlNetUnionModelSubclass(type(union)):  # a user's own subclass is still a union model, by its bases
        pass

    assert choose(union.__class__.__new__(ControlNetUnionModelSubclass)) == "controlnet-union"
    with pytest.raises(ValueError, match="empty list"):
        choose([])


@pytest.mark.parametrize("task", list(AUTO))
def test_from_pretrained_with_controlnet_picks_the_controlnet_class_and_runs(tiny_sd, cn, task):
    pipe = AUTO[task].from_pretrained(tiny_sd, controlnet=cn)
    assert type(pipe).__name__ == SD_CN[task] and pipe.controlnet is cn
    _call(pipe, task)


@pytest.mark.parametrize("source", list(AUTO))
@pytest.mark.parametrize("target", list(AUTO))
def test_from_pipe_adds_keeps_replaces_and_removes_the_controlnet(sd, cn, source, target):
    plain = AUTO[source].from_pipe(sd)
    added = AUTO[target].from_pipe(plain, controlnet=cn)  # add
    assert type(added).__name__ == SD_CN[target] and added.controlnet is cn and added.unet is sd.unet
    kept = AUTO[source].from_pipe(added)  # leave it out: kept
    assert type(kept).__name__ == SD_CN[source] and kept.controlnet is cn
    other = _controlnet(sd.unet, seed=1)
    replaced = AUTO[target].from_pipe(kept, controlnet=other)  # replace (diffusers issue 5593's case)
    assert type(replaced).__name__ == SD_CN[target] and replaced.controlnet is other
    removed = AUTO[target].from_pipe(replaced, controlnet=None)  # remove
    assert type(removed).__name__ == SD[target] and not hasattr(removed, "controlnet")
    assert removed.unet is sd.unet


def test_switched_controlnet_pipelines_run(sd, cn):
    for task in AUTO:
        _call(AUTO[task].from_pipe(sd, controlnet=cn), task)


def test_a_list_of_controlnets_becomes_a_multi_controlnet(sd, cn):
    pipe = AutoPipelineForText2Image.from_pipe(sd, controlnet=[cn, _controlnet(sd.unet, seed=2)])
    assert type(pipe).__name__ == "StableDiffusionControlNetPipeline"
    assert type(pipe.controlnet).__name__ == "MultiControlNetModel"
    control = Image.new("RGB", (64, 64))
    assert pipe("x", image=[control, control], num_inference_steps=2).images[0].size == (64, 64)


def test_controlnet_with_pag(sd, cn):
    assert type(AutoPipelineForInpainting.from_pipe(sd, controlnet=cn, enable_pag=True)).__name__ == "StableDiffusionControlNetPAGInpaintPipeline"
    with pytest.raises(UnsupportedTaskError, match="no PAG ControlNet"):
        AutoPipelineForImage2Image.from_pipe(sd, controlnet=cn, enable_pag=True)


def test_a_saved_controlnet_pipeline_resolves_with_its_controlnet(tmp_path, sd, cn):
    AutoPipelineForText2Image.from_pipe(sd, controlnet=cn).save_pretrained(tmp_path / "cn")
    assert resolve(tmp_path / "cn", "inpaint").pipeline_class == "StableDiffusionControlNetInpaintPipeline"
    reloaded = AutoPipelineForImage2Image.from_pretrained(tmp_path / "cn")
    assert type(reloaded).__name__ == "StableDiffusionControlNetImg2ImgPipeline"
    assert AutoPipelineForText2Image.from_pretrained(tmp_path / "cn", controlnet=None).__class__.__name__ == "StableDiffusionPipeline"


def test_inpainting_only_checkpoint_with_a_controlnet(tiny_sd_inpainting, cn):
    assert resolve(tiny_sd_inpainting, "inpaint", controlnet=cn).pipeline_class == "StableDiffusionControlNetInpaintPipeline"
    for task in ("text2img", "img2img"):
        with pytest.raises(UnsupportedTaskError, match="AutoPipelineForInpainting"):
            AUTO[task].from_pretrained(tiny_sd_inpainting, controlnet=cn)


@pytest.mark.parametrize("task", ["text2img", "img2img", "inpaint"])
def test_a_union_model_on_stable_diffusion_is_refused_early(tiny_sd, union, task):
    with pytest.raises(UnsupportedTaskError, match="ControlNet Union models are SDXL models; use a ControlNetModel with Stable Diffusion 1.x/2.x"):
        resolve(tiny_sd, task, controlnet=union)


def test_without_the_plugin_controlnet_says_to_install_it(monkeypatch, tiny_sd, cn):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd")
    # Left out by the setting where it is installed (then AUTOPIPE_PLUGINS is the advice), else the pip line.
    with pytest.raises(UnsupportedModelError, match="autopipe-controlnet is installed but AUTOPIPE_PLUGINS='autopipe-sd' leaves it out|pip install ./plugins/autopipe-controlnet"):
        AutoPipelineForText2Image.from_pretrained(tiny_sd, controlnet=cn)
