"""Who is calling the web interface, and the session that remembers them.

A request is authenticated by ``Authorization: Bearer <token>`` (pages and API alike) or by a
session cookie that the login page gives in exchange for a token. Two ways to check a token:

* :class:`SharedToken` (a workstation): one secret token, random and printed at start like
  Jupyter's, or set with ``--token`` / ``ACTIVELOOP_UI_TOKEN``;
* :class:`PassThrough` (a cluster): the token is the user's own (an OIDC ID token from the
  cluster's identity provider, as oauth2-proxy passes it, or a ServiceAccount token); the server
  acts with it, so the API server's RBAC decides every action and the server never has more rights
  than its user. A token the API server refuses ends the session (401: sign in again).

Cookie sessions carry a CSRF token: a request that changes something and comes with the cookie
must echo it (``X-CSRF-Token`` header or a ``csrf_token`` form field).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import override

from activeloop.errors import InputError, UnauthorizedError
from activeloop.service.base import User

SESSION_COOKIE = "activeloop_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its user, its CSRF token, and when it ends."""

    id: str
    user: User
    csrf: str
    expires: float


class Authenticator(ABC):
    """Checks tokens and keeps sessions (in memory: a restart signs everyone out).

    Failed sign-ins are limited per client address: after ``max_failures`` within ``window``
    seconds, that address is refused (without checking) until the window has passed.
    """

    max_failures = 10
    window = 60.0

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def check(self, token: str) -> User:
        """The user a token stands for, or :class:`UnauthorizedError`."""

    def authenticate(self, token: str, client: str = "") -> User:
        """:meth:`check`, with failed attempts limited per ``client`` (its address)."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            self._failures[client] = recent
            if len(recent) >= self.max_failures:
                wait = self.window - (now - recent[0])
                raise UnauthorizedError(f"too many failed sign-ins from your address; try again in {wait:.0f} s")
        try:
            return self.check(token)
        except UnauthorizedError:
            with self._lock:
                self._failures.setdefault(client, []).append(now)
                if len(self._failures) > 10_000:  # a bounded memory of addresses
                    self._failures.pop(next(iter(self._failures)))
            raise

    def start_session(self, token: str, client: str = "") -> Session:
        """Exchange a valid token for a session."""
        user = self.authenticate(token, client)
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(24),
                          time.time() + SESSION_SECONDS)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        """The live session of a cookie, if any."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires < time.time():
                del self._sessions[session_id]
                return None
            return session

    def end_session(self, session_id: str | None) -> None:
        """Sign out."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def end_sessions_of(self, token: str) -> None:
        """Forget every session made from ``token`` (the cluster no longer accepts it)."""
        with self._lock:
            for sid in [s.id for s in self._sessions.values() if s.user.token == token]:
                del self._sessions[sid]


class SharedToken(Authenticator):
    """One secret token (a workstation). Compared in constant time."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token or secrets.token_urlsafe(24)

    @override
    def check(self, token: str) -> User:
        if not token or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise UnauthorizedError("the token is not this server's; it was printed when the server started")
        return User("lab")


class PassThrough(Authenticator):
    """Any bearer token (a cluster): the API server decides what it may do."""

    @override
    def check(self, token: str) -> User:
        token = token.strip()
        if not token or len(token) > 16_384 or any(c.isspace() for c in token):
            raise UnauthorizedError("give the bearer token of your cluster identity")
        return User(f"token …{token[-4:]}", token=token)


MIN_TOKEN_LENGTH = 16
"""A token chosen by hand must be at least this long (a random one is 32 characters)."""


def read_token(path: Path | None, env: str | None) -> str | None:
    """The server's token from a file (first line) or the environment, else ``None`` (a random one
    is made); never from the command line, where other users of the machine see it in ``ps``."""
    token = None
    if path is not None:
        try:
            token = path.read_text().strip().splitlines()[0].strip() if path.read_text().strip() else ""
        except OSError as exc:
            raise InputError("token_file", f"cannot read {path} ({exc.strerror})") from None
    elif env:
        token = env.strip()
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InputError("token", f"a token must have at least {MIN_TOKEN_LENGTH} characters; "
                                  f"this one has {len(token)}")
    return token


__all__ = [
    "MIN_TOKEN_LENGTH",
    "read_token","CSRF_HEADER", "SESSION_COOKIE", "Authenticator", "PassThrough", "Session", "SharedToken"]
