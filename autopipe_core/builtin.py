"""The core's own hook implementations: what every family shares.

``enable_pag`` is part of diffusers' AutoPipeline API for every family that
has PAG pipelines, so the core registers it here, through the same hook any
plugin would use. A family opts in by registering rows with the "pag" modifier.
"""

from __future__ import annotations

from .hookspecs import hookimpl
from .specs import ModifierSpec


def _pag(enabled: object) -> str | None:
    return "pag" if enabled else None


@hookimpl
def autopipe_modifiers() -> list[ModifierSpec]:
    return [
        ModifierSpec(
            kwarg="enable_pag", modifiers=frozenset({"pag"}), choose=_pag, consume=True,
            description="the PAG (perturbed-attention guidance) pipeline of the family, where it has one",
        )
    ]
