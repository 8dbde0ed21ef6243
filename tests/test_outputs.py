"""autopipe_core.outputs on diffusers' own output classes: an image pipeline's .images, a video pipeline's .frames."""

import numpy as np
import pytest
from PIL import Image

from autopipe_core.outputs import first_image, images_of


def test_images_are_returned_as_they_are():
    from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

    a, b = Image.new("RGB", (8, 4), (255, 0, 0)), Image.new("RGB", (8, 4))
    assert images_of(ImagePipelineOutput(images=[a, b])) == [a, b]
    assert first_image(ImagePipelineOutput(images=[[b, a]])) is b  # one image per layer (QwenImageLayeredPipeline)


def test_a_video_pipelines_frames_give_each_videos_first_frame_as_a_picture():
    from diffusers.pipelines.helios.pipeline_output import HeliosPipelineOutput

    frames = np.zeros((2, 3, 4, 6, 3), dtype=np.float32)  # 2 videos of 3 frames, 4 high, 6 wide, RGB, in [0, 1]
    frames[0, 0, :, :, 0] = 1.0
    frames[1, 0, :, :, 1] = 0.5
    pictures = images_of(HeliosPipelineOutput(frames=frames))
    assert [p.size for p in pictures] == [(6, 4), (6, 4)]
    assert pictures[0].getpixel((0, 0)) == (255, 0, 0) and pictures[1].getpixel((5, 3)) == (0, 128, 0)
    pil = Image.new("RGB", (6, 4))
    assert first_image(HeliosPipelineOutput(frames=[[pil, pil]])) is pil  # output_type="pil": lists of PIL frames


def test_an_output_with_neither_is_a_type_error():
    with pytest.raises(TypeError, match="holds neither images nor frames"):
        images_of(object())
