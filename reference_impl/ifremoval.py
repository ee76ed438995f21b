"""Interface removal: what a kernel does to multicast routing state when a network device goes away.

The policy is the profile's ``interface_removal4`` / ``interface_removal6`` (data citing the source):
  "delete-vifs": Linux. ipmr.c ipmr_device_event / ip6mr.c ip6mr_device_event, on NETDEV_UNREGISTER,
      call vif_delete(mrt, ct, 1, NULL) / mif6_delete(..) for every vif on the device in every table:
      exactly MRT_DEL_VIF (maxvif drops to the highest vif left + 1). MFC entries are not touched:
      their ttls / ifset for the index stay (ipmr_queue_xmit drops copies for a vif without a device,
      so a vif added again at that index is an outgoing interface again) and an entry whose parent was
      the vif stays, failing the iif check for every arrival.
  "delete-vifs-expire-parent": FreeBSD ip_mroute.c if_detached_event: for each vif on the departing
      ifnet, expire_mfc every entry whose mfc_parent is that vif, then del_vif_locked (which keeps
      other entries' ttls).
  "not-modelled": the profile does not say (the text is silent, or the source was not read).
"""

from __future__ import annotations

from typing import Protocol, assert_never

from reference_impl.family import Family
from reference_impl.mfc import MfcEntry
from reference_impl.profiles import IfRemoval, Profile
from reference_impl.vifs import Interface, Vif


class RemovalView(Protocol):
    """One table's router as interface removal sees it (satisfied by mrouter.MRouter)."""

    @property
    def profile(self) -> Profile: ...
    @property
    def family(self) -> Family: ...
    @property
    def vifs(self) -> list[Vif | None]: ...

    def all_entries(self) -> list[MfcEntry]: ...
    def remove_entry(self, entry: MfcEntry) -> None: ...
    def vifs_changed(self) -> None: ...
    def interface_removed(self, iface: Interface) -> None: ...


class RemovalNotModelled(Exception):
    """The profile defines no interface-removal semantics for a family that has a vif on the device."""


def removal_policy(router: RemovalView) -> IfRemoval:
    """The profile's interface-removal policy for ``router``'s address family."""
    p = router.profile
    return p.interface_removal4 if router.family.version == 4 else p.interface_removal6


def vifs_on(router: RemovalView, iface: Interface) -> list[int]:
    """Indices of ``router``'s vifs bound to ``iface``."""
    return [i for i, v in enumerate(router.vifs) if v is not None and v.iface is iface]


def remove_interface(interfaces: list[Interface], routers: list[RemovalView], ifindex: int) -> Interface:
    """Unregister the interface ``ifindex``: apply each router's policy to its vifs on it, then drop it
    from ``interfaces`` (frames on its port go nowhere). Raises KeyError for an unknown ifindex and
    RemovalNotModelled (changing nothing) when a router with vifs on it has no policy."""
    iface = next((i for i in interfaces if i.ifindex == ifindex), None)
    if iface is None:
        raise KeyError(ifindex)
    for router in routers:
        if vifs_on(router, iface) and removal_policy(router) == "not-modelled":
            raise RemovalNotModelled(f"profile {router.profile.name}: IPv{router.family.version} interface "
                                     "removal is not modelled")
    for router in routers:
        router.interface_removed(iface)  # remove_vifs, unless a (broken) variant overrides it
    interfaces.remove(iface)
    return iface


def remove_vifs(router: RemovalView, iface: Interface) -> None:
    """Apply the profile's policy to ``router``'s vifs on ``iface`` (the MFC first, then the vifs)."""
    indices = vifs_on(router, iface)
    if not indices:
        return
    policy = removal_policy(router)
    match policy:
        case "delete-vifs":
            pass
        case "not-modelled":  # remove_interface refused before changing anything
            raise AssertionError(policy)
        case "delete-vifs-expire-parent":
            for entry in router.all_entries():
                if entry.parent in indices:
                    router.remove_entry(entry)
        case unknown:
            assert_never(unknown)
    for i in indices:
        router.vifs[i] = None
    router.vifs_changed()
