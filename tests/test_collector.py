"""The collector during a load (collector.py): survivors of a full pass frozen, nothing kept after, the caller's settings left alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import weakref

import pytest

from autopipe_core.collector import survivors_frozen


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def a_plain_collector():
    """Every test starts and ends with the collector on and nothing frozen, as a plain process has it."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    callbacks = list(gc.callbacks)
    yield
    assert gc.callbacks == callbacks
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_what_survives_a_full_pass_is_frozen_until_the_load_ends_and_then_collected():
    with survivors_frozen():
        survivor = Node()
        gone = weakref.ref(survivor)
        gc.collect()  # a full pass: the survivor, and the rest of the heap, move to the permanent generation
        assert gc.get_freeze_count() > 0
        del survivor
        gc.collect()
        assert gone() is not None  # frozen: the cycle waits for the load to end
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None  # nothing is kept after the load


def test_a_cycle_that_dies_before_any_full_pass_is_collected_during_the_load():
    with survivors_frozen():
        young = Node()
        gone = weakref.ref(young)
        del young
        gc.collect()
        assert gone() is None


def test_the_window_closes_however_the_load_ends():
    with pytest.raises(RuntimeError, match="load failed"):
        with survivors_frozen():
            gc.collect()
            assert gc.get_freeze_count() > 0
            raise RuntimeError("load failed")
    assert gc.get_freeze_count() == 0


def test_a_process_with_frozen_objects_of_its_own_keeps_them_frozen():
    gc.freeze()  # as a server does before forking its workers
    theirs = gc.get_freeze_count()
    try:
        with survivors_frozen():
            Node()
            gc.collect()
            assert gc.get_freeze_count() == theirs  # nothing of ours frozen
        assert gc.get_freeze_count() == theirs  # and theirs not unfrozen
    finally:
        gc.unfreeze()


def test_a_collector_switched_off_stays_off_and_nothing_is_frozen():
    gc.disable()
    try:
        with survivors_frozen():
            gc.collect()
            assert gc.get_freeze_count() == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_nested_and_concurrent_loads_share_one_window_the_last_closes_it():
    inside, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_load():
        with survivors_frozen():
            inside.set()
            release.wait(10)
        done.set()

    with survivors_frozen():
        thread = threading.Thread(target=other_load)
        thread.start()
        inside.wait(10)
        with survivors_frozen():  # nested, as a connected pipeline's prior loads inside its decoder's load
            gc.collect()
        assert gc.get_freeze_count() > 0  # the inner window ended; the outer one is still open
    assert gc.get_freeze_count() > 0  # this thread's load ended; the other thread's is still open
    gc.collect()
    release.set()
    thread.join(10)
    assert done.is_set()
    assert gc.get_freeze_count() == 0


# A cold process, as a user's: diffusers' import and the load make the full passes themselves. Prints the freeze
# count seen at the end of each full pass while the pipeline loads, and what is left after.
LOAD = """
import gc, json, sys
seen = []
def record(phase, info):
    if phase == "stop" and info["generation"] == 2:
        seen.append(gc.get_freeze_count())
from autopipe_core import AutoPipelineForText2Image
callbacks = list(gc.callbacks)
gc.callbacks.insert(0, record)
how = getattr(AutoPipelineForText2Image, sys.argv[1])
pipe = how(sys.argv[2])
gc.callbacks.remove(record)
print(json.dumps({"class": type(pipe).__name__, "seen": seen, "frozen_after": gc.get_freeze_count(), "callbacks_kept": gc.callbacks == callbacks}))
"""


@pytest.fixture(scope="module")
def tiny_sd_file(tmp_path_factory):
    from autopipe_sd.tiny import build_single_file

    return build_single_file(tmp_path_factory.mktemp("collector") / "tiny-sd.safetensors")


@pytest.mark.parametrize("how", ["from_pretrained", "from_single_file"])
def test_a_cold_load_freezes_the_survivors_of_its_full_passes_and_leaves_nothing_frozen(how, tiny_checkpoint, tiny_sd_file):
    source = tiny_checkpoint("stable-diffusion") if how == "from_pretrained" else tiny_sd_file
    out = subprocess.run([sys.executable, "-c", LOAD, how, str(source)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["class"] == "StableDiffusionPipeline"
    # the first full pass in the load finds nothing frozen; each one after finds what the ones before left
    assert got["seen"] and got["seen"][0] == 0 and max(got["seen"]) > 100_000, got["seen"]
    assert got["frozen_after"] == 0 and got["callbacks_kept"]
