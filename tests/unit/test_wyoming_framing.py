"""The Wyoming framing reads within its limits and speaks what the ``wyoming`` package reads."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from wyoming.audio import AudioChunk
from wyoming.event import Event, async_read_event
from wyoming.info import Describe

from xnai_edge.wyoming.framing import encode_event, parse_header, read_event
from xnai_edge.wyoming.limits import Limits, ProtocolError

SMALL = Limits(max_line_bytes=256, max_data_bytes=128, max_payload_bytes=64,
               idle_timeout_s=5.0, event_timeout_s=0.2)


async def _read(raw: bytes, limits: Limits = SMALL, *, close: bool = True) -> list[Event | None]:
    """Every event ``read_event`` gets from ``raw`` (the peer closes after it unless told)."""
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=100)
    if raw:
        await send.send(raw)
    if close:
        await send.aclose()
    stream = BufferedByteReceiveStream(receive)
    out: list[Event | None] = []
    while True:
        event = await read_event(stream, limits)
        out.append(event)
        if event is None:
            return out


def read(raw: bytes, limits: Limits = SMALL, *, close: bool = True) -> list[Event | None]:
    return anyio.run(lambda: _read(raw, limits, close=close))


def test_an_event_with_data_and_payload_round_trips() -> None:
    chunk = AudioChunk(rate=16000, width=2, channels=1, audio=b"\x01\x02" * 10, timestamp=5)
    raw = encode_event(chunk.event())
    header = json.loads(raw.split(b"\n", 1)[0])
    assert header["type"] == "audio-chunk" and header["version"]
    assert header["data_length"] > 0 and header["payload_length"] == 20
    assert "data" not in header  # data travels after the header, as data_length says
    (event, end) = read(raw)
    assert end is None and event is not None
    assert event.type == "audio-chunk" and event.payload == b"\x01\x02" * 10
    assert event.data == {"rate": 16000, "width": 2, "channels": 1, "timestamp": 5}


def test_the_wyoming_package_reads_what_we_write() -> None:
    async def main() -> list[Event | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(encode_event(Describe().event()) + encode_event(
            AudioChunk(rate=22050, width=2, channels=1, audio=b"\0\0" * 3).event()))
        reader.feed_eof()
        return [await async_read_event(reader) for _ in range(3)]

    first, second, end = asyncio.run(main())
    assert first is not None and first.type == "describe" and first.payload is None
    assert second is not None and AudioChunk.from_event(second).rate == 22050
    assert end is None


def test_inline_data_is_merged_under_data_length_data() -> None:
    body = json.dumps({"text": "hi"}).encode()
    raw = json.dumps({"type": "synthesize", "data": {"text": "old", "voice": {"name": "v"}},
                      "data_length": len(body)}).encode() + b"\n" + body
    (event, _) = read(raw)
    assert event is not None and event.data == {"text": "hi", "voice": {"name": "v"}}


def test_blank_lines_between_events_are_skipped_and_a_clean_close_is_none() -> None:
    events = read(b"\n\n" + encode_event(Describe().event()) + b"\r\n")
    assert [e.type if e else None for e in events] == ["describe", None]
    assert read(b"") == [None]


@pytest.mark.parametrize(("raw", "code", "words"), [
    (b"{not json\n", "bad-event", "not valid JSON"),
    (b"[1, 2]\n", "bad-event", "JSON object"),
    (b'{"data": {}}\n', "bad-event", "type"),
    (b'{"type": ""}\n', "bad-event", "type"),
    (b'{"type": "x", "data": [1]}\n', "bad-event", "data"),
    (b'{"type": "x", "data_length": -1}\n', "bad-event", "non-negative"),
    (b'{"type": "x", "payload_length": "9"}\n', "bad-event", "non-negative"),
    (b'{"type": "x", "payload_length": true}\n', "bad-event", "non-negative"),
    (b'{"type": "x", "data_length": 1000000000000}\n', "too-large", "data_length"),
    (b'{"type": "x", "payload_length": 65}\n', "too-large", "payload_length"),
    (b'{"type": "x", "data_length": 3}\n[1]', "bad-event", "JSON object"),
    (b'{"type": "x", "data_length": 9}\n{"a"', "incomplete", "middle"),
    (b'{"type": "x", "payload_length": 9}\nabc', "incomplete", "middle"),
    (b'{"type": "x"', "incomplete", "middle of a header"),
    (b"\xff\xfe\n", "bad-event", "JSON"),
])
def test_malformed_input_is_a_protocol_error(raw: bytes, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        read(raw)
    assert caught.value.code == code and caught.value.fatal
    assert words in caught.value.message, caught.value.message


def test_an_oversized_line_is_refused_without_waiting_for_its_end() -> None:
    # No newline and the peer does not close: the limit alone must end the read.
    with pytest.raises(ProtocolError) as caught:
        read(b"x" * 300, close=False)
    assert caught.value.code == "too-large"
    # A long line that does end in a newline within one read is refused too.
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        read(json.dumps({"type": "x", "pad": "y" * 400}).encode() + b"\n")


def test_a_huge_length_is_refused_before_any_byte_of_it_is_read() -> None:
    # The peer stays open: if the reader tried to read 10**12 bytes it would wait (timeout).
    with pytest.raises(ProtocolError, match="exceeds the limit") as caught:
        read(b'{"type": "audio-chunk", "payload_length": 1000000000000}\n', close=False)
    assert caught.value.code == "too-large"


def test_data_that_never_comes_times_out() -> None:
    with pytest.raises(ProtocolError, match="did not arrive") as caught:
        read(b'{"type": "x", "payload_length": 10}\nabc', close=False)
    assert caught.value.code == "incomplete"


def test_parse_header_defaults() -> None:
    assert parse_header(b'{"type": "describe"}') == ("describe", {}, 0, 0)
    assert parse_header(b'{"type": "t", "data": null, "data_length": null}') == ("t", {}, 0, 0)
