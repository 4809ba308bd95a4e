"""Turn a blocking chunk source into the async stream the VoiceLoop reads.

A WAV file is replayed at the speed it was recorded (``realtime=True``), so the loop meets the
same timing as with a microphone: answers are computed while the "user" keeps talking, and
latencies in audio time equal latencies in wall time.  ``realtime=False`` feeds as fast as the
loop can take it (for tests of pure audio paths, e.g. WER).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

import anyio
import anyio.lowlevel

from xnai_edge.audio.chunk import AudioChunk


async def paced(chunks: Iterable[AudioChunk], *, realtime: bool = True,
                ) -> AsyncIterator[AudioChunk]:
    start = anyio.current_time()
    for chunk in chunks:
        if realtime:
            await anyio.sleep(max(0.0, start + chunk.end - anyio.current_time()))
        else:
            await anyio.lowlevel.checkpoint()
        yield chunk


async def from_blocking(chunks: Iterator[AudioChunk]) -> AsyncIterator[AudioChunk]:
    """A live source (microphone) whose ``next`` blocks until the next chunk has arrived."""
    sentinel = object()
    while True:
        chunk = await anyio.to_thread.run_sync(next, chunks, sentinel)
        if chunk is sentinel:
            return
        assert isinstance(chunk, AudioChunk)
        yield chunk
