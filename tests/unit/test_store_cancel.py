"""A cancelled change (a barge-in while the manual is first ingested) leaves no open
transaction on the knowledge base's one writer connection."""

from __future__ import annotations

from pathlib import Path

import anyio

from xnai_edge.knowledge.store import KnowledgeStore


def test_a_write_cancelled_at_its_start_or_middle_leaves_the_next_write_working(
        tmp_path: Path) -> None:
    async def main() -> list[str]:
        store = await KnowledgeStore.open(tmp_path)
        try:
            for where in ("begin", "body"):
                with anyio.CancelScope() as scope:
                    if where == "begin":
                        scope.cancel()  # cancelled before BEGIN has even been sent
                    async with store.write():
                        scope.cancel()
                        await anyio.sleep(1)  # the cancellation lands here
                assert scope.cancelled_caught
            before = await store.change_id()
            async with store.write():
                pass  # would raise "cannot start a transaction within a transaction"
            assert await store.change_id() == before + 1
            return [r[0] for r in await store.fetchall("SELECT path FROM documents")]
        finally:
            await store.close()

    assert anyio.run(main) == []
