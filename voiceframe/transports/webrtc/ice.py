"""ICE helpers: loopback host candidates and ICE server settings.

aioice leaves 127.0.0.1 out of its host candidates, so on a machine (or container) whose only network
is loopback, aiortc cannot connect to a browser on the same machine. :func:`allow_loopback_candidates`
adds it back, for every aioice connection in this process (aioice has no per-connection setting).
The browser side needs ``--allow-loopback-in-peer-connection`` for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

_patched = False


def allow_loopback_candidates() -> None:
    """Offer 127.0.0.1 as a host candidate too (idempotent, process-wide)."""
    global _patched
    if _patched:
        return
    import aioice.ice

    original: Callable[..., list[str]] = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        if use_ipv4 and "127.0.0.1" not in addresses:
            addresses.append("127.0.0.1")
        return addresses

    aioice.ice.get_host_addresses = with_loopback
    _patched = True


def rtc_configuration(ice_servers: Sequence[Mapping[str, Any]]) -> Any:
    """An aiortc ``RTCConfiguration`` from browser-style dicts (``urls``, ``username``, ``credential``)."""
    from aiortc import RTCConfiguration, RTCIceServer

    servers = []
    for entry in ice_servers:
        if "urls" not in entry:
            raise ValueError(f"ICE server {dict(entry)!r} has no 'urls'")
        servers.append(
            RTCIceServer(
                urls=entry["urls"], username=entry.get("username"), credential=entry.get("credential")
            )
        )
    return RTCConfiguration(iceServers=servers)
