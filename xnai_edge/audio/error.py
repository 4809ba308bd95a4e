"""The audio edge's one error type (re-exported as ``xnai_edge.audio.AudioError``)."""

from __future__ import annotations

from xnai_edge.errors import XnaiError


class AudioError(XnaiError):
    """An audio file, stream or device cannot be read or opened."""

    code = "audio"
