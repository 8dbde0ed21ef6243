"""Test support for autopipe and its plugins: the conformance kit, fixtures, and a pytest plugin.

Subclass :class:`PluginConformance` in a test module to run the contract
tests on a plugin (docs/plugin-guide.md). Set ``autopipe_plugins`` in the
suite's pytest configuration and the autopipe pytest plugin isolates every
test and provides the ``tiny_checkpoint`` fixture; a suite that does not can
import ``tiny_checkpoint`` into a conftest.py and call :func:`isolate` from a
fixture of its own. Only tests import this package: it imports pytest, and
the kit's tests import torch and diffusers.

The modules: ``kit`` (:class:`PluginConformance`), ``cases`` (what a plugin
registers and the cases each kit test runs over), ``machines`` (made-up
devices, ``gpu``), ``images`` (the kit's input images), ``isolation`` (:func:`isolate`
and the ``autopipe_plugins`` setting), ``fixtures`` (``tiny_checkpoint`` and
the isolation fixtures), ``pytest_plugin`` (the ``pytest11`` entry point), and the checks a plugin's own tests
share: ``diffusers_tables`` (diffusers' AutoPipeline tables, the pipelines taking a model class, and that a family's
rows serve them), ``registration`` (a plugin's families and rows, registered alone), ``refusal_checks`` (refusals
that say what to use), ``diffusers_single_files`` (what diffusers' single-file loading knows of a family) and
``header_files`` (full-size checkpoints whose weights are holes), ``placement_table`` (docs/placement.md's rows),
``footprint_checks`` (a footprint against the pipeline loaded), ``config_files`` (a folder's JSON, to compare
and to write) and ``plan_checks`` (a bfloat16 family's plan on the machines that decide it).
Names are imported on first use, so that the pytest plugin, loaded in every
pytest run, costs a run that does not use it nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PluginConformance": "kit",
    "public_loaders": "kit",
    "Case": "cases",
    "row_label": "cases",
    "KIT_DEVICES": "machines",
    "isolate": "isolation",
    "tiny_checkpoint": "fixtures",
    "auto_tables": "diffusers_tables",
    "pipelines_taking": "diffusers_tables",
    "keys_naming": "diffusers_tables",
    "check_rows_serve_diffusers": "diffusers_tables",
    "check_registered_alone": "registration",
    "check_refused": "refusal_checks",
    "check_no_pag_or_controlnet": "refusal_checks",
    "check_named_pipelines_exist": "refusal_checks",
    "check_no_diffusers_single_file": "diffusers_single_files",
    "header_only_file": "header_files",
    "header_only_checkpoint": "header_files",
    "gpu": "machines",
    "loaded_bytes": "footprint_checks",
    "check_counted_as_loaded": "footprint_checks",
    "json_files": "config_files",
    "check_bfloat16_plan": "plan_checks",
    "write_json_files": "config_files",
    "placements": "placement_table",
    "placement_row": "placement_table",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .cases import Case, row_label
    from .config_files import json_files, write_json_files
    from .diffusers_single_files import check_no_diffusers_single_file
    from .diffusers_tables import auto_tables, check_rows_serve_diffusers, keys_naming, pipelines_taking
    from .fixtures import tiny_checkpoint
    from .footprint_checks import check_counted_as_loaded, loaded_bytes
    from .header_files import header_only_checkpoint, header_only_file
    from .isolation import isolate
    from .kit import PluginConformance, public_loaders
    from .machines import KIT_DEVICES, gpu
    from .placement_table import placement_row, placements
    from .plan_checks import check_bfloat16_plan
    from .refusal_checks import check_named_pipelines_exist, check_no_pag_or_controlnet, check_refused
    from .registration import check_registered_alone


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
