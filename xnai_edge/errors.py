"""Errors with a stable code per stage.

Every failure the user can meet is an ``XnaiError``: the CLI prints ``error[<code>]: <message>``
on one line and exits non-zero; the daemon turns it into an ``error{code}`` event.  The code is
stable (tests and MQTT consumers match on it); the message says what happened *and* what fixes it.
"""

from __future__ import annotations


class XnaiError(Exception):
    """Base of every expected failure. ``code`` is stable, ``message`` is for humans."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(XnaiError):
    code = "config"


class ModelError(XnaiError):
    """A model is missing, corrupt or cannot be fetched."""

    code = "model"


class IngestError(XnaiError):
    """A document cannot be read or stored."""

    code = "ingest"


class KnowledgeError(XnaiError):
    """The knowledge base cannot be opened, written or is inconsistent."""

    code = "kb"


class StorageError(XnaiError):
    """The disk is full or read-only; nothing was changed."""

    code = "storage"


class InputError(XnaiError):
    """A question, query or argument is not acceptable."""

    code = "input"


class BackendError(XnaiError):
    """A model backend (embedder, LLM, ...) failed while running."""

    code = "backend"
