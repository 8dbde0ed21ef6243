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
