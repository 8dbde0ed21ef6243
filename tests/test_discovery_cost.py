"""Plugin discovery reads each plugin's distribution name and version once, from its .dist-info folder's name.

`ep.dist.name` / `ep.dist.version` parse METADATA with the email parser on
every call; three calls per plugin were most of what 100 installed plugins
cost a cold `autopipe resolve` (bench/run.py, case 5). Timings are the
benchmark's; these tests keep the structure that makes them.
"""

from __future__ import annotations

import importlib.metadata as md

from autopipe_core import plugins


def _installed():
    return list(md.entry_points(group=plugins.ENTRY_POINT_GROUP))


def test_names_and_versions_from_the_folder_match_the_metadata():
    eps = _installed()
    assert eps, "no plugin installed"
    for ep in eps:
        assert plugins._dist_facts(ep) == (plugins.normalize(ep.dist.name), ep.dist.version)


def test_discovery_parses_no_metadata_file(monkeypatch):
    read = []
    original = md.PathDistribution.read_text

    def counting(self, filename):
        read.append(filename)
        return original(self, filename)

    monkeypatch.setattr(md.PathDistribution, "read_text", counting)
    _, infos = plugins.discover(None)
    assert len(infos) > 1
    assert "METADATA" not in read and "PKG-INFO" not in read, read


def test_a_folder_name_without_a_version_falls_back_to_the_metadata(tmp_path):
    info = tmp_path / "odd_name.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Odd.Name\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text("[autopipe.plugins]\nodd = odd_module\n")
    dist = md.PathDistribution(info)
    (ep,) = dist.entry_points
    assert plugins._dist_facts(ep) == ("odd-name", "2.0")


def test_the_fast_hookimpl_lookup_finds_what_pluggys_own_finds():
    import pluggy

    from autopipe_core import builtin, hookspecs

    modules = [builtin] + [ep.load() for ep in _installed()]
    fast, slow = plugins.new_manager(), pluggy.PluginManager(hookspecs.PROJECT)
    assert type(fast) is not pluggy.PluginManager  # the subclass with the module fast path
    for module in modules:
        for name in dir(module):
            assert fast.parse_hookimpl_opts(module, name) == slow.parse_hookimpl_opts(module, name), (module.__name__, name)


def test_a_plugin_that_is_not_a_module_goes_through_pluggy(tmp_path):
    from autopipe_core import hookimpl

    class Plugin:
        @hookimpl
        def autopipe_families(self):
            return []

        @property
        def boom(self):  # pluggy's lookup never runs a property; neither may ours
            raise AssertionError("property evaluated")

    pm = plugins.new_manager()
    assert plugins._register(pm, Plugin(), "instance") == ("autopipe_families",)


def test_calling_one_plugins_hook_uses_an_index_that_follows_registration():
    from autopipe_core import hookimpl

    def plugin(tag):
        class P:
            @hookimpl
            def autopipe_families(self):
                return [tag]

        return P()

    pm = plugins.new_manager()
    for i in range(5):
        pm.register(plugin(i), name=f"p{i}")
    assert [plugins.call(pm, f"p{i}", "autopipe_families") for i in range(5)] == [[i] for i in range(5)]
    pm.unregister(name="p2")
    assert plugins.call(pm, "p2", "autopipe_families") is None
    pm.register(plugin("new"), name="p2")
    assert plugins.call(pm, "p2", "autopipe_families") == ["new"]
    assert plugins.call(pm, "p1", "autopipe_modifiers") is None  # a hook it does not implement


def _scan_vs_metadata():
    scanned = plugins._scan()
    assert scanned is not None
    mine = sorted((f.name, f.value, f.dist, f.version) for f in scanned)
    theirs = sorted((e.name, e.value, *plugins._dist_facts(e)) for e in md.entry_points(group=plugins.ENTRY_POINT_GROUP))
    return mine, theirs


def test_the_folder_walk_finds_what_importlib_metadata_finds():
    mine, theirs = _scan_vs_metadata()
    assert mine == theirs and mine


def test_the_folder_walk_on_odd_folders_matches_importlib_metadata(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for root, version in ((first, "1.0"), (second, "2.0")):
        info = root / f"Dup_Plugin-{version}.dist-info"  # the same distribution twice: the first on sys.path wins
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dup-plugin\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"# a comment\n[console_scripts]\nx = y:z\n\n[autopipe.plugins]\ndup = dup_module_{version[0]}:attr.sub [extra]\n")
    egg = first / "eggy-3.1-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: eggy\nVersion: 3.1\n")
    (egg / "entry_points.txt").write_text("[autopipe.plugins]\neggy = eggy_module\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    mine, theirs = _scan_vs_metadata()
    assert mine == theirs
    assert ("dup", "dup_module_1:attr.sub [extra]", "dup-plugin", "1.0") in mine and ("eggy", "eggy_module", "eggy", "3.1") in mine


def test_a_zip_on_sys_path_hands_the_walk_to_importlib_metadata(tmp_path, monkeypatch):
    import zipfile

    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[autopipe.plugins]\nzipped = zipped_module\n")
    monkeypatch.syspath_prepend(str(archive))
    assert plugins._scan() is None
    _, infos = plugins.discover(frozenset({"zipped"}))
    assert [(i.distribution, i.version) for i in infos if i.distribution == "zipped"] == [("zipped", "1.0")]


def test_resolving_imports_no_importlib_metadata(tiny_sd):
    import json
    import subprocess
    import sys

    code = f"import sys, json\nfrom autopipe_core import resolve\nresolve({str(tiny_sd)!r}, 'text2img')\nprint(json.dumps('importlib.metadata' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


def test_the_hooks_a_module_registers_are_what_pluggy_lists():
    pm = plugins.new_manager()
    for ep in _installed():
        module = ep.load()
        hooks = plugins._register(pm, module, plugins.normalize(ep.dist.name))
        assert hooks == tuple(sorted(c.name for c in pm.get_hookcallers(module) or ())), ep.name
