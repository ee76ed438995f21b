"""What differs between the IPv4 and IPv6 routing APIs in name only.

The forwarding logic is shared; a ``Family`` supplies option names, struct names, errno path
prefixes and address rules, so no behaviour is written twice.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from mroute_spec.constants import AF_INET, AF_INET6, IPPROTO_ICMPV6, IPPROTO_IGMP, IPPROTO_IP, IPPROTO_IPV6
from mroute_spec.options import option_names


@dataclass(frozen=True)
class Family:
    """Names and rules of one address family's routing API."""

    version: int
    af: int
    level: int
    sock_proto: int
    names: dict[str, str]  # role -> option name (mroute_spec.options) or counter ioctl name
    vif_err: str  # errno path prefix for vif/mif operations
    mfc_err: str
    sg_absent: str
    vif_range: str
    sg_struct: str
    vif_struct: str
    non_router: str  # errno path of a set option from a socket that is not the router
    get_non_router: str  # errno path of a get option from a socket that is not the router
    init_bad_value: str  # errno path of MRT_INIT / MRT6_INIT with a refused value
    get_unsupported: str  # errno path of getsockopt of an option the router does not answer
    ioctl_unknown: str  # errno path of an ioctl request that is no counter ioctl

    def opt(self, role: str) -> str:
        return self.names[role]

    def is_local_group(self, group: str) -> bool:
        """Groups never routed: 224.0.0.0/24; IPv6 interface- and link-local scopes."""
        return _is_local_group(group)

    def is_multicast(self, addr: str) -> bool:
        return _is_multicast(addr)

    def is_unspecified(self, addr: str) -> bool:
        return ipaddress.ip_address(addr).is_unspecified


_LOCAL4 = ipaddress.ip_network("224.0.0.0/24")


@lru_cache(maxsize=65536)
def _is_local_group(group: str) -> bool:
    addr = ipaddress.ip_address(group)
    if addr.version == 4:
        return addr in _LOCAL4
    return addr.packed[1] & 0x0F in (1, 2)


@lru_cache(maxsize=65536)
def _is_multicast(addr: str) -> bool:
    return ipaddress.ip_address(addr).is_multicast

V4 = Family(
    version=4, af=AF_INET, level=IPPROTO_IP, sock_proto=IPPROTO_IGMP,
    names={**option_names(4), "sg_count": "SIOCGETSGCNT", "vif_count": "SIOCGETVIFCNT"},
    vif_err="vif", mfc_err="mfc", sg_absent="counters.sg_absent", vif_range="counters.vif_range",
    sg_struct="sioc_sg_req", vif_struct="sioc_vif_req", non_router="socket.non_router",
    get_non_router="socket.get_non_router", init_bad_value="init.bad_value",
    get_unsupported="option.get_unsupported", ioctl_unknown="ioctl.unknown",
)

V6 = Family(
    version=6, af=AF_INET6, level=IPPROTO_IPV6, sock_proto=IPPROTO_ICMPV6,
    names={**option_names(6), "sg_count": "SIOCGETSGCNT_IN6", "vif_count": "SIOCGETMIFCNT_IN6"},
    vif_err="mif", mfc_err="mfc6", sg_absent="counters.sg6_absent", vif_range="counters.mif_range",
    sg_struct="sioc_sg_req6", vif_struct="sioc_mif_req6", non_router="socket6.non_router",
    get_non_router="socket6.get_non_router", init_bad_value="init6.bad_value",
    get_unsupported="option6.get_unsupported", ioctl_unknown="ioctl6.unknown",
)

FAMILIES: dict[int, Family] = {AF_INET: V4, AF_INET6: V6}
