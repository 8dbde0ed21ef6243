"""Helpers for tests that lay things out by hand: bare model_index folders, a hub cache, a fresh virtual environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path


def write_model_index(folder: Path, class_name: object, **components) -> Path:
    """A bare checkpoint folder: just model_index.json (and any component configs given)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": class_name, "_diffusers_version": "0.42.1"}
    for name, config in components.items():
        index[name] = ["diffusers", config.pop("_class", "UNet2DConditionModel")]
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "config.json").write_text(json.dumps(config))
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def hub_cache(cache: Path, repo_id: str, files: dict[str, Path | str], commit: str = "a" * 40, ref: str = "main") -> Path:
    """Lay files out as huggingface_hub's cache does: models--org--name/{refs,snapshots/<commit>}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for rel, src in files.items():
        dest = snapshot / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, Path):
            shutil.copyfile(src, dest)
        else:
            dest.write_text(src)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snapshot


def fresh_env(where: Path) -> Path:
    """A venv whose site-packages links every installed package of this one except autopipe's own; returns its bin/.

    What autopipe distributions it holds is then up to the test (pip install
    of wheels, no editable install), while torch, diffusers and the rest are
    the ones already installed, so nothing is downloaded.
    """
    venv.EnvBuilder(with_pip=False).create(where)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = Path(subprocess.run([str(where / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    for entry in ours.iterdir():
        name = entry.name.lower()
        if name.startswith(("autopipe", "_autopipe", "__editable__")) or name.endswith(".pth"):
            continue
        (theirs / entry.name).symlink_to(entry)
    return where / "bin"


def write_project(root: Path, dist: str, module: str, source: str, entry: str, version: str = "1.2.3") -> Path:
    """A one-module plugin project: `source` as `module`, its entry point `entry` in the group autopipe.plugins."""
    project = root / dist
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(source)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{dist}"
            version = "{version}"
            dependencies = ["autopipe-core"]
            [project.entry-points."autopipe.plugins"]
            main = "{entry}"
            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    return project


def install_plugins(root: Path, target: Path, plugins: dict[str, tuple[str, str, str]]) -> Path:
    """pip-install each plugin {distribution: (module, source, entry point value)} into `target` as a wheel; returns `target`.

    Real distributions with real .dist-info folders, so discovery goes through entry points as it does after
    `pip install`; put `target` on sys.path (or PYTHONPATH) to see them.
    """
    projects = [str(write_project(root, d, *spec)) for d, spec in plugins.items()]
    for module, _, _ in plugins.values():  # one of the same name another test imported would shadow this one
        for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
            del sys.modules[name]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), *projects],
        check=True,
        capture_output=True,
    )
    return target
