"""Optional zeroconf (mDNS) announcement of the server as ``_wyoming._tcp``, so Home Assistant
discovers it by itself.  Off by default (``[wyoming] zeroconf``): announcing an unauthenticated
service to the whole LAN is the owner's decision.  A failure (no multicast, no network) is
reported in the status part and never stops the server.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import anyio

SERVICE_TYPE = "_wyoming._tcp.local."
MDNS_GROUP = "224.0.0.251"


def lan_address(host: str) -> str:
    """The address to announce: ``host`` itself, or for a wildcard bind the address of the
    interface that routes to the mDNS group (no packet is sent)."""
    if host not in ("", "0.0.0.0", "::"):
        return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((MDNS_GROUP, 5353))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def service_name(device_id: str) -> str:
    return f"xnai-edge-{device_id[:12]}"


async def announce(host: str, port: int, device_id: str,
                   report: Callable[[str], None]) -> None:
    """Register the service and keep it registered until cancelled; ``report`` gets a line
    for the status part."""
    from zeroconf import Error as ZeroconfError
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    name = service_name(device_id)
    try:
        address = lan_address(host)
        info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}",
                                addresses=[socket.inet_aton(address)], port=port,
                                properties={"device": "xnai-edge"}, server=f"{name}.local.")
        zc: Any = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    except (OSError, ValueError) as exc:
        report(f"not announced: {exc}")
        return
    try:
        try:
            await zc.async_register_service(info)
        except (ZeroconfError, OSError, ValueError, RuntimeError) as exc:
            report(f"not announced: {exc}")
            return
        report(f"announced as {name} ({address}:{port})")
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(
                ZeroconfError, OSError, RuntimeError):
            with anyio.move_on_after(2):
                await zc.async_unregister_service(info)
            await zc.async_close()
