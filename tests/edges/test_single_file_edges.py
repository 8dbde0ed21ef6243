"""Single files in the core (single_file.py): pickles refused or read, every plugin's verdict, the ranking of claims."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import pytest
from toy_plugins import install

from autopipe_core import Detection, InvalidModelError, UnsafeCheckpointError, UnsupportedModelError
from autopipe_core import registry as registry_module
from autopipe_core import single_file
from autopipe_core.headers import TensorInfo, read_header, write_header
from autopipe_core.single_file import CONVERT, CONVERT_HINT, Report, Verdict, sniff_pickle

PIPE = "diffusers:StableDiffusionPipeline"


def _d(family="fam", variant="v", confidence=0.5, reason="why", **kw):
    kw.setdefault("pipeline_class", PIPE) if "component" not in kw else None
    return Detection(family, variant, confidence, reason, **kw)


def test_each_kind_of_verdict_says_what_it_is():
    assert Verdict("p", error="RuntimeError: boom").describe() == "p: raised RuntimeError: boom"
    assert Verdict("p", asked=False).describe() == "p: detects no single files"
    assert Verdict("p").describe() == "p: not one of its families"
    two = Verdict("p", (_d(variant="a", confidence=0.9), _d(variant="b", confidence=0.25, reason="other")))
    assert two.describe() == "p: fam/a (0.90: why); fam/b (0.25: other)"


def test_a_report_has_a_best_claim_or_none(tmp_path):
    header = read_header(write_header(tmp_path / "a.safetensors", {"x": ("F16", (1,))}))
    assert Report(header, (), ()).best is None and Report(header, (), ()).summary() == "no plugin is installed"
    first, second = _d(variant="a"), _d(variant="b")
    report = Report(header, (Verdict("p", (first,)), Verdict("q", asked=False)), (first, second))
    assert report.best is first and report.summary() == "p: fam/a (0.50: why); q: detects no single files"


def test_the_brief_form_names_who_said_no_and_counts_who_was_not_asked(tmp_path):
    # An error listed every plugin's verdict one by one (about 1,500 characters with the shipped plugins).
    header = read_header(write_header(tmp_path / "a.safetensors", {"x": ("F16", (1,))}))
    verdicts = (Verdict("p"), Verdict("q", asked=False), Verdict("r", error="KeyError: 'x'"), Verdict("s"), Verdict("t", asked=False))
    assert Report(header, verdicts, ()).brief() == "p, s: not one of their families; r: raised KeyError: 'x'; 2 other plugins detect no single files"
    assert Report(header, verdicts[:2], ()).brief() == "p: not one of its families; 1 other plugin detects no single files"
    assert Report(header, (), ()).brief() == "no plugin is installed"


@pytest.mark.parametrize(
    "first, what",
    [(b"\x80\x02abcdef", "a pickle (protocol 2)"), (b"\x80\x05abcdef", "a pickle (protocol 5)"), (b"\x80\x01abcdef", None), (b"\x80\x06abcdef", None),
     (b"\x80", None), (b"", None), (b"abc", None)],
)
def test_a_pickle_is_told_by_its_first_opcodes(tmp_path, first, what):
    assert sniff_pickle(first, tmp_path / "unused") == what


def test_a_torch_zip_is_told_by_its_pickle_inside(tmp_path):
    archive = tmp_path / "m.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", b"x")
    assert sniff_pickle(archive.read_bytes()[:8], archive) == "a torch.save zip archive with a pickle inside (data.pkl)"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.pkl", b"x")
    with open(archive, "rb") as f:
        assert sniff_pickle(f.read(8), f) == "a torch.save zip archive with a pickle inside (data.pkl)"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("other.txt", b"x")
    assert sniff_pickle(archive.read_bytes()[:8], archive) is None
    broken = tmp_path / "b.pt"
    broken.write_bytes(b"PK\x03\x04 not a zip at all")
    assert sniff_pickle(broken.read_bytes()[:8], broken) is None


def test_a_pickle_is_refused_by_content_or_by_suffix_saying_how_to_convert_it(tmp_path):
    by_content = tmp_path / "model.safetensors"
    by_content.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeCheckpointError) as info:
        single_file.read(by_content)
    assert str(info.value) == (
        f"{by_content} is a pickle (protocol 4). Loading a pickle runs whatever code it carries, so autopipe does not open it "
        f"unless you opt in. {CONVERT_HINT}"
    )
    by_suffix = tmp_path / "model.CKPT"
    by_suffix.write_bytes(b"\x00" * 64)
    with pytest.raises(UnsafeCheckpointError, match=r"is a \.CKPT file, the suffix of pickle checkpoints\. Loading a pickle"):
        single_file.read(by_suffix)
    json_ckpt = tmp_path / "model.ckpt"
    json_ckpt.write_bytes(b'  {"a": 1}')
    with pytest.raises(InvalidModelError):  # JSON with a pickle's suffix is not taken for a pickle
        single_file.read(json_ckpt)
    plain = tmp_path / "model.bin.txt"
    plain.write_bytes(b"\x00" * 64)
    with pytest.raises(InvalidModelError):
        single_file.read(plain)


def test_allow_pickle_reads_shapes_and_refuses_what_torch_will_not_read_safely(tmp_path):
    import torch

    good = tmp_path / "m.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2, 3, dtype=torch.float16), "b": torch.zeros(1, dtype=torch.bool), "c": torch.zeros(1, dtype=torch.complex64), 3: torch.zeros(1), "n": 5}}, good)
    header = single_file.read(good, allow_pickle=True)
    assert {k: (t.dtype, t.shape) for k, t in header.tensors.items()} == {"w": ("F16", (2, 3)), "b": ("BOOL", (1,))}
    assert header.file_size == header.header_bytes == good.stat().st_size and dict(header.metadata) == {}
    flat = tmp_path / "flat.ckpt"
    torch.save({"w": torch.zeros(4, dtype=torch.int8)}, flat)
    assert dict(single_file.read(flat, allow_pickle=True).tensors)["w"].dtype == "I8"
    listed = tmp_path / "list.ckpt"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(InvalidModelError) as info:
        single_file.read(listed, allow_pickle=True)
    assert str(info.value) == f"{listed} holds a list, not a state dict of tensors"
    nested = tmp_path / "nested.ckpt"
    torch.save({"state_dict": [1]}, nested)
    with pytest.raises(InvalidModelError, match="holds a dict, not a state dict of tensors"):
        single_file.read(nested, allow_pickle=True)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(InvalidModelError) as info:
        single_file.read(evil, allow_pickle=True)
    assert str(info.value).startswith(f"{evil}: torch could not read it with weights_only=True (UnpicklingError: ")
    assert str(info.value).endswith(CONVERT) and "pass allow_pickle" not in str(info.value)  # it was passed: no advice to pass it


@pytest.mark.parametrize("name", ["empty.ckpt", "empty.bin", "empty.pt", "empty.pth"])
@pytest.mark.parametrize("allow_pickle", [False, True])
def test_an_empty_file_with_a_pickle_suffix_is_said_empty_not_refused_as_a_pickle(tmp_path, name, allow_pickle):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InvalidModelError) as info:
        single_file.read(path, allow_pickle=allow_pickle)
    assert type(info.value) is InvalidModelError
    assert str(info.value) == f"{path} is empty (0 bytes): a download or copy that did not finish leaves such a file. Fetch it again."


DETECTS = """
from autopipe_core import Detection, FamilySpec, PipelineRow, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec({family!r}, priority={priority})] if {owns} else []

@hookimpl
def autopipe_pipelines():
    return [PipelineRow({family!r}, {{Task.TEXT2IMG: "fractions:Fraction"}})] if {owns} else []

@hookimpl
def autopipe_detect(header):
    return [Detection({family!r}, "v", {confidence}, "it said so", pipeline_class="fractions:Fraction")]
"""


def _ranked(site, plugins, prefer=()):
    names = frozenset(d if (site / f"{d.replace('-', '_')}.py").exists() else install(site, d, DETECTS.format(**spec)) for d, spec in plugins.items())
    built = registry_module.build(names, prefer=prefer)
    header = read_header(write_header(site.parent / "f.safetensors", {"x": ("F16", (1,))}))
    return [(d.plugin, d.family) for d in single_file.detect(header, built).ranked]


def test_claims_rank_by_confidence_first(site):
    plugins = {"aaa-low": dict(family="fa", priority=9, owns=True, confidence=0.5), "zzz-high": dict(family="fz", priority=0, owns=True, confidence=0.9)}
    assert _ranked(site, plugins) == [("zzz-high", "fz"), ("aaa-low", "fa")]
    assert _ranked(site, plugins, prefer=("aaa-low",)) == [("aaa-low", "fa"), ("zzz-high", "fz")]


def test_at_equal_confidence_the_familys_owner_then_its_priority_then_the_name(site):
    plugins = {"aaa-guest": dict(family="fz", priority=0, owns=False, confidence=0.5), "zzz-owner": dict(family="fz", priority=0, owns=True, confidence=0.5)}
    assert _ranked(site, plugins) == [("zzz-owner", "fz"), ("aaa-guest", "fz")]


def test_at_equal_confidence_and_no_owner_the_higher_priority_then_the_name(site):
    plugins = {"aaa-p1": dict(family="fa", priority=1, owns=True, confidence=0.5), "zzz-p5": dict(family="fz", priority=5, owns=True, confidence=0.5),
               "mmm-p5": dict(family="fm", priority=5, owns=True, confidence=0.5)}
    assert _ranked(site, plugins) == [("mmm-p5", "fm"), ("zzz-p5", "fz"), ("aaa-p1", "fa")]


def test_a_plugin_raising_in_detection_is_its_verdict_and_the_others_answer(site, tmp_path):
    good = install(site, "aaa-good", DETECTS.format(family="fa", priority=0, owns=True, confidence=0.5))
    bad = install(site, "zzz-bad", "from autopipe_core import hookimpl\n\n@hookimpl\ndef autopipe_detect(header):\n    raise KeyError('tensor')\n")
    quiet = install(site, "mmm-quiet", "from autopipe_core import FamilySpec, hookimpl\n\n@hookimpl\ndef autopipe_families():\n    return [FamilySpec('fm')]\n")
    built = registry_module.build(frozenset({good, bad, quiet}))
    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    report = single_file.detect(header, built)
    verdicts = {v.plugin: v for v in report.verdicts}
    assert verdicts[bad].error.startswith("KeyError: 'tensor' (at ") and verdicts[quiet].asked is False and verdicts[good].detections
    assert [d.plugin for d in report.ranked] == [good]
    with pytest.raises(UnsupportedModelError) as info:
        single_file.identify_detection(tmp_path / "f.safetensors", Report(header, report.verdicts, ()), built)
    assert str(info.value) == (
        f"{tmp_path / 'f.safetensors'}: no installed plugin recognises this checkpoint (1 tensors). What each said: {Report(header, report.verdicts, ()).brief()}. "
        "If it is a diffusers pipeline saved as one file of a family not listed, install that family's plugin; `autopipe inspect FILE` shows what its header holds."
    )


def test_a_component_file_says_how_to_use_it_and_a_missing_config_folder_says_reinstall(tmp_path):
    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    component = _d(component="diffusers:ControlNetModel", use="Pass it as controlnet=.", plugin="autopipe-controlnet")
    with pytest.raises(UnsupportedModelError) as info:
        single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (component,)), registry_module.get_registry())
    assert str(info.value) == f"{tmp_path / 'f.safetensors'} is fam/v (why; autopipe-controlnet): one model, ControlNetModel, not a pipeline. Pass it as controlnet=."
    broken = _d(config=str(tmp_path), plugin="autopipe-sd")
    with pytest.raises(InvalidModelError) as info:
        single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (broken,)), registry_module.get_registry())
    assert str(info.value) == f"autopipe-sd detected {tmp_path / 'f.safetensors'} as fam/v but its config folder {tmp_path} has no model_index.json: reinstall autopipe-sd"
    bare = single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (_d(),)), registry_module.get_registry())
    assert (bare.origin, bare.class_name, dict(bare.components), dict(bare.configs), bare.files) == ("file", "StableDiffusionPipeline", {}, {}, ("f.safetensors",))


def test_a_detected_file_reads_only_the_configs_its_family_wants(tmp_path):
    from autopipe_sd.single_file import config_folder

    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    detection = _d(family="stable-diffusion", config=str(config_folder("sd1-inpainting")), plugin="autopipe-sd", pipeline_class="diffusers:StableDiffusionInpaintPipeline")
    identity = single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (detection,)), registry_module.get_registry())
    assert identity.class_name == "StableDiffusionInpaintPipeline" and identity.detection is detection
    assert set(identity.configs) == {"unet"} and identity.configs["unet"]["in_channels"] == 9
    assert identity.components["unet"] == ("diffusers", "UNet2DConditionModel") and identity.reference == str(tmp_path / "f.safetensors")


def test_a_two_byte_pickle_is_still_told_by_its_opcodes(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x80\x02")  # a pickle's protocol opcode, and nothing after it
    assert sniff_pickle(b"\x80\x02", path) == "a pickle (protocol 2)"
    with pytest.raises(UnsafeCheckpointError, match=r"model\.safetensors is a pickle \(protocol 2\)\. Loading a pickle runs"):
        single_file.read(path)


def _saved_on_a_gpu(tmp_path):
    """A torch.save checkpoint whose tensor says it was saved on cuda:0, as most training runs write them.

    Written on the CPU, then its storage location rewritten in data.pkl: this machine may have no GPU."""
    import torch

    cpu = tmp_path / "cpu.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2, 3)}}, cpu)
    gpu = tmp_path / "gpu.ckpt"
    with zipfile.ZipFile(cpu) as source, zipfile.ZipFile(gpu, "w", zipfile.ZIP_STORED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("data.pkl"):
                assert data.count(b"X\x03\x00\x00\x00cpu") == 1
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            target.writestr(name, data)
    return gpu


def test_allow_pickle_reads_a_checkpoint_saved_on_a_gpu_without_one_and_the_header_is_the_files(tmp_path):
    path = _saved_on_a_gpu(tmp_path)
    header = single_file.read(path, allow_pickle=True)  # the tensors go to the meta device: no GPU, no data read
    assert dict(header.tensors) == {"w": TensorInfo("F32", (2, 3))}
    assert header.path == str(path) and header.file_size == header.header_bytes == path.stat().st_size
    with pytest.raises(TypeError):
        header.metadata["k"] = "v"  # read-only like a safetensors header's


def test_allow_pickle_never_unpickles_code_even_when_the_environment_forces_torch_to(tmp_path, monkeypatch):
    import torch

    class Code:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "code.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": Code()}, protocol=2))
    with pytest.raises(Exception) as torch_says:
        torch.load(path, map_location="meta", weights_only=True)
    cause = torch_says.value
    assert len(str(cause)) > 200  # torch's explanation is long: the error quotes its first 200 characters
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch honours it only where weights_only is not passed
    with pytest.raises(InvalidModelError) as info:
        single_file.read(path, allow_pickle=True)
    assert str(info.value) == f"{path}: torch could not read it with weights_only=True ({type(cause).__name__}: {str(cause)[:200]}). {CONVERT}"


def test_a_plugins_typed_error_is_its_verdict_word_for_word_and_the_plugins_after_it_answer(site, tmp_path):
    typed = install(site, "aaa-typed", """
        from autopipe_core import InvalidModelError, hookimpl

        @hookimpl
        def autopipe_detect(header):
            try:
                raise KeyError("inner")
            except KeyError as exc:
                raise InvalidModelError("the header is not one of ours to judge") from exc
    """)
    broken = install(site, "aab-broken", "raise ImportError('cannot import me')\n")
    good = install(site, "zzz-good", DETECTS.format(family="fz", priority=0, owns=True, confidence=0.5))
    built = registry_module.build(frozenset({typed, broken, good}))
    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    report = single_file.detect(header, built)
    assert [(v.plugin, v.error, v.asked) for v in report.verdicts] == [
        ("autopipe-core", None, False), (typed, "the header is not one of ours to judge", True), (good, None, True),
    ]
    assert [d.plugin for d in report.ranked] == [good]  # asked after a plugin that raised and one that failed to import


def test_a_claim_for_a_family_nobody_registers_ranks_as_priority_zero_and_equal_claims_keep_their_order(site):
    plugins = {
        "mmm-owner": dict(family="fo", priority=0, owns=True, confidence=0.5),
        "bbb-guest": dict(family="fo", priority=0, owns=False, confidence=0.5),
        "zzz-ghost": dict(family="ghost", priority=0, owns=False, confidence=0.5),  # no plugin registers "ghost"
    }
    assert _ranked(site, plugins) == [("mmm-owner", "fo"), ("bbb-guest", "fo"), ("zzz-ghost", "ghost")]
    twice = install(site, "two-claims", """
        from autopipe_core import Detection, hookimpl

        @hookimpl
        def autopipe_detect(header):
            return [Detection("fa", "first", 0.5, "one reading", pipeline_class="fractions:Fraction"),
                    Detection("fa", "second", 0.5, "another", pipeline_class="fractions:Fraction")]
    """)
    header = read_header(write_header(site.parent / "g.safetensors", {"x": ("F16", (1,))}))
    ranked = single_file.detect(header, registry_module.build(frozenset({twice}))).ranked
    assert [d.variant for d in ranked] == ["first", "second"]


def test_identify_file_asks_the_registry_given_and_refuses_a_pickle_by_default(site, tmp_path):
    toy = install(site, "toy-detects", DETECTS.format(family="fz", priority=0, owns=True, confidence=0.5))
    built = registry_module.build(frozenset({toy}))
    path = write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))})
    identity = single_file.identify_file(path, built)
    assert (identity.origin, identity.class_name, identity.detection.plugin) == ("file", "Fraction", toy)
    ckpt = tmp_path / "m.ckpt"
    ckpt.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(UnsafeCheckpointError):
        single_file.identify_file(ckpt, built)


def _config_folder(tmp_path, index: str, unet: str):
    folder = tmp_path / "configs"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(index)
    (folder / "unet" / "config.json").write_text(unet)
    return folder


def test_a_detected_files_identity_is_its_class_components_and_the_configs_wanted(tmp_path):
    from autopipe_core.specs import Identity

    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    index = json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    folder = _config_folder(tmp_path, index, json.dumps({"in_channels": 4}))
    sd = _d(family="stable-diffusion", config=str(folder), plugin="autopipe-sd")
    identity = single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (sd,)), registry_module.get_registry())
    assert identity == Identity("file", str(tmp_path / "f.safetensors"), "StableDiffusionPipeline", {"unet": ("diffusers", "UNet2DConditionModel")},
                                {"unet": {"in_channels": 4}}, ("f.safetensors",), (), sd)
    unknown = _d(family="fam", config=str(folder), plugin="somebody", pipeline_class="fractions:Fraction")  # a class no family lists
    other = single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (unknown,)), registry_module.get_registry())
    assert (other.class_name, dict(other.components), dict(other.configs)) == ("Fraction", {"unet": ("diffusers", "UNet2DConditionModel")}, {})


def test_a_broken_shipped_config_is_named_as_the_plugins(tmp_path):
    header = read_header(write_header(tmp_path / "f.safetensors", {"x": ("F16", (1,))}))
    index = json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    for name, (index_text, unet_text), broken in [
        ("index", ("{not json", "{}"), "autopipe-sd's model_index.json"),
        ("unet", (index, "{not json"), "autopipe-sd's unet/config.json"),
    ]:
        folder = _config_folder(tmp_path / name, index_text, unet_text)
        sd = _d(family="stable-diffusion", config=str(folder), plugin="autopipe-sd")
        with pytest.raises(InvalidModelError) as info:
            single_file.identify_detection(tmp_path / "f.safetensors", Report(header, (), (sd,)), registry_module.get_registry())
        assert str(info.value).startswith(f"{broken} ({folder / ('model_index.json' if name == 'index' else 'unet/config.json')}) is not valid JSON")


@pytest.mark.parametrize(
    "content, refused",
    [
        (b"\x0c{\"a\": 1}", UnsafeCheckpointError),  # a form feed is no JSON blank: not JSON, so the suffix counts
        (b"XX{\"a\": 1}", UnsafeCheckpointError),
        (b"  [1, 2, 3]", InvalidModelError),  # JSON (an array) under a pickle's suffix: said to be JSON
        (b" " * 8 + b'{"a": 1}', InvalidModelError),  # JSON after more blanks than the 8 bytes sniffed
        (b" " * (8 + 4096) + b'{"a": 1}', UnsafeCheckpointError),  # past the 8 + 4096 bytes the header reader looks at
    ],
)
def test_a_pickle_suffix_counts_only_on_a_file_that_is_not_json(tmp_path, content, refused):
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(refused) as info:
        single_file.read(path)
    if refused is InvalidModelError:
        assert type(info.value) is InvalidModelError and "is a JSON file, not a safetensors weight file" in str(info.value)


def test_a_fifo_is_refused_as_not_a_checkpoint_file(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(InvalidModelError) as info:
        single_file.read(fifo)
    assert str(info.value).endswith("is not a regular file (a FIFO, a device or a socket), so it is not a checkpoint file. Replace it with the real file.")


def test_a_large_pickle_is_refused_after_its_first_bytes_in_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "model.ckpt"
    with open(path, "wb") as f:
        f.write(b"\x00" * 64)
        f.truncate(256 << 20)  # 256 MiB of a hole: a checkpoint-sized file the disk does not store
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeCheckpointError):
            single_file.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("names, seen", [
    ({"conv_in.weight": ("F16", (32, 4, 3, 3)), "down_blocks.0.resnets.0.conv1.weight": ("F16", (32, 32, 3, 3))}, "conv_in.weight"),
    ({"unet.conv_in.weight": ("F16", (32, 4, 3, 3)), "vae.encoder.conv_in.weight": ("F16", (32, 3, 3, 3))}, "unet.conv_in.weight"),
    ({"text_model.embeddings.token_embedding.weight": ("F16", (10, 4))}, "text_model.embeddings.token_embedding.weight"),
])
def test_a_file_in_diffusers_own_layout_is_said_to_be_one_not_of_a_family_to_install(tmp_path, names, seen):
    # A newcomer saved the tiny pipeline's UNet (and the whole pipeline, prefixed unet./vae.) as one file: the error
    # said to install the family's plugin, though autopipe-sd was installed; single files are read in the original layout.
    path = write_header(tmp_path / "f.safetensors", names)
    with pytest.raises(UnsupportedModelError) as info:
        single_file.identify_file(path)
    text = str(info.value)
    assert f"Its tensor names are in diffusers' or transformers' own layout ({seen}" in text
    assert "install that family's plugin" not in text and len(text) < 900, text


def test_an_original_layout_file_nobody_claims_is_not_taken_for_diffusers_layout(tmp_path):
    path = write_header(tmp_path / "f.safetensors", {"first_stage_model.encoder.conv_in.weight": ("F16", (32, 3, 3, 3)), "model.x": ("F16", (1,))})
    with pytest.raises(UnsupportedModelError) as info:
        single_file.identify_file(path)
    assert "own layout" not in str(info.value) and "install that family's plugin" in str(info.value)


KEYED = """
from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.rows import lazy_hooks

@hookimpl
def autopipe_families():
    return [FamilySpec("keyed")]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("keyed", {Task.TEXT2IMG: "fractions:Fraction"})]

@hookimpl
def autopipe_detect_keys():
    return ["bare.img_in.weight", "model.img_in.weight"]

globals().update(lazy_hooks(__name__, autopipe_detect="keyed_detection:detect"))
"""

KEYED_DETECTION = """
from autopipe_core import Detection

def detect(header):
    if "bare.img_in.weight" in header.tensors or "model.img_in.weight" in header.tensors:
        return Detection("keyed", "v", 0.9, "img_in", pipeline_class="fractions:Fraction")
    return None
"""


@pytest.mark.detect_keys_unchecked  # conftest's check would show the foreign file to every plugin, importing keyed_detection
def test_a_plugin_is_shown_only_files_holding_one_of_its_detect_keys_and_its_detection_module_stays_unimported(site, tmp_path):
    import sys

    (site / "keyed_detection.py").write_text(KEYED_DETECTION)
    sys.modules.pop("keyed_detection", None)
    keyed = install(site, "keyed-plugin", KEYED)
    other = install(site, "aaa-other", DETECTS.format(family="fa", priority=0, owns=True, confidence=0.5))
    built = registry_module.build(frozenset({keyed, other}))
    assert built.detect_keys == {keyed: frozenset({"bare.img_in.weight", "model.img_in.weight"})}  # aaa-other gave none: shown every file

    foreign = read_header(write_header(tmp_path / "foreign.safetensors", {"x": ("F16", (1,))}))
    report = single_file.detect(foreign, built)
    verdicts = {v.plugin: v for v in report.verdicts}
    assert verdicts[keyed] == Verdict(keyed, keys_absent=True)
    assert verdicts[keyed].describe() == f"{keyed}: not one of its families (the file holds none of its autopipe_detect_keys)"
    assert verdicts[other].keys_absent is False and report.brief().startswith(f"{keyed}: not one of its families")
    assert [d.plugin for d in report.ranked] == [other] and "keyed_detection" not in sys.modules

    for name in ("bare.img_in.weight", "model.img_in.weight"):  # either key will do
        mine = read_header(write_header(tmp_path / "mine.safetensors", {name: ("F16", (2, 2)), "x": ("F16", (1,))}))
        report = single_file.detect(mine, built)
        assert [(d.plugin, d.family) for d in report.ranked] == [(keyed, "keyed"), (other, "fa")]
    assert "keyed_detection" in sys.modules


@pytest.mark.parametrize("answer, said", [
    ("'img_in.weight'", "must return a list of str, not str"),
    ("[b'img_in.weight']", "must return str objects, got bytes"),
    ("['img_in.weight', 'model.diffusion_model.']", "returned 'model.diffusion_model.', which is a prefix, not a tensor name"),
    ("['']", "returned '', which is a prefix, not a tensor name"),
])
def test_a_malformed_detect_keys_answer_leaves_the_plugin_out_by_name(site, answer, said):
    bad = install(site, "bad-keys", f"from autopipe_core import hookimpl\n\n@hookimpl\ndef autopipe_detect_keys():\n    return {answer}\n")
    built = registry_module.build(frozenset({bad}))
    info = next(p for p in built.plugins if p.distribution == bad)
    assert not info.ok and "autopipe_detect_keys" in info.error and said in info.error and bad not in built.detect_keys
