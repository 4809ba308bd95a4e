"""The tier-3 answer cache on a real knowledge-base SQLite file, and its question keys."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from xnai_edge.brain.answer_cache import AnswerCache, canned, create_table_sql, normalise_question
from xnai_edge.knowledge.store import KnowledgeStore


@pytest.mark.parametrize(("a", "b"), [
    ("What's the Wi-Fi password?", "what is the wi-fi password"),
    ("Please tell me the wake word.", "WAKE WORD?"),
    ("How do I reset it?", "how can I reset it"),
    ("Don't I need a cable?", "do not I need a cable"),
])
def test_same_question_same_key(a: str, b: str) -> None:
    assert normalise_question(a) == normalise_question(b)


@pytest.mark.parametrize(("a", "b"), [
    ("How do I turn it on?", "How do I turn it off?"),
    ("Is the door locked?", "Is the door not locked?"),
    ("Who installed the boiler?", "When was the boiler installed?"),
    ("dog bites man", "man bites dog"),  # word order is kept
])
def test_different_questions_different_keys(a: str, b: str) -> None:
    assert normalise_question(a) != normalise_question(b)


def test_a_question_of_only_filler_words_still_has_a_key() -> None:
    assert normalise_question("Is it?") == "is it"
    assert normalise_question("?!") == ""


async def open_store(tmp_path: Path) -> KnowledgeStore:
    # Migration 3 creates the table; it must match the module's own definition.
    store = await KnowledgeStore.open(tmp_path / "data")
    row = await store.fetchone("SELECT sql FROM sqlite_master WHERE name = 'answer_cache'")
    assert " ".join(row[0].split()) in " ".join(create_table_sql().split())
    return store


def test_put_get_hits_and_staleness_when_the_kb_changes(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            cache = AnswerCache(store)
            change = await store.change_id()
            sources = [{"title": "Manual", "path": "bundled://manual.md", "chunk_id": 3}]
            assert await cache.get("What is the wake word?", change) is None
            assert await cache.put("What is the wake word?", change, "Say 'Hey Jarvis'.",
                                   sources, tier=0, method="llm")
            hit = await cache.get("what's the wake word", change)
            assert hit is not None and hit.text == "Say 'Hey Jarvis'."
            assert (hit.sources, hit.tier, hit.method, hit.hits) == (sources, 0, "llm", 1)
            assert hit.question == "What is the wake word?"
            assert (await cache.get("what is the wake word", change)).hits == 2  # type: ignore[union-attr]
            # templates and "I don't know" are not remembered
            assert not await cache.put("x?", change, canned(), method="canned")
            assert not await cache.put("y?", change, "I don't know.", method="abstain")
            assert not await cache.put("?", change, "anything", method="llm")
            # the documents changed: the old answer no longer counts, and is pruned on put
            async with store.write():
                pass
            newer = await store.change_id()
            assert newer == change + 1
            assert await cache.get("What is the wake word?", newer) is None
            await cache.put("Where is the fuse box?", newer, "In the hall.", tier=2,
                            method="extractive")
            assert await cache.size() == 1
        finally:
            await store.close()

    anyio.run(main)


def test_the_cache_keeps_the_most_recently_used_entries(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            cache = AnswerCache(store, max_entries=3)
            for i in range(5):
                await cache.put(f"question number {i}", 0, f"answer {i}")
            assert await cache.size() == 3
            assert await cache.get("question number 0", 0) is None
            assert (await cache.get("question number 4", 0)) is not None
        finally:
            await store.close()

    anyio.run(main)


def test_canned_templates() -> None:
    assert canned() == "I'm low on memory right now; please try again in a minute."
    assert canned("unknown reason") == canned("busy")
