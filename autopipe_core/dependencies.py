"""What a plugin distribution requires of the libraries it loads classes from, against what is installed.

A plugin's pipeline classes exist only in some releases of the library that
ships them (FLUX.2 [klein]'s from diffusers 0.37, say); its requirements say
which releases it supports. pip keeps them when it installs the plugin, but
not when diffusers is installed, upgraded or downgraded afterwards, so an
environment can hold a plugin whose classes its diffusers lacks. Then
``autopipe plugins`` names the requirement that is not met, and loading
refuses with the command that installs a supported version, instead of an
ImportError from deep inside diffusers.

Read from the installed distributions' metadata (``importlib.metadata``):
nothing is imported, the libraries included. Requirement syntax and version
order are PEP 508 and PEP 440, as ``packaging`` (which pip and huggingface_hub
use) implements them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class Unmet:
    """One requirement of `plugin` the environment does not meet: `library` `specifier` (e.g. ``>=0.42.1,<0.43``),
    with `installed` the version present, or None where the library is not installed."""

    plugin: str
    library: str
    specifier: str
    installed: str | None

    @property
    def pip(self) -> str:
        """The command that installs a version the plugin supports."""
        return f"pip install '{self.library}{self.specifier}'"

    def __str__(self) -> str:
        present = f"{self.library} {self.installed} is installed" if self.installed else f"{self.library} is not installed"
        return f"{self.plugin} needs {self.library}{self.specifier}; {present}: {self.pip}"


def unmet(plugin: str, libraries: frozenset[str] | None = None) -> tuple[Unmet, ...]:
    """The requirements of the installed distribution `plugin` (of `libraries` alone, if given) that are not met.

    Requirements behind an extra or a marker that does not hold here are left out. An unknown distribution, or
    one whose metadata cannot be read, has none (there is nothing to say about it).
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        lines = metadata.requires(plugin) or []
    except metadata.PackageNotFoundError:
        return ()
    wanted = None if libraries is None else {canonicalize_name(n) for n in libraries}
    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if (wanted is not None and name not in wanted) or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            installed: str | None = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or not req.specifier.contains(installed, prereleases=True):
            out.append(Unmet(plugin, req.name, str(req.specifier), installed))
    return tuple(out)


def library_of(class_ref: str) -> str:
    """The top-level package a class reference ``"module:Class"`` imports from (``diffusers``)."""
    return class_ref.partition(":")[0].split(".")[0]
