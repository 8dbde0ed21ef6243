"""Files autopipe writes are whole or absent, under unpredictable names, and never written through a planted link."""

import os
import subprocess
import sys

import pytest

from autopipe_core.files import write_atomic
from autopipe_core.tiny import remove_stale_staging, tiny_checkpoint


def test_a_planted_link_at_the_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.png"
    target.symlink_to(victim)
    write_atomic(target, lambda f: f.write(b"image"))
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_bytes() == b"image"


def test_a_link_planted_under_the_old_guessable_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / f".out.png.{os.getpid()}.tmp").symlink_to(victim)  # the name the writer used to use
    write_atomic(tmp_path / "out.png", lambda f: f.write(b"image"))
    assert victim.read_text() == "precious" and (tmp_path / "out.png").read_bytes() == b"image"


def test_a_failed_write_leaves_the_target_as_it_was_and_no_temporary_file(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def fails(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomic(target, fails)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "out.png", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_staging_left_by_a_killed_build_is_removed_and_a_live_one_kept(tmp_path):
    dead = tmp_path / f".staging-{_dead_pid()}-abc123"
    (dead / "checkpoint").mkdir(parents=True)
    alive = tmp_path / f".staging-{os.getppid()}-def456"  # the test runner's parent: alive
    alive.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    planted = tmp_path / f".staging-{_dead_pid()}-link"
    planted.symlink_to(victim, target_is_directory=True)
    removed = remove_stale_staging(tmp_path)
    assert set(removed) == {dead, planted}
    assert not dead.exists() and not planted.is_symlink() and alive.is_dir()
    assert (victim / "keep.txt").read_text() == "precious"  # the link was unlinked, not followed


def test_the_next_build_cleans_up_and_a_planted_link_at_the_checkpoint_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPIPE_CACHE", str(tmp_path / "cache"))
    from autopipe_core.registry import get_registry

    registry = get_registry()
    owner = registry.families["stable-diffusion"][1]
    version = next(p.version for p in registry.plugins if p.distribution == owner)
    tiny = tmp_path / "cache" / "tiny"
    tiny.mkdir(parents=True)
    stale = tiny / f".staging-{_dead_pid()}-zzz"
    (stale / "checkpoint").mkdir(parents=True)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["os", "system"]}')
    (tiny / f"stable-diffusion-{owner}-{version}").symlink_to(fake, target_is_directory=True)
    path, built = tiny_checkpoint("stable-diffusion")
    assert built and not path.is_symlink() and (path / "unet" / "config.json").is_file()
    assert not stale.exists() and (fake / "model_index.json").is_file()
