"""Put back, one at a time, the one-line bugs the test audit planted that no test caught, and run the tests meant to catch each.

The audit (../shared/test-audit.md, at commit 84e6c05) put 24 plausible one-line bugs into the core, the plugins
and the kit; for 12 of them no test failed. The code has moved since, so each bug is written here against today's
code: the text it replaces and the text it puts in. For each, this script copies the core and the plugins'
sources into a temporary folder, plants the bug there (the repository is never touched), and runs the tests named
for it with that folder first on PYTHONPATH. A bug is caught when its tests fail; the script exits non-zero if
any bug is not caught, or if its text is no longer in the code (then update the bug here).

    .venv/bin/python mutation/replant.py            # all of them
    .venv/bin/python mutation/replant.py guard      # the bugs whose name contains "guard"
    .venv/bin/python mutation/replant.py kit        # the kit's (see KIT)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDGES = "tests/test_refactor_edges.py"

#: name -> (file, original text, planted text, tests that must fail)
BUGS: dict[str, tuple[str, str, str, list[str]]] = {
    "resolve: controlnet=None passed on to the class": (
        "autopipe_core/resolve.py",
        "if registered is not None and (registered[0].consume or value is None):",
        "if registered is not None and registered[0].consume:",
        [f"{EDGES}::test_a_modifier_set_to_none_and_a_consumed_one_never_reach_the_class"],
    ),
    "switch: no check for a component the target needs": (
        "autopipe_core/switch.py",
        "missing = sorted(expected - optional_components - set(init))",
        "missing = []",
        [f"{EDGES}::test_from_pipe_to_a_class_needing_a_component_the_source_lacks_says_which_and_how"],
    ),
    "headers: negative tensor start offset accepted (fast path)": (
        "autopipe_core/headers.py",
        "0 <= start < _USIZE and 0 <= end < _USIZE",
        "start < _USIZE and 0 <= end < _USIZE",
        [f"{EDGES}::test_a_negative_tensor_offset_is_refused_as_such_whatever_the_key_order"],
    ),
    "headers: negative tensor start offset accepted (checked path)": (
        "autopipe_core/headers.py",
        "if not _usizes(offsets) or len(offsets) != 2:",
        "if not _usizes(offsets[1:]) or len(offsets) != 2:",
        [f"{EDGES}::test_a_negative_tensor_offset_is_refused_as_such_whatever_the_key_order"],
    ),
    "autopipe-sd: depth (5) and InstructPix2Pix (8) channel UNets claimed as plain SD": (
        "plugins/autopipe-sd/src/autopipe_sd/single_file.py",
        "if known is None or conv_in[1] not in (4, 9):",
        "if known is None:",
        ["plugins/autopipe-sd/tests/test_sd_detection.py::test_depth_and_instruct_pix2pix_unets_are_not_claimed"],
    ),
    "autopipe-sdxl: Playground v2.5 (edm_mean) claimed as SDXL base": (
        "plugins/autopipe-sdxl/src/autopipe_sdxl/single_file.py",
        'if "edm_mean" in header.tensors:',
        'if "edm_mean" in header.metadata:',
        ["plugins/autopipe-sdxl/tests/test_sdxl_detection.py::test_playground_v2_5_is_not_claimed_as_sdxl"],
    ),
    "guard: torch allowed in model_index.json": (
        "autopipe_core/guard.py",
        'ALLOWED_LIBRARIES = frozenset({"diffusers", "transformers"})',
        'ALLOWED_LIBRARIES = frozenset({"diffusers", "transformers", "torch"})',
        [f"{EDGES}::test_a_library_that_is_not_diffusers_or_transformers_is_refused_before_loading"],
    ),
    "registry: a family's own plugin no longer wins its rows": (
        "autopipe_core/registry.py",
        "return (pref, plugin != owner, -priority, plugin)",
        "return (pref, -priority, plugin)",
        [f"{EDGES}::test_a_familys_own_plugin_wins_its_rows_over_a_plugin_whose_name_sorts_first"],
    ),
    "plugins: SystemExit at a plugin's import not isolated": (
        "autopipe_core/plugins.py",
        "except BaseException as exc:  # noqa: BLE001 - SystemExit, CancelledError, GeneratorExit too",
        "except Exception as exc:  # noqa: BLE001 - SystemExit, CancelledError, GeneratorExit too",
        [f"{EDGES}::test_a_plugin_exiting_at_import_is_reported_and_the_others_load"],
    ),
    "registry: SystemExit in a load-time hook not turned into a PluginError": (
        "autopipe_core/registry.py",
        "except BaseException as exc:  # noqa: BLE001 - a plugin's bug is reported as such",
        "except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported as such",
        [f"{EDGES}::test_a_plugin_exiting_in_a_load_time_hook_is_a_plugin_error_naming_it"],
    ),
    "loading: model and sequential CPU offload swapped": (
        "autopipe_core/loading.py",
        'elif load_plan.placement == "model_cpu_offload":\n        pipeline.enable_model_cpu_offload(',
        'elif load_plan.placement == "model_cpu_offload":\n        pipeline.enable_sequential_cpu_offload(',
        [f"{EDGES}::test_model_cpu_offload_moves_whole_models_and_sequential_offload_moves_each_layer"],
    ),
    "specs: sharded fp16 files (model.fp16-00001-of-00002) not seen as the variant": (
        "autopipe_core/specs.py",
        'markers = (f".{variant}.", f".{variant}-")',
        'markers = (f".{variant}.",)',
        [f"{EDGES}::test_sharded_and_single_half_precision_files_are_seen_as_the_variant"],
    ),
}

#: The audit's kit bug, caught by tests/test_conformance_kit.py::test_the_from_pipe_check_switches_from_another_task.
#: Run with the argument "kit".
KIT: dict[str, tuple[str, str, str, list[str]]] = {
    "kit: the from_pipe check switches a pipeline to its own task": (
        "autopipe_core/testing/kit.py",
        "return next((t for t in claimed if t is not task and does(t)), task)",
        "return next((t for t in claimed if does(t)), task)",
        ["tests/test_conformance_kit.py"],
    ),
}


def plant(name: str) -> bool:
    path, original, planted, tests = {**BUGS, **KIT}[name]
    with tempfile.TemporaryDirectory(prefix="replant-") as tmp:
        tmp = Path(tmp)
        shutil.copytree(ROOT / "autopipe_core", tmp / "autopipe_core", ignore=shutil.ignore_patterns("__pycache__"))
        paths = [str(tmp)]
        for plugin in sorted((ROOT / "plugins").iterdir()):
            if (plugin / "src").is_dir():
                shutil.copytree(plugin / "src", tmp / "plugins" / plugin.name / "src", ignore=shutil.ignore_patterns("__pycache__"))
                paths.append(str(tmp / "plugins" / plugin.name / "src"))
        target = tmp / path
        text = target.read_text()
        if text.count(original) != 1:
            print(f"NOT FOUND  {name}: {path} no longer holds {original!r} once: update mutation/replant.py")
            return False
        target.write_text(text.replace(original, planted))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        run = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-x", "-p", "no:randomly", *tests], cwd=ROOT, env=env, capture_output=True, text=True)
        summary = (run.stdout.strip().splitlines() or [""])[-1]
        if run.returncode == 1:
            print(f"caught     {name}: {summary}")
            return True
        print(f"NOT CAUGHT {name} (pytest exit {run.returncode}): {summary}")
        return False


def main(argv: list[str]) -> int:
    names = [n for n in {**BUGS, **KIT} if (not argv and n in BUGS) or any(a in n for a in argv)]
    return 0 if all([plant(n) for n in names]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
