"""The autopipe command: plugins, resolve, generate, demo."""

import json

import pytest
from PIL import Image

from autopipe_core.cli import main


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_resolve_json_without_task_has_exactly_the_documented_keys(capsys, tiny_sd):
    assert _json(capsys, "resolve", str(tiny_sd), "--json") == {
        "family": "stable-diffusion",
        "plugin": "autopipe-sd",
        "pipelines": {
            "text2img": "StableDiffusionPipeline",
            "img2img": "StableDiffusionImg2ImgPipeline",
            "inpaint": "StableDiffusionInpaintPipeline",
        },
    }


def test_resolve_json_with_task(capsys, tiny_sd):
    assert _json(capsys, "resolve", str(tiny_sd), "--task", "image-to-image", "--json") == {
        "family": "stable-diffusion",
        "plugin": "autopipe-sd",
        "task": "img2img",
        "pipeline_class": "StableDiffusionImg2ImgPipeline",
    }


def test_resolve_pag_and_inpainting_only(capsys, tiny_sd, tiny_sd_inpainting):
    assert _json(capsys, "resolve", str(tiny_sd), "--task", "inpaint", "--json", "--enable-pag")["pipeline_class"] == "StableDiffusionPAGInpaintPipeline"
    assert _json(capsys, "resolve", str(tiny_sd_inpainting), "--json")["pipelines"] == {"text2img": None, "img2img": None, "inpaint": "StableDiffusionInpaintPipeline"}
    assert main(["resolve", str(tiny_sd_inpainting)]) == 0
    text = capsys.readouterr().out
    assert "text2img  cannot:" in text and "inpaint   StableDiffusionInpaintPipeline" in text


def test_resolve_error_exits_1_with_the_message_in_command_line_terms(capsys, tiny_sd_inpainting):
    assert main(["resolve", str(tiny_sd_inpainting), "--task", "text2img"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("autopipe: error: ") and err.count("\n") == 1
    assert "use --task inpaint" in err and "AutoPipelineFor" not in err


def test_bad_task_is_a_usage_error_that_lists_the_choices(capsys, tiny_sd):
    with pytest.raises(SystemExit) as info:
        main(["resolve", str(tiny_sd), "--task", "video"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("autopipe: error: ") and "use one of text2img, img2img, inpaint" in err and err.count("\n") == 1


def test_plugins_json(capsys):
    data = _json(capsys, "plugins", "--json")
    sd = next(p for p in data["plugins"] if p["distribution"] == "autopipe-sd")
    assert sd["families"] == ["stable-diffusion"] and sd["error"] is None and sd["version"]
    assert "autopipe_load_plan" in sd["hooks"] and "autopipe_build_tiny" in sd["hooks"]
    assert sd["detect_keys"] == ["model.diffusion_model.input_blocks.0.0.weight"]  # what a file must hold to be shown its detect
    core = next(p for p in data["plugins"] if p["distribution"] == "autopipe-core")
    assert core["modifiers"] == ["controlnet", "enable_pag"]  # the keywords every family shares, registered by the core


def test_generate_each_task_writes_a_png(tmp_path, capsys):
    base = tmp_path / "t2i.png"
    assert main(["generate", "--task", "text2img", "--prompt", "a cat", "--out", str(base), "--steps", "2", "--device", "cpu"]) == 0
    assert Image.open(base).size == (64, 64)
    err = capsys.readouterr().err
    assert "random weights" in err and "StableDiffusionPipeline" in err and "float32" in err
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 64), 255).save(mask)
    for task, extra in (("img2img", []), ("inpaint", ["--mask", str(mask)])):
        out = tmp_path / f"{task}.png"
        assert main(["generate", "--task", task, "--prompt", "a cat", "--image", str(base), *extra, "--out", str(out), "--steps", "2"]) == 0
        assert Image.open(out).size == (64, 64)
    assert not list(tmp_path.glob(".*.tmp"))


def test_generate_needs_an_image_for_img2img(tmp_path, capsys):
    assert main(["generate", "--task", "img2img", "--prompt", "x", "--out", str(tmp_path / "x.png")]) == 2
    assert "autopipe: error: --task img2img needs --image FILE" in capsys.readouterr().err


def test_generate_with_a_model_folder(tmp_path, tiny_sd, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", "--task", "t2i", "--model", str(tiny_sd), "--prompt", "x", "--out", str(out), "--steps", "2"]) == 0
    assert out.is_file() and "random weights" not in capsys.readouterr().err


def test_demo_runs_all_three_tasks_on_shared_weights(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path / "demo"), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "random weights" in out and "autopipe demo --model stable-diffusion-v1-5/stable-diffusion-v1-5" in out
    assert "weights shared across the three pipelines: yes" in out
    for cls in ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"):
        assert cls in out
    for name in ("text2img.png", "img2img.png", "inpaint.png"):
        assert Image.open(tmp_path / "demo" / name).size == (64, 64)
    assert "from_pipe -> img2img" in out  # the timing table


FAMILIES = {
    # family: (its plugin, whether it has img2img, the inpaint class the demo reaches (None: none), whether inpaint shares the text2img weights)
    "stable-diffusion-xl": ("autopipe-sdxl", True, "StableDiffusionXLInpaintPipeline", True),
    "kandinsky": ("autopipe-kandinsky", True, "KandinskyInpaintCombinedPipeline", False),
    "kandinsky22": ("autopipe-kandinsky", True, "KandinskyV22InpaintCombinedPipeline", False),
    "if": ("autopipe-deepfloyd-if", True, "IFInpaintingPipeline", True),
    "latent-consistency": ("autopipe-lcm", True, None, True),
    "kolors": ("autopipe-kolors", True, None, True),
    "stable-diffusion-3": ("autopipe-sd3", True, "StableDiffusion3InpaintPipeline", True),
    "qwenimage": ("autopipe-qwenimage", True, "QwenImageInpaintPipeline", True),
    "pixart-alpha": ("autopipe-pixart", False, None, True),
    "pixart-sigma": ("autopipe-pixart", False, None, True),
    "sana": ("autopipe-pixart", False, None, True),
    "sana-sprint": ("autopipe-pixart", True, None, True),
    "hunyuandit": ("autopipe-hunyuandit", False, None, True),
    "kandinsky3": ("autopipe-kandinsky", True, None, True),
    "z-image": ("autopipe-zimage", True, "ZImageInpaintPipeline", True),
    "z-image-omni": ("autopipe-zimage", False, None, True),
    "flux": ("autopipe-flux", True, "FluxInpaintPipeline", True),
    "chroma": ("autopipe-flux", True, "ChromaInpaintPipeline", True),
    "cascade": ("autopipe-cascade", False, None, True),
    "wuerstchen": ("autopipe-cascade", False, None, True),
    "flux2": ("autopipe-flux2", True, None, True),
    "flux2-klein": ("autopipe-flux2", True, "Flux2KleinInpaintPipeline", True),
    "lumina": ("autopipe-lumina", False, None, True),
    "lumina2": ("autopipe-lumina", False, None, True),
    "auraflow": ("autopipe-auraflow", False, None, True),
    "cogview3": ("autopipe-cogview", False, None, True),
    "cogview4": ("autopipe-cogview", False, None, True),
    "bria": ("autopipe-bria", False, None, True),
    "bria-fibo": ("autopipe-bria", False, None, True),
    "ovis": ("autopipe-ovis", False, None, True),
    "prx": ("autopipe-prx", False, None, True),
    "prx-pixel": ("autopipe-prx", False, None, True),
    "hidream": ("autopipe-hidream", False, None, True),
    "helios": ("autopipe-helios", False, None, True),
    "helios-pyramid": ("autopipe-helios", False, None, True),
    "krea2": ("autopipe-krea2", False, None, True),
    "ideogram4": ("autopipe-ideogram", False, None, True),
    "glm-image": ("autopipe-glm-image", False, None, True),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_demo_and_generate_for_each_familys_built_in_checkpoint(family, tmp_path, capsys, monkeypatch):
    plugin, img2img, inpaint_class, shared = FAMILIES[family]
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugin)
    assert main(["demo", "--family", family, "--out-dir", str(tmp_path / "demo"), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    made = ["text2img.png"]
    if img2img:
        made.append("img2img.png")
    else:
        assert "img2img: skipped:" in out and not (tmp_path / "demo" / "img2img.png").exists()
    if inpaint_class is None:
        assert "inpaint: skipped:" in out and not (tmp_path / "demo" / "inpaint.png").exists()
    else:
        assert f"inpaint:  {inpaint_class}" in out
        made.append("inpaint.png")
    if not img2img and inpaint_class is None:
        assert "weights shared: no other task to share them with (the family does text2img only)" in out
    elif inpaint_class is None:
        assert "weights shared across text2img and img2img: yes" in out
    elif shared:
        assert "weights shared across the three pipelines: yes" in out
    else:  # a text decoder cannot inpaint: the demo says why and loads the family's inpainting checkpoint
        assert "cannot do inpaint" in out and "weights shared across text2img and img2img (inpaint has its own checkpoint): yes" in out
    sizes = {Image.open(tmp_path / "demo" / name).size for name in made}
    assert len(sizes) == 1 or family == "if", sizes  # IF's stage I works at its UNet's own size whatever the input's
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(made)

    png = tmp_path / "t2i.png"
    assert main(["generate", "--family", family, "--task", "text2img", "--prompt", "a cat", "--out", str(png), "--steps", "2", "--device", "cpu"]) == 0
    assert Image.open(png).size == Image.open(tmp_path / "demo" / "text2img.png").size


def test_demo_of_a_checkpoint_without_text2img_starts_from_a_made_up_picture(tiny_sd_inpainting, tmp_path, capsys):
    """An inpainting-only UNet (as an edit model, Qwen-Image-Edit) has no text2img: the demo starts at the first task it
    does, from a made-up picture, instead of failing on text2img."""
    assert main(["demo", "--model", str(tiny_sd_inpainting), "--out-dir", str(tmp_path / "demo"), "--steps", "2", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "inpaint starts from a made-up 64x64 picture: the family has no text2img" in out
    assert "from_pretrained inpaint" in out and "inpaint:  StableDiffusionInpaintPipeline" in out
    assert "weights shared: no other task to share them with (the family does inpaint only)" in out
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["inpaint.png"]
