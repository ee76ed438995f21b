"""A profile's required set-up: the harness applies its socket options to every routing socket,
the target's info lists every step, and each step says why and where the source says so."""

from __future__ import annotations

import struct

import pytest

from conformance.harness import Harness
from conformance.targets.base import SocketHandle
from conformance.targets.reference import ReferenceTarget
from mroute_spec.options import SOCKET_OPTIONS_BY_NAME
from reference_impl.profiles import PROFILES, get_profile


class Recording(ReferenceTarget):
    """The reference target, remembering every setsockopt (level, name, value)."""

    def __init__(self, profile_name: str) -> None:
        super().__init__(get_profile(profile_name))
        self.calls: list[tuple[int, int, int]] = []

    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        self.calls.append((level, optname, struct.unpack_from("<i", value.ljust(4, b"\0"))[0]))
        return super().setsockopt(sock, level, optname, value)


@pytest.mark.parametrize("name", list(PROFILES))
@pytest.mark.parametrize("version", [4, 6])
def test_routing_sockets_get_the_profiles_socket_options(name: str, version: int) -> None:
    target = Recording(name)
    Harness(target).routing_socket(version)
    want = [(*target.profile.sockopt(s.name), s.value) for s in target.profile.required_setup
            if s.kind == "sockopt" and version in s.versions]
    assert target.calls == want


def test_freebsd_sets_the_receive_buffer_and_loopback() -> None:
    """The two facts issue 12 names: a bw batch needs a larger SO_RCVBUF; loopback off."""
    steps = {s.name: s for s in get_profile("freebsd").required_setup}
    assert steps["SO_RCVBUF"].value >= 20 + 80 * get_profile("freebsd").bw_message_max
    assert steps["IP_MULTICAST_LOOP"].value == 0 and steps["IP_MULTICAST_LOOP"].versions == (4,)
    assert steps["net.inet.ip.mcast.loop"].kind == "sysctl"


@pytest.mark.parametrize(("name", "expected"), [
    ("freebsd", [(0xFFFF, 0x1002), (0, 11)]),  # FreeBSD sys/socket.h, netinet/in.h
    ("linux", []),
])
def test_bsd_profiles_hand_the_target_bsd_option_numbers(name: str, expected: list[tuple[int, int]]) -> None:
    """A BSD agent passes numbers to its kernel unchanged, so SOL_SOCKET must be 0xffff there, not
    Linux's 1 (which FreeBSD would read as IPPROTO_ICMP)."""
    target = Recording(name)
    Harness(target).routing_socket(4)
    assert [(lvl, num) for lvl, num, _v in target.calls] == expected


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_step_is_known_explained_and_cited(name: str) -> None:
    for step in get_profile(name).required_setup:
        assert step.kind != "sockopt" or step.name in SOCKET_OPTIONS_BY_NAME, f"{name}: unknown socket option {step.name}"
        assert step.reason and step.source.startswith("docs/spec/"), f"{name}: {step.name} lacks reason or source"


@pytest.mark.parametrize("name", list(PROFILES))
def test_target_info_lists_the_set_up(name: str) -> None:
    info = ReferenceTarget(get_profile(name)).info()
    assert info.details["required_setup"] == [s.describe() for s in get_profile(name).required_setup]
