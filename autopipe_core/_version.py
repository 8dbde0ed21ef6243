"""The version of autopipe-core: one place, read by the package and by the build (pyproject.toml's dynamic version)."""

__version__ = "0.1.0"
