import pytest

from autopipe_core import Task


@pytest.mark.parametrize(
    "spelling, task",
    [
        ("text2img", Task.TEXT2IMG),
        ("text-to-image", Task.TEXT2IMG),
        ("Text_To_Image", Task.TEXT2IMG),
        ("txt2img", Task.TEXT2IMG),
        ("img2img", Task.IMG2IMG),
        ("image-to-image", Task.IMG2IMG),
        ("image2image", Task.IMG2IMG),
        ("inpaint", Task.INPAINT),
        ("inpainting", Task.INPAINT),
        (" Inpainting ", Task.INPAINT),
        (Task.IMG2IMG, Task.IMG2IMG),
    ],
)
def test_parse_accepts_usual_spellings(spelling, task):
    assert Task.parse(spelling) is task


def test_values_are_the_short_names():
    assert [t.value for t in Task] == ["text2img", "img2img", "inpaint"]
    assert str(Task.INPAINT) == "inpaint"


@pytest.mark.parametrize("bad", ["text-to-video", "", None, 3])
def test_parse_rejects_others_naming_the_choices(bad):
    with pytest.raises(ValueError, match="text2img, img2img, inpaint"):
        Task.parse(bad)


def test_each_task_names_its_auto_class():
    assert Task.INPAINT.auto_class == "AutoPipelineForInpainting"
