"""The install-hint table must agree with what this repository's plugins actually register."""

import pytest

from autopipe_core import registry as registry_module
from autopipe_core.known import KNOWN_CLASSES
from autopipe_core.specs import class_name

SHIPPED = ["autopipe-sd"]


@pytest.mark.parametrize("dist", SHIPPED)
def test_every_class_a_shipped_plugin_registers_points_to_it(dist):
    reg = registry_module.build(allowed=frozenset({dist}))
    classes = {class_name(ref) for row in reg.table.values() for ref, plugin in row.values() if plugin == dist}
    assert classes, f"{dist} registered nothing"
    for cls in classes:
        assert dist in KNOWN_CLASSES.get(cls, ()), f"{cls} ({dist}) is missing from autopipe_core.known"
    hinted = {cls for cls, dists in KNOWN_CLASSES.items() if dists == (dist,)}
    assert hinted <= classes | set(next(iter(reg.families.values()))[0].recognised), hinted - classes


def test_every_known_class_exists_in_diffusers():
    import diffusers

    assert [c for c in KNOWN_CLASSES if not hasattr(diffusers, c)] == []
