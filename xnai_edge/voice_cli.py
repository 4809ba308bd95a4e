"""Voice commands: listen (WAV or microphone), say, doctor."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from xnai_edge.context import AppContext, from_args
from xnai_edge.errors import InputError
from xnai_edge.events import AnswerEnd

LISTEN_HELP = """Run the whole voice loop over a recording (the wake word must be in it) and write
what the device would say, aligned with the input, to --output. With --mic, listen to the
microphone until Ctrl-C."""


def register(sub: Any) -> None:
    p = sub.add_parser("listen", help="run the voice loop over a WAV file or the microphone",
                       description=LISTEN_HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, metavar="IN.wav", help="recording to listen to")
    src.add_argument("--mic", action="store_true", help="listen to the microphone")
    p.add_argument("--output", type=Path, metavar="OUT.wav",
                   help="write the spoken answers here (default with --mic: the speaker)")
    p.add_argument("--json", action="store_true", help="one JSON line per interaction")
    p.add_argument("--fast", action="store_true",
                   help="feed the file as fast as possible instead of in real time "
                   "(latencies are then not meaningful)")
    p.set_defaults(func=lambda a: anyio.run(_listen, a, from_args(a)))

    p = sub.add_parser("say", help="speak TEXT with the installed voice into a WAV file")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--output", type=Path, required=True, metavar="OUT.wav")
    p.set_defaults(func=lambda a: _say(a, from_args(a)))

    p = sub.add_parser("doctor", help="list audio devices, check models and memory sensors, "
                       "show the CPU and which device profile (hardware/) fits and why")
    p.add_argument("--profiles", metavar="DIR", help="device profiles (default: the "
                   "checkout's hardware/, else /usr/share/xnai-edge/hardware)")
    p.add_argument("--write-config", type=Path, metavar="FILE",
                   help="write the fitting profile as a config file (the image's first boot)")
    p.add_argument("--model-set", default="tiny", choices=("tiny", "standard"),
                   help="[models] set written by --write-config (the set the image carries)")
    p.set_defaults(func=lambda a: _doctor(a, from_args(a)))


def interaction_json(event: AnswerEnd) -> dict[str, Any]:
    """``stamps``: audio seconds on the input's timeline -- ``speech_end`` (the last speech
    frame), ``end_of_turn`` (when the loop decided), ``first_audio``...; ``timings_ms`` holds
    ``speech_end_to_first_audio`` (the wait a person feels) and ``end_of_turn_ms``."""
    return {"wake_score": round(event.wake_score, 3), "transcript": event.question,
            "answer": event.answer, "sources": event.sources, "tier": event.tier,
            "method": event.method, "timings_ms": event.timings_ms,
            "stamps": {k: round(v, 3) for k, v in event.stamps.items()}}


async def _listen(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.audio.wav import WavSink, WavSource
    from xnai_edge.voice.audio_io import open_sink, open_source
    from xnai_edge.voice.pacing import paced
    from xnai_edge.voice.session import VoiceBackends, run_voice

    if args.input is not None and args.output is None:
        raise InputError("--output OUT.wav is required with --input")
    wav = WavSource(args.input) if args.input is not None else None  # fails early if corrupt
    backends = await VoiceBackends.load(ctx)
    sink: Any
    if args.output is not None:
        sink = WavSink(args.output, rate=backends.tts.sample_rate)
    else:
        sink = open_sink(ctx.config.audio.output, backends.tts.sample_rate)
    source: AsyncIterator[Any]
    if wav is not None:
        source = paced(iter(wav), realtime=not args.fast)
    else:
        source = open_source(ctx.config.audio.input)

    def show(event: Any) -> None:
        if isinstance(event, AnswerEnd):
            if args.json:
                print(json.dumps(interaction_json(event)), flush=True)
            else:
                print(f"you: {event.question}\nme:  {event.answer}", flush=True)

    try:
        await run_voice(ctx, source, sink, backends=backends, on_event=show)
    finally:
        sink.close()
    return 0


def _say(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.audio.wav import WavSink
    from xnai_edge.backends.registry import load_tts

    if not args.text.strip():
        raise InputError("nothing to say: TEXT is empty")
    tts = load_tts(ctx.models_dir, ctx.config)
    sink = WavSink(args.output, rate=tts.sample_rate)
    try:
        for part in tts.stream(args.text):
            sink.write(part)
    finally:
        sink.close()
    print(f"wrote {args.output}")
    return 0


def _doctor(args: argparse.Namespace, ctx: AppContext) -> int:
    from xnai_edge.audio.devices import list_devices
    from xnai_edge.audio.error import AudioError
    from xnai_edge.modelstore import ModelStore

    ok = True
    try:
        devices = list_devices()
    except AudioError as exc:
        devices = []
        print(f"audio: {exc.message}")
    print(f"audio devices: {len(devices)}")
    for d in devices:
        print(f"  {d}")
    if not devices:
        print("  no sound card: the daemon reports state no-audio; `listen --input` still works")
    for status in ModelStore(ctx.models_dir).status(ctx.config.models.set):
        print(f"model {status.role:6s} {status.state}")
        ok &= status.state == "present"
    for path in ("/proc/pressure/memory", "/proc/meminfo"):
        print(f"{path}: {'readable' if Path(path).exists() else 'missing'}")
    ok &= _doctor_profile(args, [d.name for d in devices])
    print(f"python {sys.version.split()[0]}; data dir {ctx.data_dir}; models {ctx.models_dir}")
    return 0 if ok else 1


def _doctor_profile(args: argparse.Namespace, device_names: list[str]) -> bool:
    """CPU flags, memory, PSI and the matching device profile; --write-config writes it."""
    from xnai_edge import hwprofile
    from xnai_edge.identity import write_private

    directory = hwprofile.profiles_dir(args.profiles)
    chosen, lines = hwprofile.doctor_report(directory, hwprofile.read_facts(), device_names)
    print("\n".join(lines))
    if args.write_config is None:
        return True
    why = f"it fits this machine ({chosen.description})" if chosen else ""
    write_private(args.write_config, hwprofile.render_config(chosen, args.model_set, why=why),
                  mode=0o644)
    print(f"wrote {args.write_config}")
    return True
