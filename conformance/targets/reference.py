"""The embedded reference target: the model kernel, in process, on a virtual clock."""

from __future__ import annotations

from typing import cast

from conformance.targets.base import Port, SocketHandle, Target, TargetInfo, Unsupported, port_plan
from reference_impl.family import FAMILIES
from reference_impl.ifremoval import RemovalNotModelled
from reference_impl.kernel import Kernel
from reference_impl.mrouter import MRouter
from reference_impl.packets import mac_bytes
from reference_impl.profiles import DOCUMENTED, Profile
from reference_impl.snapshot import TableState, snapshot
from reference_impl.sockets import Socket
from reference_impl.vifs import Interface


def _model_socket(handle: SocketHandle) -> Socket:
    """The model's socket behind a handle this target opened (``ident`` is opaque to tests)."""
    return cast(Socket, handle.ident)


class ReferenceTarget(Target):
    """Drives ``reference_impl.Kernel`` with the chosen profile; time is virtual."""

    name = "reference"
    default_profile = "documented"
    router_class: type[MRouter] = MRouter  # a broken variant substitutes its own

    def __init__(self, profile: Profile | None = None, nports: int = 4) -> None:
        self.profile = profile or DOCUMENTED
        self.ports = [
            Port(
                index=i, name=f"r{i}", ifindex=i + 2, mac=f"02:00:00:00:00:{i + 1:02x}",
                peer_mac=f"02:00:00:00:01:{i + 1:02x}", **plan,
            )
            for i, plan in enumerate(port_plan(nports))
        ]
        self.kernel = self._new_kernel()

    def _new_kernel(self) -> Kernel:
        ifaces = [Interface(p.name, p.ifindex, mac_bytes(p.mac), p.ipv4, p.ipv6, p.index, mac_bytes(p.peer_mac))
                  for p in self.ports]
        return Kernel(self.profile, ifaces, router_class=self.router_class)

    def open_socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        s = self.kernel.socket(family, type_, proto)
        return SocketHandle(s, family, type_, proto)

    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        return self.kernel.setsockopt(_model_socket(sock), level, optname, bytes(value))

    def getsockopt(self, sock: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        return self.kernel.getsockopt(_model_socket(sock), level, optname, buflen)

    def ioctl(self, sock: SocketHandle, request: int, arg: bytes) -> bytes:
        return self.kernel.ioctl(_model_socket(sock), request, bytes(arg))

    def close(self, sock: SocketHandle) -> None:
        self.kernel.close(_model_socket(sock))
        sock.closed = True

    def recv_all(self, sock: SocketHandle) -> list[bytes]:
        q = _model_socket(sock).rcvq
        out = list(q)
        q.clear()
        return out

    def send(self, port: int, frame: bytes) -> None:
        self.kernel.receive(port, bytes(frame))

    def collect(self) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {p.index: [] for p in self.ports}
        for port, frame in self.kernel.take_output():
            out[port].append(frame)
        return out

    def advance(self, seconds: float) -> None:
        self.kernel.advance(seconds)

    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The model's table as Linux's /proc would show it (a table never created: empty)."""
        af = next(af for af, fam in FAMILIES.items() if fam.version == version)
        router = self.kernel.tables[af].get(self.kernel.default_table(af) if table is None else table)
        return TableState() if router is None else snapshot(router)

    def remove_interface(self, port: int) -> None:
        """The model kernel unregisters the port's interface (reference_impl/ifremoval.py, per profile)."""
        if not 0 <= port < len(self.ports):
            raise ValueError(f"no port {port}; ports are 0..{len(self.ports) - 1}")
        try:
            self.kernel.remove_interface(self.ports[port].ifindex)
        except KeyError:
            raise ValueError(f"port {port} was removed already") from None
        except RemovalNotModelled as e:
            raise Unsupported(str(e)) from None

    @property
    def virtual_time(self) -> bool:
        return True

    def reset(self) -> None:
        self.kernel = self._new_kernel()

    def info(self) -> TargetInfo:
        return TargetInfo(self.name, self.profile.name, {
            "model": "reference_impl", "virtual_time": True,
            "required_setup": [step.describe() for step in self.profile.required_setup]})
