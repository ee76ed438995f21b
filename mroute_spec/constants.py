"""Numeric constants of the multicast routing API, each defined once.

Socket-level numbers use Linux numbering (the project's Target contract); numbers that differ
between systems are ABI data (``mroute_spec.abi``, ``mroute_spec.options``). See docs/spec/api.md.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class AddressFamily(IntEnum):
    """Socket address families (Linux numbering, as the Target contract uses)."""

    AF_INET = 2
    AF_INET6 = 10


class SockType(IntEnum):
    """Socket types."""

    SOCK_STREAM = 1
    SOCK_DGRAM = 2
    SOCK_RAW = 3


class IPProto(IntEnum):
    """IP protocol numbers (IANA), also the option levels IPPROTO_IP / IPPROTO_IPV6 / IPPROTO_ICMPV6."""

    IPPROTO_IP = 0
    IPPROTO_IGMP = 2
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_IPV6 = 41
    IPPROTO_ICMPV6 = 58
    IPPROTO_PIM = 103
    IPPROTO_RAW = 255


class EtherType(IntEnum):
    """Ethernet types of the frames on the model's and the targets' wires."""

    ETH_P_IP = 0x0800
    ETH_P_IPV6 = 0x86DD


class VifFlag(IntFlag):
    """``vifc_flags`` bits (multicast(4); VIFF_USE_IFINDEX is Linux only)."""

    VIFF_TUNNEL = 0x1
    VIFF_SRCRT = 0x2
    VIFF_REGISTER = 0x4
    VIFF_USE_IFINDEX = 0x8
    VIFF_STATIC = 0x8000  # Linux: set by vif_add / mif6_add for a vif a non-routing socket added


class MifFlag(IntFlag):
    """``mif6c_flags`` bits."""

    MIFF_REGISTER = 0x1


class MfcFlag(IntFlag):
    """Advanced-API bits: per-vif ``mfcc_flags`` and the MRT_API_CONFIG / MRT_API_SUPPORT words."""

    MRT_MFC_FLAGS_DISABLE_WRONGVIF = 1 << 0
    MRT_MFC_FLAGS_BORDER_VIF = 1 << 1
    MRT_MFC_RP = 1 << 8
    MRT_MFC_BW_UPCALL = 1 << 9


class FlushFlag(IntFlag):
    """MRT_FLUSH / MRT6_FLUSH argument bits (Linux uapi mroute.h / mroute6.h; MRT6_FLUSH_MIFS* share
    the values). "Static" state is what a socket other than the table's routing socket added."""

    MRT_FLUSH_MFC = 1
    MRT_FLUSH_MFC_STATIC = 2
    MRT_FLUSH_VIFS = 4
    MRT_FLUSH_VIFS_STATIC = 8


class BwFlag(IntFlag):
    """``bu_flags`` bits of a bandwidth meter."""

    BW_UPCALL_UNIT_PACKETS = 1 << 0
    BW_UPCALL_UNIT_BYTES = 1 << 1
    BW_UPCALL_GEQ = 1 << 2
    BW_UPCALL_LEQ = 1 << 3
    BW_UPCALL_DELETE_ALL = 1 << 4


class IgmpMsgType(IntEnum):
    """``im_msgtype`` of an IPv4 upcall; type 4 is BW_UPCALL on BSD and WRVIFWHOLE on Linux."""

    IGMPMSG_NOCACHE = 1
    IGMPMSG_WRONGVIF = 2
    IGMPMSG_WHOLEPKT = 3
    IGMPMSG_BW_UPCALL = 4
    IGMPMSG_WRVIFWHOLE = 4  # Linux (an alias of the same number)


class Mrt6MsgType(IntEnum):
    """``im6_msgtype`` of an IPv6 upcall (type 4 is Linux only)."""

    MRT6MSG_NOCACHE = 1
    MRT6MSG_WRONGMIF = 2
    MRT6MSG_WHOLEPKT = 3
    MRT6MSG_WRMIFWHOLE = 4


class PimType(IntEnum):
    """PIMv2 message types the model sends (RFC 7761 §4.9)."""

    PIM_REGISTER = 1


AF_INET, AF_INET6 = AddressFamily.AF_INET, AddressFamily.AF_INET6
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = SockType.SOCK_STREAM, SockType.SOCK_DGRAM, SockType.SOCK_RAW
IPPROTO_IP, IPPROTO_IGMP, IPPROTO_TCP = IPProto.IPPROTO_IP, IPProto.IPPROTO_IGMP, IPProto.IPPROTO_TCP
IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_ICMPV6 = IPProto.IPPROTO_UDP, IPProto.IPPROTO_IPV6, IPProto.IPPROTO_ICMPV6
IPPROTO_PIM, IPPROTO_RAW = IPProto.IPPROTO_PIM, IPProto.IPPROTO_RAW
ETH_P_IP, ETH_P_IPV6 = EtherType.ETH_P_IP, EtherType.ETH_P_IPV6
VIFF_TUNNEL, VIFF_SRCRT = VifFlag.VIFF_TUNNEL, VifFlag.VIFF_SRCRT
VIFF_REGISTER, VIFF_USE_IFINDEX = VifFlag.VIFF_REGISTER, VifFlag.VIFF_USE_IFINDEX
VIFF_STATIC = VifFlag.VIFF_STATIC
MIFF_REGISTER = MifFlag.MIFF_REGISTER
MRT_MFC_FLAGS_DISABLE_WRONGVIF = MfcFlag.MRT_MFC_FLAGS_DISABLE_WRONGVIF
MRT_MFC_FLAGS_BORDER_VIF = MfcFlag.MRT_MFC_FLAGS_BORDER_VIF
MRT_MFC_RP, MRT_MFC_BW_UPCALL = MfcFlag.MRT_MFC_RP, MfcFlag.MRT_MFC_BW_UPCALL
MRT_MFC_FLAGS_ALL = MRT_MFC_FLAGS_DISABLE_WRONGVIF | MRT_MFC_FLAGS_BORDER_VIF
MRT_API_FLAGS_ALL = MRT_MFC_FLAGS_ALL | MRT_MFC_RP | MRT_MFC_BW_UPCALL
MRT_FLUSH_MFC, MRT_FLUSH_MFC_STATIC = FlushFlag.MRT_FLUSH_MFC, FlushFlag.MRT_FLUSH_MFC_STATIC
MRT_FLUSH_VIFS, MRT_FLUSH_VIFS_STATIC = FlushFlag.MRT_FLUSH_VIFS, FlushFlag.MRT_FLUSH_VIFS_STATIC
BW_UPCALL_UNIT_PACKETS, BW_UPCALL_UNIT_BYTES = BwFlag.BW_UPCALL_UNIT_PACKETS, BwFlag.BW_UPCALL_UNIT_BYTES
BW_UPCALL_GEQ, BW_UPCALL_LEQ = BwFlag.BW_UPCALL_GEQ, BwFlag.BW_UPCALL_LEQ
BW_UPCALL_DELETE_ALL = BwFlag.BW_UPCALL_DELETE_ALL
IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF = IgmpMsgType.IGMPMSG_NOCACHE, IgmpMsgType.IGMPMSG_WRONGVIF
IGMPMSG_WHOLEPKT, IGMPMSG_BW_UPCALL = IgmpMsgType.IGMPMSG_WHOLEPKT, IgmpMsgType.IGMPMSG_BW_UPCALL
IGMPMSG_WRVIFWHOLE = IgmpMsgType.IGMPMSG_WRVIFWHOLE
MRT6MSG_NOCACHE, MRT6MSG_WRONGMIF = Mrt6MsgType.MRT6MSG_NOCACHE, Mrt6MsgType.MRT6MSG_WRONGMIF
MRT6MSG_WHOLEPKT, MRT6MSG_WRMIFWHOLE = Mrt6MsgType.MRT6MSG_WHOLEPKT, Mrt6MsgType.MRT6MSG_WRMIFWHOLE
PIM_REGISTER = PimType.PIM_REGISTER

# MLD message types (RFC 2710, RFC 3810): listener query, report, done, v2 report
MLD_TYPES = (130, 131, 132, 143)
# upcall type names per ABI, and which kinds carry the packet: mroute_spec.messages
