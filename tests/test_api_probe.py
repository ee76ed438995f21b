"""The harness's advanced-API probe on model targets built here (a self-check, not a certification test).

``h.require_api`` must turn an absent advanced API (a failed MRT_API_SUPPORT probe or a missing
feature bit) into the outcome ``unsupported`` with its reason, and let a present one through.
These run their own ReferenceTarget whatever the suite's target is, so they live in tests/; the
suite's clause ``api.absent`` is checked on the target itself by
``conformance/suite/test_api.py::test_target_api_presence_matches_profile``.
"""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from conformance.harness import Harness
from conformance.harness.expect import errname
from conformance.outcomes import UNSUPPORTED_PREFIX
from conformance.targets.reference import ReferenceTarget
from mroute_spec.constants import (
    MRT_MFC_BW_UPCALL,
    MRT_MFC_FLAGS_BORDER_VIF,
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
    MRT_MFC_RP,
)
from reference_impl.profiles import DOCUMENTED, LINUX

DISABLE, BORDER, RP = MRT_MFC_FLAGS_DISABLE_WRONGVIF, MRT_MFC_FLAGS_BORDER_VIF, MRT_MFC_RP
DEFINED = DISABLE | BORDER | RP | MRT_MFC_BW_UPCALL  # the feature bits the spec defines

WITHOUT_API = {
    # Linux: its ABI has no MRT_API_SUPPORT; the probe (the spec's number) fails with ENOPROTOOPT
    "linux": (LINUX, 0, errname(errno.ENOPROTOOPT)),
    # a BSD-numbered kernel without the advanced API: the getsockopt is refused (EOPNOTSUPP)
    "bsd-without-api": (
        replace(DOCUMENTED, name="bsd-no-api", api_support=None),
        0,
        errname(errno.EOPNOTSUPP),
    ),
    # the probe works but lacks the feature asked for
    "feature-missing": (replace(DOCUMENTED, name="no-rp", api_support=DISABLE | BORDER), RP, "lacks 0x100"),
}


@pytest.mark.parametrize("case", list(WITHOUT_API))
def test_absent_api_is_unsupported(case: str) -> None:
    """h.require_api turns an absent API (failed probe, missing bit) into ``unsupported`` and says why."""
    model, bits, reason = WITHOUT_API[case]
    hh = Harness(ReferenceTarget(model))
    with pytest.raises(pytest.skip.Exception) as outcome:
        hh.require_api(bits)
    message = str(outcome.value)
    assert message.startswith(UNSUPPORTED_PREFIX), (
        f"an absent API gave a plain skip, not unsupported: {message!r}"
    )
    assert reason in message, f"the unsupported reason does not say {reason!r}: {message!r}"


def test_present_api_is_not_unsupported() -> None:
    """The control: a model with the API passes the probe and reports its support bits."""
    assert Harness(ReferenceTarget(DOCUMENTED)).require_api(DEFINED) == DOCUMENTED.api_support
