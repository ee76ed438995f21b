"""Policy fields of a profile take values from closed sets, and the model handles every value.

The sets are ``Literal`` types in reference_impl/profiles.py; the model ``match``es on them with
``assert_never`` (so mypy flags an unhandled value) and ``Profile`` refuses a value outside them.
Here each allowed value of each policy field runs through the model once, and a typo is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from conformance.harness import Harness
from conformance.targets.reference import ReferenceTarget
from reference_impl.profiles import DOCUMENTED, FREEBSD, LINUX, Profile, _literal_fields

CHOICES = [(name, value) for name, (allowed, many) in _literal_fields().items() if not many for value in allowed]


def test_every_policy_field_has_a_closed_set() -> None:
    assert {"init_value", "assert_value", "vif_lookup", "border_bit_from", "bw_first_interval",
            "mfc_ttls_kept_for", "vif_hole_counters", "del_vif_range", "vif_rate_limit"} <= set(_literal_fields())


@pytest.mark.parametrize("base", [DOCUMENTED, LINUX], ids=lambda p: p.name)
def test_a_value_outside_the_set_is_refused(base: Profile) -> None:
    with pytest.raises(ValueError, match="init_value = 'two' is not one of"):
        replace(base, init_value="two")  # type: ignore[arg-type]  # the typo this test is about


@pytest.mark.parametrize(("field", "value"), CHOICES, ids=[f"{f}={v}" for f, v in CHOICES])
def test_the_model_runs_with_every_allowed_value(field: str, value: Any) -> None:
    """A toy profile (FreeBSD with one policy changed) is a data change only: the model still routes."""
    toy = replace(FREEBSD, name="toy", **{field: value})
    h = Harness(ReferenceTarget(toy))
    for version in (4, 6):
        r = h.router(version, vifs=(0, 1, 2), assert_=version == 4)
        src, grp = h.src(version, 0), h.group(version)
        r.add_mfc(src, grp, parent=0, ttls={1: 1})
        sent = h.send_marked(0, version, src, grp)
        h.expect_copies(sent, {1}, f"{field}={value}, IPv{version}")
        r.del_vif(1)
        if toy.vif_hole_counters == "zeros":
            assert r.vif_count(1)["icount"] == 0
        r.close()
