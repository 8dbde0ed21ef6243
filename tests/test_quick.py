"""The cold `autopipe resolve FOLDER` and `resolve FILE` from the registration snapshot (autopipe_core.quick, autopipe_core.snapshot).

The full command line is the oracle: on every folder of the real-checkpoint corpus, on tiny checkpoints and on
broken folders, on single files of every layout the scan bench holds and on broken ones, with every combination of
--task and --json, the quick path prints exactly what the full path prints, or declines and lets it run. A snapshot
is used only while everything it was built from is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import real_checkpoints_data as data
import single_file_layouts as layouts
from autopipe_core import quick, snapshot, sources
from autopipe_core.headers import write_header
from autopipe_core.cli import main
from autopipe_core.registry import get_registry

CORPUS = data.corpus_dir()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import scan_library  # noqa: E402 - bench/scan_library.py: the real single-file layouts the benchmark scans
ARGS = ([], ["--json"], ["--task", "text2img"], ["--task=img2img", "--json"], ["--json", "--task", "inpaint"], ["--task", "inpainting"])


def both(argv: list[str], capsys) -> tuple[tuple[int, str, str], tuple[int, str, str] | None]:
    """(status, stdout, stderr) of the full command line and of the quick path (None where it declined)."""
    capsys.readouterr()
    status = main(argv)
    full = (status, *capsys.readouterr())
    status = quick.answer(argv)
    fast = None if status is None else (status, *capsys.readouterr())
    assert status is not None or capsys.readouterr() == ("", ""), "a declined quick answer printed something"
    return full, fast


def corpus_folders() -> list[Path]:
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"the real-checkpoint corpus is absent ({CORPUS})")
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def test_the_quick_answer_is_the_full_answer_on_every_folder_of_the_corpus(every_plugin, capsys):
    answered = set()
    for folder in corpus_folders():
        for args in ARGS:
            full, fast = both(["resolve", str(folder), *args], capsys)
            if fast is not None:
                assert fast == full, (folder.name, args)
                answered.add(folder.name)
    # It must answer the ordinary checkpoints, not decline everything: one family per kind of rule it reads.
    assert {"sd15", "sdxl-base", "sd15-inpainting", "sd2-inpainting", "kolors", "sd3-medium", "flux1-dev", "kandinsky22-decoder-inpaint", "sdxl-refiner", "hunyuandit"} <= answered, sorted(answered)


def test_tiny_checkpoints_and_a_variant_that_refuses_tasks(every_plugin, capsys, tiny_sd, tiny_sd_inpainting):
    for folder in (tiny_sd, tiny_sd_inpainting):
        for args in ARGS:
            full, fast = both(["resolve", str(folder), *args], capsys)
            assert fast == full or (fast is None and full[0] != 0), (folder, args)
    full, fast = both(["resolve", str(tiny_sd_inpainting)], capsys)
    assert fast == full and "cannot: " in full[1] and "--task inpaint" in full[1]  # the advice said in command-line terms


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


BROKEN = {
    "index not JSON": lambda f: (f / "model_index.json").write_text("{"),
    "index a list": lambda f: (f / "model_index.json").write_text("[]"),
    "no class name": lambda f: _edit(f / "model_index.json", lambda d: d.pop("_class_name")),
    "custom class": lambda f: _edit(f / "model_index.json", lambda d: d.update(_class_name=["pipeline", "Mine"])),
    "unknown class": lambda f: _edit(f / "model_index.json", lambda d: d.update(_class_name="NoSuchPipeline")),
    "class with a newline": lambda f: _edit(f / "model_index.json", lambda d: d.update(_class_name="StableDiffusionPipeline\n")),
    "modular": lambda f: _edit(f / "model_index.json", lambda d: d.update(_blocks_class_name="Blocks")),
    "malformed component": lambda f: _edit(f / "model_index.json", lambda d: d.update(unet=["diffusers", "UNet2DConditionModel", "x"])),
    "a string and a number": lambda f: _edit(f / "model_index.json", lambda d: d.update(extra=["diffusers", 3])),
    "component config missing": lambda f: (f / "unet" / "config.json").unlink(),
    "component config a FIFO": lambda f: ((f / "unet" / "config.json").unlink(), os.mkfifo(f / "unet" / "config.json")),
    "component config too large": lambda f: (f / "unet" / "config.json").write_text(" " * (sources.MAX_JSON_BYTES + 1) + "{}"),
    "index a folder": lambda f: ((f / "model_index.json").unlink(), (f / "model_index.json").mkdir()),
    "no index": lambda f: (f / "model_index.json").unlink(),
    "an SDXL UNet": lambda f: _edit(f / "unet" / "config.json", lambda d: d.update(addition_embed_type="text_time")),
    "inpainting UNet": lambda f: _edit(f / "unet" / "config.json", lambda d: d.update(in_channels=9)),
}


def _edit(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_or_unusual_folder_is_answered_the_same_or_left_to_the_full_path(broken, every_plugin, capsys, tmp_path):
    if not (CORPUS / "sd15").is_dir():
        pytest.skip("the real-checkpoint corpus is absent")
    folder = _copy(CORPUS / "sd15", tmp_path)
    BROKEN[broken](folder)
    for args in ARGS:
        full, fast = both(["resolve", str(folder), *args], capsys)
        assert fast is None or fast == full, (broken, args)
        if full[0] != 0:
            assert fast is None, (broken, args)  # every error is worded by the full path


def test_a_list_of_numbers_in_the_index_is_pipeline_config_not_a_component(every_plugin, capsys, tmp_path):
    """As sources.components reads it (Krea 2's model_index.json has "text_encoder_select_layers": [1, 2]): answered."""
    if not (CORPUS / "sd15").is_dir():
        pytest.skip("the real-checkpoint corpus is absent")
    folder = _copy(CORPUS / "sd15", tmp_path)
    _edit(folder / "model_index.json", lambda d: d.update(text_encoder_select_layers=[1, 2], empty=[]))
    for args in ARGS:
        full, fast = both(["resolve", str(folder), *args], capsys)
        assert fast == full, args


@pytest.mark.parametrize(
    "argv",
    [["resolve"], ["resolve", "-v", "F"], ["-v", "resolve", "F"], ["resolve", "F", "--enable-pag"], ["resolve", "F", "--js"],
     ["resolve", "F", "--task"], ["resolve", "F", "--task", "paint"], ["resolve", "F", "F"], ["resolve", "F", "--json", "--json"],
     ["resolve", "F", "--revision", "main"], ["plan", "F"], ["resolve", "stable-diffusion-v1-5/stable-diffusion-v1-5"]],
)
def test_what_only_argparse_or_the_full_path_can_read_is_left_to_them(argv, every_plugin, capsys):
    folder = str(CORPUS / "sd15")
    assert quick.answer([folder if a == "F" else a for a in argv]) is None
    assert capsys.readouterr() == ("", "")


def test_the_limits_are_the_full_paths():
    assert (quick.MAX_JSON_BYTES, quick.MAX_CLASS_NAME) == (sources.MAX_JSON_BYTES, sources.MAX_CLASS_NAME)


def test_a_snapshot_is_used_only_while_what_it_was_built_from_is_unchanged(every_plugin, monkeypatch, tmp_path):
    assert snapshot.load() is not None
    # A setting the registry reads.
    monkeypatch.setenv("AUTOPIPE_PREFER", "autopipe-sd")
    assert snapshot.load() is None
    monkeypatch.delenv("AUTOPIPE_PREFER")
    assert snapshot.load() is not None
    # A distribution installed or removed: its sys.path folder changes.
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    snapshot.save(get_registry())
    assert snapshot.load() is not None
    (site / "newplugin-1.0.dist-info").mkdir()
    os.utime(site, ns=(0, 10**18))  # a different mtime, whatever the clock's resolution
    assert snapshot.load() is None
    # A module file the registration ran, edited in place (an editable plugin).
    snapshot.save(get_registry())
    data_ = snapshot.load()
    plugin_file = next(f for f, _ in data_["files"] if os.sep + "autopipe_sdxl" + os.sep in f)
    stat = os.stat(plugin_file)
    try:
        os.utime(plugin_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        assert snapshot.load() is None
    finally:
        os.utime(plugin_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert snapshot.load() is not None
    # A damaged file is a miss, not an error.
    path = snapshot.path_for(snapshot.key())
    Path(path).write_bytes(Path(path).read_bytes()[:100])
    assert snapshot.load() is None
    Path(path).write_bytes(b"")
    assert snapshot.load() is None


def test_a_snapshot_that_is_no_regular_file_or_too_large_is_a_miss_at_once(every_plugin):
    # Found by a hostile-input trial: a FIFO in its place made every cold resolve wait forever, a link to /dev/zero
    # read until memory ran out. The cache is the user's, but a cache must never stop or sink the command.
    snapshot.save(get_registry())
    path = Path(snapshot.path_for(snapshot.key()))
    path.unlink()
    os.mkfifo(path)
    assert snapshot.load() is None  # at once: opened without blocking, and not a regular file
    path.unlink()
    path.symlink_to("/dev/zero")
    assert snapshot.load() is None
    path.unlink()
    with open(path, "wb") as f:
        f.truncate(snapshot.MAX_BYTES + 1)  # sparse: no disk used
    assert snapshot.load() is None


def test_the_snapshot_folder_keeps_the_newest_snapshots_only(every_plugin):
    # One snapshot per environment and settings: without a bound, every venv and AUTOPIPE_PLUGINS value ever used stays.
    folder = Path(snapshot.path_for(snapshot.key())).parent
    old = [folder / f"{i:08x}.marshal" for i in range(snapshot.KEEP + 5)]
    for i, path in enumerate(old):
        path.write_bytes(b"x")
        os.utime(path, ns=(0, (i + 1) * 10**9))  # oldest first, all older than the one saved below
    other = folder / "notes.txt"
    other.write_text("not a snapshot")
    saved = snapshot.save(get_registry())
    kept = sorted(p.name for p in folder.glob("*.marshal"))
    assert len(kept) == snapshot.KEEP and Path(saved).name in kept
    assert kept == sorted([Path(saved).name, *(p.name for p in old[-(snapshot.KEEP - 1):])])
    assert other.read_text() == "not a snapshot" and snapshot.load() is not None


def test_a_family_whose_rules_are_not_plain_data_is_opaque(every_plugin):
    from autopipe_core.specs import FamilySpec, Variant

    class Odd:
        def __eq__(self, other):
            return True

    spec = FamilySpec("odd", variants=(Variant("v", "unet", "k", Odd(), frozenset({"text2img"}), "odd"),))
    plugin, opaque, *_ = snapshot.build(get_registry())["families"]["stable-diffusion"]
    assert (plugin, opaque) == ("autopipe-sd", False)
    assert snapshot._family(spec, "x")[1] is True  # noqa: SLF001 - the rule itself


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "autopipe_core.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_cold_process_saves_the_snapshot_then_answers_from_it_without_the_plugins(tmp_path):
    folder = corpus_folders()[0].parent / "sdxl-base"
    env = {**os.environ, "AUTOPIPE_CACHE": str(tmp_path / "cache"), "AUTOPIPE_PLUGINS": data.SHIPPED_PLUGINS}
    first = _run(["resolve", str(folder)], env)
    assert first.returncode == 0 and "autopipe_core.registry" in first.stderr
    assert list((tmp_path / "cache" / "registry").iterdir())
    second = _run(["resolve", str(folder)], env)
    assert second.returncode == 0 and second.stdout == first.stdout
    imported = _imported(second)
    assert "autopipe_core.quick" in imported
    assert not {"autopipe_core.registry", "pluggy", "autopipe_sd", "autopipe_sdxl", "typing", "dataclasses", "argparse", "inspect"} & imported, sorted(imported)
    # An error is the full path's, from the same process.
    third = _run(["resolve", str(tmp_path)], env)
    assert third.returncode == 1 and "no model_index.json" in third.stderr


TOY = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec(name="stable-diffusion", priority=100)]  # takes the family from autopipe-sd

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("stable-diffusion", {Task.TEXT2IMG: "diffusers:StableDiffusionPipeline", Task.IMG2IMG: "fractions:ToyImg2Img"})]
"""


def _imported(run: subprocess.CompletedProcess) -> set[str]:
    return {line.rpartition("|")[2].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}


def test_a_plugin_installed_after_the_snapshot_is_seen(tmp_path):
    """A new distribution on sys.path changes the answer: the next cold run does not answer from the old snapshot."""
    from toy_plugins import install

    folder = str(corpus_folders()[0].parent / "sd15")
    site = tmp_path / "site"
    site.mkdir()
    env = {**os.environ, "AUTOPIPE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("AUTOPIPE_PLUGINS", None)
    assert _run(["resolve", folder, "--task", "img2img"], env).returncode == 0
    before = _run(["resolve", folder, "--task", "img2img"], env)
    assert before.stdout.strip() == "StableDiffusionImg2ImgPipeline" and "autopipe_core.registry" not in _imported(before)
    install(site, "autopipe-toy-late", TOY)
    after = _run(["resolve", folder, "--task", "img2img"], env)
    assert after.returncode == 0 and after.stdout.strip() == "ToyImg2Img", after.stderr[-2000:]
    again = _run(["resolve", folder, "--task", "img2img"], env)  # from the new snapshot
    assert again.stdout == after.stdout and "autopipe_core.registry" not in _imported(again)


def test_no_answer_saves_a_snapshot_too(tmp_path):
    env = {**os.environ, "AUTOPIPE_CACHE": str(tmp_path / "cache"), "AUTOPIPE_PLUGINS": "autopipe-sd"}
    out = _run(["resolve", str(tmp_path)], env)
    assert out.returncode == 1 and "no model_index.json" in out.stderr
    assert len(list((tmp_path / "cache" / "registry").iterdir())) == 1


def test_a_reader_that_goes_away_is_no_error(tmp_path):
    folder = str(corpus_folders()[0].parent / "sd15")
    env = {**os.environ, "AUTOPIPE_CACHE": str(tmp_path / "cache"), "AUTOPIPE_PLUGINS": data.SHIPPED_PLUGINS}
    for _ in range(2):  # the full path, then the quick one
        read, write = os.pipe()
        os.close(read)
        out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "resolve", folder], stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        os.close(write)
        assert out.returncode == 0 and out.stderr == ""
    assert list((tmp_path / "cache" / "registry").iterdir())


# --- single files -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_files(tmp_path_factory) -> dict[str, Path]:
    """A file of every layout the scan bench holds (SD 1.5 and its inpainting, SD 2 v, SDXL base, refiner and
    inpainting, FLUX.1 in both layouts, Chroma, FLUX.2, SD 3, an SD 1.5 ControlNet), an SD 2 file that states its
    prediction, and files the full path refuses."""
    folder = tmp_path_factory.mktemp("files")
    out = {}
    for name in scan_library.LAYOUTS:
        out[name] = write_header(folder / f"{name}.safetensors", dict(scan_library.layout(name)), {"format": "pt"})
    out["sd2-v-said"] = layouts.write(folder / "sd2-said.safetensors", layouts.layout("sd2-v"), {"modelspec.prediction_type": "epsilon"})
    out["no family"] = write_header(folder / "unknown.safetensors", {"a.weight": ("F16", (2, 2))})
    out["diffusers layout"] = write_header(folder / "unet.safetensors", {"conv_in.weight": ("F16", (320, 4, 3, 3))})
    (folder / "corrupt.safetensors").write_bytes(b"\xff" * 64)
    out["corrupt"] = folder / "corrupt.safetensors"
    (folder / "old.ckpt").write_bytes(b"\x80\x04K\x01.")
    out["pickle"] = folder / "old.ckpt"
    os.mkfifo(folder / "fifo.safetensors")
    out["fifo"] = folder / "fifo.safetensors"
    (folder / "link.safetensors").symlink_to(out["sd15"])
    out["link"] = folder / "link.safetensors"
    return out


def test_the_quick_answer_is_the_full_answer_on_single_files(every_plugin, capsys, single_files):
    answered = set()
    for name, path in single_files.items():
        for args in ARGS:
            full, fast = both(["resolve", str(path), *args], capsys)
            if fast is not None:
                assert fast == full, (name, args)
                answered.add(name)
            if full[0] != 0:
                assert fast is None, (name, args)  # every error is worded by the full path
    # Every file a plugin claims as a pipeline is answered, the refiner (which refuses text2img) included; the
    # ControlNet (one model), the unknown and the broken files are left to the full path.
    assert answered == set(scan_library.LAYOUTS) - {"controlnet-sd15"} | {"sd2-v-said", "link"}, sorted(answered)


def test_a_plugin_whose_detection_raises_leaves_the_file_to_the_full_path(every_plugin, capsys, single_files, monkeypatch):
    import autopipe_sd.single_file

    def broken(header):
        raise RuntimeError("a bug in detect")

    monkeypatch.setattr(autopipe_sd.single_file, "detect", broken)
    full, fast = both(["resolve", str(single_files["sdxl-base"]), "--task", "text2img"], capsys)
    assert fast is None and full[0] == 0  # the full path reports the plugin's error in its verdict and goes on with SDXL's claim


_PROBE = """
import sys
from autopipe_core import quick, snapshot
if sys.argv[1] == "save":
    from autopipe_core.registry import get_registry

    snapshot.save(get_registry())
else:
    status = quick.answer(["resolve", sys.argv[2]])  # every task: the refiner's and inpainting's refusals are answered too
    print("status", status)
    print("plugins", sorted(m for m in sys.modules if m.startswith("autopipe_") and m.count(".") == 0 and m != "autopipe_core"))
    print("modules", " ".join(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """Run the probe in a cold process: ``probe(file)`` -> its stdout, answering from a snapshot saved for it first."""
    root = tmp_path_factory.mktemp("probe")
    script = root / "probe" / "probe.py"  # its folder is sys.path[0], part of the snapshot's key: nothing else is written there
    script.parent.mkdir()
    script.write_text(_PROBE)
    env = {**os.environ, "AUTOPIPE_CACHE": str(root / "cache")}
    env.pop("AUTOPIPE_PLUGINS", None)
    subprocess.run([sys.executable, str(script), "save"], env=env, check=True)
    return lambda path: subprocess.run([sys.executable, str(script), "answer", str(path)], env=env, check=True, capture_output=True, text=True).stdout


def test_a_cold_answer_about_a_file_imports_only_the_plugins_its_keys_name(probe, single_files):
    """The point of the quick path for files: not every plugin imported and registered, only those shown the file."""
    out = probe(single_files["sd15"])
    assert "status 0" in out and "plugins ['autopipe_sd', 'autopipe_sdxl']" in out, out  # SD 1.5's conv_in is SDXL's key too


#: What a cold answer about a file never imports: the full path's registry and specs, and the standard library's and
#: pluggy's slow imports (dataclasses and pluggy import inspect, with ast, dis and tokenize; typing; pathlib, with
#: urllib). Together about 25 ms of a 40 ms run: the plugin guide asks detection modules to keep clear of them.
SLOW_IMPORTS = frozenset({
    "autopipe_core.registry", "autopipe_core.specs", "autopipe_core.plugins", "autopipe_core.sources",
    "argparse", "dataclasses", "inspect", "pathlib", "pluggy", "typing",
})


@pytest.mark.parametrize("name", [*scan_library.LAYOUTS, "sd2-v-said"])
def test_a_cold_answer_about_a_file_imports_nothing_slow(name, probe, single_files):
    """Each shipped plugin's detection module, with its package and what it imports, is light: the cold path imports
    the plugins a file's keys name, and none of them brings in the slow imports. The ControlNet file (one model, left
    to the full path's words) is probed too: its detection runs before the miss."""
    out = probe(single_files[name])
    status = "status None" if name == "controlnet-sd15" else "status 0"
    assert status in out, out
    modules = set(out.partition("modules ")[2].split())
    assert not SLOW_IMPORTS & modules, sorted(SLOW_IMPORTS & modules)


_IMPORT_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(" ".join(sorted(sys.modules)))
"""


def test_every_shipped_detection_module_imports_nothing_slow(every_plugin):
    """What the cold path imports for a plugin shown a file: the module of the detection the snapshot records (a lazy
    hook's target), with its package. The file probes above reach six plugins; this reaches every shipped one that
    detects, each in a fresh process."""
    detectors = snapshot.build(every_plugin)["detectors"]
    assert len(detectors) >= 14, detectors  # every shipped plugin that reads single files
    for plugin, _, ref, argnames in detectors:
        assert ref is not None and not ref.endswith(":autopipe_detect") and argnames == ("header",), (plugin, ref)
        module = ref.partition(":")[0]
        out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, module], check=True, capture_output=True, text=True).stdout
        slow = SLOW_IMPORTS & set(out.split())
        assert not slow, (plugin, module, sorted(slow))
