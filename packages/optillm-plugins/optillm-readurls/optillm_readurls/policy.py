"""Which destinations may be fetched: the address rules and the operator's allow list.

A URL is fetched only when **every** address its host resolves to is globally routable —
loopback, private, link-local (cloud metadata included), carrier-grade NAT, multicast, reserved
and unspecified addresses are refused, also when wrapped in IPv4-mapped, NAT64, 6to4 or Teredo
IPv6 addresses — and its port is allowed. The operator's ``allow_hosts`` entries lift both
checks for the hosts (or networks) they name; ``allow_private`` admits private and CGNAT
addresses but never loopback, link-local or metadata addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
#: Private-use networks (RFC 1918, RFC 4193): the only ones ``allow_private`` admits, with CGNAT.
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Cloud metadata endpoints outside link-local space (Alibaba, AWS IPv6, Oracle).
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)
#: Reasons that ``allow_private`` waives.
PRIVATE_REASONS = frozenset({"private", "carrier-grade NAT"})


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address, else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def refusal_reason(address: str | IPAddress) -> str | None:
    """Why an address must not be fetched, or ``None`` when it is globally routable."""
    try:
        ip = unwrap(ipaddress.ip_address(address))
    except ValueError:
        return "not an IP address"
    checks = (
        (ip in _METADATA, "cloud metadata"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local (cloud metadata)"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (ip in _CGNAT, "carrier-grade NAT"),
        (any(ip in net for net in _PRIVATE), "private"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


@dataclass(frozen=True)
class AllowEntry:
    """One ``allow_hosts`` entry: a host (``*.`` for subdomains) with an optional port, or a
    network."""

    host: str = ""
    port: int | None = None
    network: Network | None = None

    @classmethod
    def parse(cls, entry: str) -> AllowEntry:
        """Parse ``host``, ``host:port``, ``[v6]:port``, ``*.domain`` or ``10.0.0.0/8``."""
        text = entry.strip().lower()
        if "/" in text:
            return cls(network=ipaddress.ip_network(text, strict=False))
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            return cls(host, int(rest[1:]) if rest.startswith(":") else None)
        if text.count(":") == 1:
            host, _, port = text.partition(":")
            return cls(host, int(port))
        return cls(text)

    def matches(self, host: str, port: int, addresses: Sequence[str]) -> bool:
        """Whether this entry admits ``host:port`` resolving to ``addresses``."""
        if self.network is not None:
            return bool(addresses) and all(
                ipaddress.ip_address(a) in self.network for a in addresses
            )
        if self.port is not None and self.port != port:
            return False
        host = host.lower().rstrip(".")
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


@dataclass(frozen=True)
class Decision:
    """Whether a destination may be fetched, the address to connect to, and why not."""

    address: str | None
    reason: str | None = None


class DestinationPolicy:
    """The operator's destination rules for one request."""

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        *,
        allow_private: bool = False,
        allowed_ports: Iterable[int] = (80, 443),
    ) -> None:
        self.allow = [AllowEntry.parse(entry) for entry in allow_hosts]
        self.allow_private = allow_private
        self.ports = frozenset(allowed_ports)

    def decide(self, host: str, port: int, addresses: Sequence[str]) -> Decision:
        """Check a resolved destination; the first address is the one to connect to."""
        if not addresses:
            return Decision(None, "the host did not resolve")
        if any(entry.matches(host, port, addresses) for entry in self.allow):
            return Decision(addresses[0])
        if self.ports and port not in self.ports:
            return Decision(None, f"port {port} is not allowed")
        for address in addresses:
            reason = refusal_reason(address)
            if reason and not (self.allow_private and reason in PRIVATE_REASONS):
                return Decision(None, f"{address} is a {reason} address")
        return Decision(addresses[0])
