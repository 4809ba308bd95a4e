"""Memory pressure from files -> tiers -> the daemon's LLM loaded/unloaded -> answers per tier.

In-process, with the daemon's own parts: ``Daemon`` (its bus, breakers and ``_apply_tier``), a
``MemoryMonitor`` from the config on a PSI file (``/proc/pressure/memory`` format) and a meminfo
file in ``tmp_path`` with a controllable clock, and the ``TieredAnswerer`` the daemon builds, on
a real knowledge base (the bundled manual) with the real tiny embedder and LLM.  The pressure
rises 0 -> 1 -> 2 -> 3 (a step per reading, at once), then falls: the tier comes back up one
step per ``[tiers] quiet_s`` of calm readings, and after every step the same question is asked.

``[answer] llm_min_words = 0``: at tiers 0-1 every grounded answer goes through the LLM (by
default a short answer sentence is read out as it is, without asking the LLM).
"""

from __future__ import annotations

import gc
from pathlib import Path

import anyio
import pytest

from xnai_edge.brain.answer_cache import AnswerCache, canned
from xnai_edge.brain.answerer import Answer
from xnai_edge.brain.chain import TieredAnswerer
from xnai_edge.bus import EventRecorder
from xnai_edge.config import load_config
from xnai_edge.context import AppContext
from xnai_edge.daemon import Daemon
from xnai_edge.events import LlmToken, TierChanged
from xnai_edge.health.monitor import MemoryMonitor
from xnai_edge.knowledge.base import KnowledgeBase
from xnai_edge.modelstore import ModelStore

pytestmark = pytest.mark.slow

QUESTION = "What is your wake word?"
NEW_QUESTION = "How do I remove a document?"
QUIET_S = 60.0
MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def psi_text(avg10: float) -> str:
    return (f"some avg10={avg10:.2f} avg60={avg10 / 2:.2f} avg300=0.00 total=123456\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def meminfo_text(avail_mb: int) -> str:
    return (f"MemTotal:       16000000 kB\nMemFree:         {avail_mb * 512} kB\n"
            f"MemAvailable:   {avail_mb * 1024} kB\nBuffers:           12345 kB\n")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_pressure_up_and_down_moves_tiers_llm_and_answers(
        tmp_path: Path, models_dir: Path) -> None:
    psi, meminfo = tmp_path / "psi", tmp_path / "meminfo"
    psi.write_text(psi_text(0))
    meminfo.write_text(meminfo_text(8000))
    config_path = tmp_path / "config.toml"
    config_path.write_text(f"""
[answer]
llm_min_words = 0
[memory]
psi_path = "{psi}"
meminfo_path = "{meminfo}"
cgroup_dir = ""
[tiers]
quiet_s = {QUIET_S}
""")
    config = load_config(config_path)
    ctx = AppContext(config, tmp_path / "data", models_dir)
    model_mb = ModelStore(models_dir).path("llm", "model.gguf", set_name=config.models.set) \
        .stat().st_size / MIB
    clock = Clock()
    log: list[str] = []
    rss: dict[str, float] = {}

    async def main() -> None:
        daemon = Daemon(ctx, str(config_path))
        daemon.monitor = MemoryMonitor.from_config(daemon.bus, config.memory, config.tiers,
                                                   clock=clock)
        monitor = daemon.monitor
        recorder = EventRecorder()
        daemon.bus.add_listener(recorder)
        async with KnowledgeBase.open(ctx.data_dir, models_dir, config) as kb:
            await kb.retriever()
            daemon.kb = kb
            chain = daemon.chain = TieredAnswerer(
                kb, config, cache=AnswerCache(kb.store), change_id=kb.store.change_id,
                tier=lambda: monitor.tier, breakers=daemon.breakers,
                publish=daemon.bus.publish)

            async def step(label: str, *, psi_avg10: float | None = None,
                           avail_mb: int | None = None, advance_s: float = 1.0) -> int:
                """Write the files, let time pass, take one reading, apply the tier."""
                if psi_avg10 is not None:
                    psi.write_text(psi_text(psi_avg10))
                if avail_mb is not None:
                    meminfo.write_text(meminfo_text(avail_mb))
                clock.now += advance_s
                before = monitor.tier
                monitor.poll_once()
                gc.collect()
                rss[f"{label} before"] = rss_mb()
                await daemon._apply_tier()
                rss[label] = rss_mb()
                log.append(f"{label}: tier {before} -> {monitor.tier} ({monitor.current.reason})"
                           f"; llm {daemon.models.get('llm')}; RSS {rss[label]:.0f} MiB")
                return monitor.tier

            async def ask(question: str = QUESTION) -> tuple[Answer, int]:
                mark = len(recorder.events)
                answer = await chain.answer(question)
                tokens = sum(isinstance(e, LlmToken) for e in recorder.events[mark:])
                log.append(f"  ask {question!r}: tier {answer.tier} {answer.method}, "
                           f"{tokens} LLM tokens: {answer.text!r}")
                return answer, tokens

            def llm_path(answer: Answer, tokens: int, tier: int) -> None:
                assert answer.tier == tier, answer
                assert answer.method in ("llm", "extractive"), answer
                assert tokens > 0, "the LLM was not asked"
                assert "jarvis" in answer.text.lower()

            try:
                rss["start"] = rss_mb()
                # ---- rising pressure: down a tier per reading, at once
                assert await step("calm", psi_avg10=0) == 0
                assert chain.llm is not None and daemon.models["llm"] == "loaded"
                llm_path(*await ask(), tier=0)
                assert await step("psi 12%", psi_avg10=12) == 1
                assert chain.llm is not None, "tier 1 still has the LLM"
                llm_path(*await ask(), tier=1)
                assert await step("psi 25%", psi_avg10=25) == 2
                assert chain.llm is None and daemon.models["llm"] == "unloaded at tier 2"
                answer, tokens = await ask()
                assert (answer.tier, answer.method, tokens) == (2, "extractive", 0), answer
                extractive = answer.text
                assert "jarvis" in extractive.lower() and answer.sources
                assert await step("MemAvailable 300 MiB", avail_mb=300) == 3
                answer, _ = await ask()
                assert (answer.tier, answer.method, answer.text) == (3, "cached", extractive)
                assert answer.sources, "a cached answer keeps its source"
                answer, _ = await ask(NEW_QUESTION)
                assert (answer.tier, answer.method) == (3, "canned")
                assert answer.text == canned("memory") and not answer.sources

                # ---- falling pressure: up one tier per quiet period
                assert await step("calm again", psi_avg10=0, avail_mb=8000) == 3
                for up_to in (2, 1, 0):
                    assert await step(f"{QUIET_S - 1:g} s calm", advance_s=QUIET_S - 1) \
                        == up_to + 1, "stepped up before the quiet period had passed"
                    assert await step(f"{QUIET_S:g} s calm", advance_s=1) == up_to
                    if up_to == 2:
                        assert chain.llm is None
                        answer, tokens = await ask()
                        assert (answer.tier, answer.method, tokens) == (2, "extractive", 0)
                    else:
                        assert chain.llm is not None and daemon.models["llm"] == "loaded"
                        llm_path(*await ask(), tier=up_to)
                        if up_to == 1:
                            rss["reloaded"] = rss[f"{QUIET_S:g} s calm"]

                # ---- a spike to tier 4: nothing is spoken
                assert await step("psi 65%", psi_avg10=65) == 4
                assert chain.llm is None
                answer, _ = await ask()
                assert (answer.tier, answer.method, answer.text) == (4, "silent", "")
            finally:
                if chain.llm is not None:
                    chain.llm.close()

        changes = [(e.previous, e.tier) for e in recorder.events if isinstance(e, TierChanged)]
        assert changes == [(0, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 0), (0, 4)], changes
        reasons = [e.reason for e in recorder.events if isinstance(e, TierChanged)]
        assert reasons[0] == "psi some avg10 12.0% >= 10%"
        assert reasons[2] == "MemAvailable 300 MiB < 400 MiB"
        assert all(r.startswith(f"calm for {QUIET_S:.0f} s") for r in reasons[3:6]), reasons

    anyio.run(main)
    for line in log:
        print(line)
    loaded, unloaded = rss["calm"], rss["psi 25%"]
    print(f"RSS: start {rss['start']:.0f} MiB, LLM loaded {loaded:.0f} MiB (after answers "
          f"{rss['psi 25% before']:.0f}), unloaded at tier 2 {unloaded:.0f} MiB, reloaded at "
          f"tier 1 {rss['reloaded']:.0f} MiB, unloaded at tier 4 {rss['psi 65%']:.0f} MiB; "
          f"model file {model_mb:.0f} MiB")
    # Unloading really gives the memory back: at least half the model file (its mapped
    # weights; the KV cache and compute buffers come on top).
    freed = rss["psi 25% before"] - unloaded
    assert freed >= model_mb / 2, f"unloading freed only {freed:.0f} MiB"
    assert rss["psi 65% before"] - rss["psi 65%"] >= model_mb / 2
    assert rss["reloaded"] - rss["calm again before"] >= model_mb / 4, "the reload did not load"
