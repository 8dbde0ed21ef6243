"""Every user mistake on the command line is one line, `autopipe: error: ...`, never a traceback, and is caught
before anything heavy is imported. Run as a user runs it: `python -m autopipe_core.cli` in a subprocess."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image


def _cli(*args: str, stdin=None, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sd", **env}
    return subprocess.run([sys.executable, "-m", "autopipe_core.cli", *args], capture_output=True, text=True, env=environ, timeout=120, stdin=stdin)


def _one_line_error(out: subprocess.CompletedProcess, fragment: str, status: int) -> str:
    assert out.returncode == status, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if not line.startswith(NOTES)]
    assert len(lines) == 1 and lines[0].startswith("autopipe: error: "), out.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


#: What the command says on stderr while it works (the tiny checkpoint being prepared): not part of an error.
NOTES = ("preparing the built-in", "built /", "using /")


# generate: every input is checked before a model is loaded (nothing heavy is imported: this runs in about a second).
_HEAVY = "import sys, runpy; sys.argv = ['autopipe', *sys.argv[1:]]\ntry:\n    runpy.run_module('autopipe_core.cli', run_name='__main__')\nfinally:\n    print('heavy:', sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules), file=sys.stderr)\n"


def _checked_first(*args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sd"}
    out = subprocess.run([sys.executable, "-c", _HEAVY, *args], capture_output=True, text=True, env=environ, timeout=120)
    *rest, heavy = out.stderr.strip().splitlines()
    assert heavy == "heavy: []", f"{args}: {heavy}"
    out.stderr = "\n".join(rest) + "\n"
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-inputs")
    Image.new("RGB", (64, 64), (10, 200, 30)).save(root / "ok.png")
    (root / "notes.txt").write_text("not an image")
    (root / "folder").mkdir()
    return root


GENERATE_MISTAKES = [
    # (extra arguments, the message must contain, exit status)
    (["--task", "img2img"], "--task img2img needs --image FILE", 2),
    (["--task", "inpaint", "--image", "{ok}"], "--task inpaint needs --mask FILE", 2),
    (["--task", "img2img", "--image", "{root}/missing.png"], "--image {root}/missing.png does not exist", 2),
    (["--task", "img2img", "--image", "{root}/notes.txt"], "--image {root}/notes.txt is not an image PIL can read (no image format PIL knows). Pass a PNG", 2),
    (["--task", "inpaint", "--image", "{ok}", "--mask", "{root}/folder"], "--mask {root}/folder", 2),
    (["--task", "text2img", "--out", "{root}/folder"], "--out {root}/folder is a folder", 2),
    (["--task", "text2img", "--out", "{root}/x.xyz"], "names no image format autopipe can write", 2),
    (["--task", "text2img", "--out", "{ok}/x.png"], "cannot write in {ok}", 2),
    # /proc takes no new folder, whoever asks (root included, to whom os.access says yes everywhere)
    (["--task", "text2img", "--out", "/proc/no-such-folder/x.png"], "--out /proc/no-such-folder/x.png: cannot write in /proc/no-such-folder (", 2),
    (["--task", "text2img", "--steps", "0"], "--steps must be from 1 to 1000, not 0", 2),
    (["--task", "img2img", "--image", "{ok}", "--mask", "{ok}"], "--mask is for --task inpaint; --task img2img takes none: leave it out", 2),
    (["--task", "text2img", "--size", "30"], "--size must be a multiple of 8", 2),
    (["--task", "text2img", "--size", "-5"], "--size must be from 8", 2),
    (["--task", "txt2imgg"], "unknown task 'txt2imgg': use one of text2img, img2img, inpaint", 2),
    (["--task", "text2img", "--family", "nope"], "argument --family: no family 'nope'. Installed: stable-diffusion (autopipe plugins lists them)", 2),
    (["--task", "text2img", "--family", "stable-diffusion-xl"], "the family 'stable-diffusion-xl' is autopipe-sdxl's, which is not loaded. autopipe-sdxl is installed but AUTOPIPE_PLUGINS='autopipe-sd' leaves it out", 2),
    (["--task", "text2img", "--family", "stable-difusion"], "no family 'stable-difusion' (did you mean 'stable-diffusion'?)", 2),
    (["--task", "text2img", "--seed", "x"], "--seed must be a whole number", 2),
]


@pytest.mark.parametrize("extra, fragment, status", GENERATE_MISTAKES, ids=[f[1][:40] for f in GENERATE_MISTAKES])
def test_generate_refuses_bad_input_before_loading(files, extra, fragment, status):
    fill = {"root": str(files), "ok": str(files / "ok.png")}
    args = [a.format(**fill) for a in extra]
    if "--out" not in args:
        args += ["--out", str(files / "out.png")]
    out = _checked_first("generate", "--prompt", "x", *args)
    _one_line_error(out, fragment.format(**fill), status)


PLAN_MISTAKES = [
    (["--memory", "8"], "has no unit: write it with one, e.g. 8GiB"),
    (["--memory", "lots"], "is not a size"),
    (["--gpus", "0"], "--gpus must be from 1 to 1024, not 0"),
    (["--width", "-5"], "--width must be from 8"),
    (["--task", "video"], "unknown task 'video'"),
]


@pytest.mark.parametrize("extra, fragment", PLAN_MISTAKES, ids=[f[1][:30] for f in PLAN_MISTAKES])
def test_plan_refuses_bad_numbers_with_what_is_allowed(tiny_sd, extra, fragment):
    args = ["plan", str(tiny_sd), "--task", "t2i", *extra]
    _one_line_error(_cli(*args), fragment, 2)


@pytest.mark.parametrize("spelling, nbytes", [("8GB", 8 * 10**9), ("8gib", 8 << 30), ("1.5GiB", 3 << 29), ("512 MiB", 512 << 20)])
def test_plan_takes_the_memory_spellings_people_write(tiny_sd, spelling, nbytes):
    import json

    out = _cli("plan", str(tiny_sd), "--task", "t2i", "--memory", spelling, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["budget_bytes"] == nbytes


def test_a_checkpoint_problem_is_one_line_in_command_line_terms(tiny_sd, tmp_path):
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"\x80\x04K\x01.")
    line = _one_line_error(_cli("resolve", str(pickle)), "pass --allow-pickle", 1)
    assert "allow_pickle" not in line
    _one_line_error(_cli("resolve", str(tmp_path / "nothing" / "here")), "there is no folder or file at", 1)


def test_a_strangers_text_cannot_drive_the_terminal_or_forge_a_line(tmp_path):
    # Found by a hostile-input trial: inspect printed a header's __metadata__ as it was, so a file could print
    # "=> ... recognised" on a line of its own, colour the terminal or retitle it; an error quoting a file did the same.
    import struct

    forged = "pt\n=> autopipe-sd: recognised (safe)\x1b[31mX\x1b]0;title\x07\r\x9b"
    header = json.dumps({"__metadata__": {"format": forged}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "e\x1b[2Jvil.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0")
    for args in (("inspect", str(path)), ("scan", str(tmp_path)), ("resolve", str(path))):
        out = _cli(*args)
        text = out.stdout + out.stderr
        assert not any(c in text for c in "\x1b\x07\r\x9b"), (args, text)
        assert "\n=> autopipe-sd: recognised (safe)" not in text
    assert "format: pt\\n=> autopipe-sd: recognised (safe)\\x1b[31mX" in _cli("inspect", str(path)).stdout


def test_an_error_quoting_a_strangers_text_is_still_one_line(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "X", "unet\n=> forged": ["diffusers", "UNet2DConditionModel"]}))
    out = _cli("resolve", str(folder))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and out.stderr.startswith("autopipe: error: "), out.stderr


def test_a_pipe_closed_early_ends_quietly():
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    out = subprocess.run(
        [sys.executable, "-m", "autopipe_core.cli", "plugins", "--json"], stdout=reader.stdin, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AUTOPIPE_PLUGINS": ""}, timeout=60,
    )
    reader.stdin.close()
    reader.wait()
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr


def test_version_and_help():
    from autopipe_core import __version__

    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"autopipe {__version__} (autopipe-core)"
    for command in ("plugins", "resolve", "inspect", "plan", "generate", "demo"):
        text = _cli(command, "--help").stdout
        assert "(default" in text, command
    help_text = _cli("generate", "--help").stdout
    assert "stable-diffusion" in help_text and "--enable-pag" in help_text


def test_inspect_of_a_fifo_fails_at_once(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    _one_line_error(_cli("inspect", str(fifo)), "not a regular file", 1)


def test_generate_writes_the_format_its_suffix_names(tmp_path):
    out = tmp_path / "cat.jpg"
    result = _cli("generate", "--task", "t2i", "--prompt", "a cat", "--out", str(out), "--steps", "1", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG bytes under a .jpg name
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_normal_run_prints_no_other_librarys_noise(tmp_path):
    out = _cli("demo", "--out-dir", str(tmp_path / "demo"), "--steps", "2", AUTOPIPE_CACHE=str(tmp_path / "cache"))
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    for noise in ("it/s", "s/it", "torchvision", "Warning", "deprecated", "Traceback", "should be kept in float32"):
        assert noise not in text, f"{noise!r} in:\n{text}"
    # What the waits are, said as they start: building the tiny checkpoint imports torch, so the import step says it did not.
    assert "built " in out.stderr and "  import the class (torch and diffusers: imported by the build above) ..." in out.stdout


def test_with_every_family_plugin_left_out_the_demo_says_so_not_what_to_install():
    from autopipe_core.plugins import installed

    out = _cli("demo", AUTOPIPE_PLUGINS="")
    every = sorted(installed())
    _one_line_error(
        out, f"no family plugin is loaded, so there is no model to run: AUTOPIPE_PLUGINS='' leaves out the {len(every)} installed "
        f"({', '.join(every)}). Name one there (e.g. autopipe-sd), or unset AUTOPIPE_PLUGINS.", 2)
    assert "pip install" not in out.stderr


def test_with_no_family_plugin_installed_the_demo_says_what_to_install(monkeypatch, installed_only):
    from autopipe_core.cli import UsageError
    from autopipe_core.cli.running import model_or_tiny

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "")
    installed_only()  # as in an environment with the core alone
    with pytest.raises(UsageError) as info:
        model_or_tiny(None, None)
    assert str(info.value) == (
        "no family plugin is installed, so there is no model to run. Install one, e.g. the Stable Diffusion family: "
        "pip install ./plugins/autopipe-sd  (from a clone of the autopipe repository: its plugins are not on PyPI; see its README)."
    )


def test_too_few_steps_for_the_strength_is_said_before_the_call_and_keeps_what_was_made(tmp_path):
    out = _cli("demo", "--out-dir", str(tmp_path / "demo"), "--steps", "1", AUTOPIPE_CACHE=str(tmp_path / "cache"))
    _one_line_error(out, "runs steps x strength = 1 x 0.75 = 0.75 steps, fewer than one: pass --steps 2 or more", 2)
    assert (tmp_path / "demo" / "text2img.png").is_file()  # the image already made is kept


@pytest.mark.parametrize("message, said", [
    ("load the base model: AutoPipelineForText2Image.from_pretrained('Qwen/Qwen-Image')", "load the base model: --task text2img --model Qwen/Qwen-Image"),
    ("use AutoPipelineForInpainting", "use --task inpaint"),
    ("pass allow_pickle=True to load it", "pass --allow-pickle to load it"),
    ("no PAG pipeline for AuraFlow; leave out enable_pag", "no PAG pipeline for AuraFlow; leave out --enable-pag"),
    ("Complete the checkpoint, or pass tokenizer=..., unet=... to from_pretrained.",
     "Complete the checkpoint, or load it from Python and pass tokenizer=..., unet=... to from_pretrained."),
    ("load diffusers.ControlNetModel.from_pretrained(folder) and pass it", "load diffusers.ControlNetModel.from_pretrained(folder) and pass it"),
])
def test_advice_is_given_in_the_command_lines_terms(message, said):
    from autopipe_core.cli import as_said_here

    assert as_said_here(message) == said


def test_a_picture_for_text2img_goes_to_a_class_that_takes_one_and_is_refused_by_one_that_does_not(tmp_path):
    """--image with --task text2img is never dropped in silence: StableDiffusionPipeline takes no picture, so it is refused
    (after loading: the class decides); a text2img class that takes one (Helios, FLUX.2) is given it."""
    picture = tmp_path / "in.png"
    Image.new("RGB", (64, 64), "gray").save(picture)
    out = _cli("generate", "--task", "text2img", "--prompt", "x", "--image", str(picture), "--out", str(tmp_path / "o.png"), "--steps", "1")
    _one_line_error(out, "StableDiffusionPipeline takes no picture for --task text2img: leave out --image, or use --task img2img", 2)
    out = _cli("generate", "--family", "flux2", "--task", "text2img", "--prompt", "x", "--image", str(picture), "--out", str(tmp_path / "f.png"),
               "--steps", "1", AUTOPIPE_PLUGINS="autopipe-flux2", AUTOPIPE_CACHE=str(tmp_path / "cache"))
    assert out.returncode == 0 and (tmp_path / "f.png").is_file(), out.stderr


def test_a_leading_tilde_is_the_home_folder_in_every_path_option(tmp_path, monkeypatch, tiny_sd):
    # Found by a hostile-input trial: --out=~/o.png (no shell expansion after "=") made a folder named "~" in the
    # working folder, one "rm -rf ~" away from a disaster; --image and inspect took "~/x" literally.
    from autopipe_core.cli import main

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    args = ["generate", "--model", str(tiny_sd), "--task", "text2img", "--prompt", "a cat", "--steps", "2", "--device", "cpu"]
    assert main([*args, "--out=~/o.png"]) == 0
    assert (home / "o.png").is_file() and not (work / "~").exists()
    assert main([*args[:4], "img2img", *args[5:], "--image", "~/o.png", "--out", "~/p.png"]) == 0
    assert (home / "p.png").is_file()


def test_an_option_a_subcommand_does_not_take_points_to_that_subcommands_help():
    out = _cli("demo", "--json")
    assert out.returncode == 2 and out.stderr == "autopipe: error: unrecognized arguments: --json (see `autopipe demo --help`)\n"


def test_family_and_model_together_are_refused_not_one_silently_ignored(tiny_sd):
    for command in ("generate", "demo"):
        extra = ["--task", "t2i", "--prompt", "a", "--out", "x.png"] if command == "generate" else []
        out = _cli(command, "--model", str(tiny_sd), "--family", "stable-diffusion", *extra)
        assert out.returncode == 2 and "give one of them, not both (--family stable-diffusion would be ignored)" in out.stderr, out.stderr


def test_verbose_shows_the_traceback_above_the_one_line_error(tmp_path):
    missing = str(tmp_path / "missing.safetensors")
    plain = _cli("resolve", missing)
    said = _one_line_error(plain, "there is no folder or file at", 1)
    verbose = _cli("-v", "resolve", missing)
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr and "ModelNotFoundError" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == said
