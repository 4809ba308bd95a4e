"""The Wyoming server: Home Assistant's Assist uses our wake word, speech to text and TTS.

Runs inside the daemon's task group on the SAME loaded models as the voice loop
(``Controls.voice_backends()``), through the same model limiter, and gives the voice loop
priority.  Modules: ``limits`` (every bound a client cannot exceed), ``framing`` (the wire
format, read with those bounds), ``info`` (the cached ``info`` reply), ``priority`` (the voice
loop goes first), ``requests`` (transcribe / synthesize / detect), ``connection`` (one client),
``server`` (the listener and status part), ``announce`` (optional zeroconf).

This package is ``xnai_edge.wyoming``; the protocol library is the top-level ``wyoming``
package, always imported absolutely.
"""

from __future__ import annotations

from xnai_edge.wyoming.server import serve

__all__ = ["serve"]
