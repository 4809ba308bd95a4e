"""The optional zeroconf announcement, on real multicast: Home Assistant's discovery resolves
``_wyoming._tcp`` to our address and port, and it is withdrawn when the server stops."""

from __future__ import annotations

import anyio
import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from xnai_edge.wyoming.announce import SERVICE_TYPE, announce, lan_address, service_name

DEVICE_ID = "0123456789abcdef0123"


async def resolve(address: str, name: str) -> AsyncServiceInfo | None:
    zc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}")
        return info if await info.async_request(zc.zeroconf, 3000) else None
    finally:
        await zc.async_close()


def test_the_server_is_announced_and_withdrawn() -> None:
    address = lan_address("0.0.0.0")
    if address.startswith("127."):
        pytest.skip(reason="no network interface routes to the mDNS group here")
    name = service_name(DEVICE_ID)
    reports: list[str] = []

    async def main() -> tuple[AsyncServiceInfo | None, AsyncServiceInfo | None]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(announce, "0.0.0.0", 10700, DEVICE_ID, reports.append)
            with anyio.fail_after(20):
                while not reports:
                    await anyio.sleep(0.05)  # polling the report, not synchronisation
            found = await resolve(address, name)
            tg.cancel_scope.cancel()
        return found, await resolve(address, name)

    found, after = anyio.run(main)
    assert reports == [f"announced as {name} ({address}:10700)"], reports
    assert found is not None and found.port == 10700
    assert found.parsed_addresses() == [address]
    assert after is None  # unregistered (goodbye packets) when the server stops
