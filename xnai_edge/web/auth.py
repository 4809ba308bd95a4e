"""Who may use the page and the API: one user, a password made on the device, sessions, CSRF.

* The password is generated on first start (``secrets.token_urlsafe``: 16 characters) and
  written to ``<data_dir>/secrets/web-password`` (0600, from the first byte) so the owner can
  read it once; the journal only names that path.  The process keeps and checks only an scrypt
  hash (stored beside it in ``web-password.scrypt``).  Writing another password into the file
  and restarting changes it: the hash is re-derived when it no longer matches the file.
* scrypt is slow on purpose (~50 ms, 16 MiB): it runs in a worker thread, one at a time, and
  only after the rate limit let the attempt through, so a flood of guesses costs us little.
  A Basic-auth credential that verified is remembered (as an HMAC, for a few minutes) so a
  Prometheus scrape or a script polling ``/api/status`` does not pay scrypt every request.
* Sessions are random tokens in memory (lost on restart: log in again), each with its own CSRF
  token that every state-changing request from the page must carry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from xnai_edge.errors import StorageError
from xnai_edge.heap import give_back
from xnai_edge.identity import secrets_dir, write_private

USER = "admin"
PASSWORD_FILE = "web-password"
HASH_FILE = "web-password.scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILURES_PER_MIN = 10
"""Failed logins allowed per client per minute before 429 (the contract asks for >= 5)."""


@dataclass(frozen=True)
class PasswordHash:
    salt: bytes
    digest: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def make(cls, password: str) -> PasswordHash:
        salt = secrets.token_bytes(16)
        return cls(salt, _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))

    def verify(self, password: str) -> bool:
        return hmac.compare_digest(_scrypt(password, self.salt, self.n, self.r, self.p),
                                   self.digest)

    def encode(self) -> str:
        b64 = base64.b64encode
        return (f"scrypt${self.n}${self.r}${self.p}${b64(self.salt).decode()}$"
                f"{b64(self.digest).decode()}\n")

    @classmethod
    def parse(cls, text: str) -> PasswordHash | None:
        parts = text.strip().split("$")
        if len(parts) != 6 or parts[0] != "scrypt":
            return None
        try:
            n, r, p = (int(x) for x in parts[1:4])
            return cls(base64.b64decode(parts[4]), base64.b64decode(parts[5]), n, r, p)
        except ValueError:
            return None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            maxmem=64 * 1024 * 1024, dklen=32)
    give_back()  # scrypt's 16 MiB working memory: else resident for good in the daemon
    return digest


@dataclass(frozen=True)
class Credentials:
    hash: PasswordHash
    password_file: Path
    created: bool
    """True when this start generated the password (the journal says where it is)."""


def ensure_password(data_dir: Path) -> Credentials:
    """The stored hash, made (with a new password) on first start; blocking (scrypt)."""
    folder = secrets_dir(data_dir)
    plain, hashed = folder / PASSWORD_FILE, folder / HASH_FILE
    try:
        password = plain.read_text(encoding="utf-8").strip() if plain.exists() else ""
        stored = PasswordHash.parse(hashed.read_text(encoding="ascii")) \
            if hashed.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read the status page password in {folder}: {exc}") from exc
    created = not password
    if created:
        password = secrets.token_urlsafe(12)
        write_private(plain, password + "\n")
    if stored is None or created or not stored.verify(password):
        stored = PasswordHash.make(password)
        write_private(hashed, stored.encode())
    return Credentials(stored, plain, created)


class FailureLimiter:
    """At most ``limit`` failed attempts per client in a sliding window; then 429."""

    def __init__(self, limit: int = MAX_FAILURES_PER_MIN, window_s: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 4096) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 = now)."""
        times = self._failures.get(client)
        if not times:
            return 0.0
        now = self.clock()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window_s - now)

    def failed(self, client: str) -> None:
        times = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        times.append(self.clock())
        while len(times) > self.limit:
            times.popleft()
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


@dataclass
class Session:
    token: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    ttl_s: float = 12 * 3600
    max_sessions: int = 64
    clock: Callable[[], float] = time.monotonic
    _by_token: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def create(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(24),
                          self.clock() + self.ttl_s)
        self._by_token[session.token] = session
        while len(self._by_token) > self.max_sessions:
            self._by_token.popitem(last=False)  # the oldest login goes first
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.get(token or "")
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._by_token[session.token]
            return None
        return session

    def drop(self, token: str) -> None:
        self._by_token.pop(token, None)

    def __len__(self) -> int:
        return len(self._by_token)


class Authenticator:
    """Checks passwords off the event loop, with the rate limit and the Basic-auth memory."""

    def __init__(self, credentials: Credentials, *, remember_s: float = 300.0) -> None:
        self.credentials = credentials
        self.limiter = FailureLimiter()
        self.sessions = Sessions()
        self._threads = anyio.CapacityLimiter(1)
        self._key = secrets.token_bytes(32)
        self._remembered: dict[bytes, float] = {}
        self._remember_s = remember_s

    async def check(self, user: str, password: str) -> bool:
        """True for the right user and password (scrypt in a worker thread)."""
        if len(password) > 1024:
            return False
        memo = hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()
        now = time.monotonic()
        if self._remembered.get(memo, 0.0) > now:
            return True
        ok = await anyio.to_thread.run_sync(self.credentials.hash.verify, password,
                                            limiter=self._threads)
        ok = ok and hmac.compare_digest(user.encode(), USER.encode())
        if ok:
            if len(self._remembered) > 64:
                self._remembered.clear()
            self._remembered[memo] = now + self._remember_s
        return ok
