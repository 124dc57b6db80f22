"""Who is calling the web interface, and the session that remembers them.

A request is authenticated by ``Authorization: Bearer <token>`` (pages and API alike) or by a
session cookie that the login page gives in exchange for a token. Two ways to check a token:

* :class:`NamedTokens` (a workstation): named people, each with their own token, kept in a users
  file as SHA-256 digests only (``activeloop users add NAME`` prints a new token once); or
  :class:`SharedToken`, one person with one token, random and printed at start like Jupyter's, or
  read from a file or ``ACTIVELOOP_UI_TOKEN``;
* :class:`PassThrough` (a cluster): the token is the user's own (an OIDC ID token from the
  cluster's identity provider, as oauth2-proxy passes it, or a ServiceAccount token); the server
  acts with it, so the API server's RBAC decides every action and the server never has more rights
  than its user. A token the API server refuses ends the session (401: sign in again).

Cookie sessions carry a CSRF token: a request that changes something and comes with the cookie
must echo it (``X-CSRF-Token`` header or a ``csrf_token`` form field).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
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

    def start_session(self, user: User) -> Session:
        """A session for a user whose token was checked (:meth:`authenticate`)."""
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


def token_digest(token: str) -> str:
    """What a users file keeps of a token: its SHA-256 (a token is random, 32 characters or more,
    so a fast hash is as strong as a slow one; the token itself is never stored)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


class NamedTokens(Authenticator):
    """Named people, each with their own token (a workstation shared by a lab): ``users`` maps a
    name to its token's digest (:func:`token_digest`). Compared in constant time; what each person
    records carries their name."""

    def __init__(self, users: Mapping[str, str]) -> None:
        super().__init__()
        if not users:
            raise InputError("users", "no user: add one with `activeloop users add NAME`")
        self.users = dict(users)

    @override
    def check(self, token: str) -> User:
        digest = token_digest(token.strip()) if token else ""
        found = None
        for name, known in self.users.items():  # every entry compared: the time says nothing
            if hmac.compare_digest(digest.encode(), known.encode()):
                found = name
        if not token or found is None:
            raise UnauthorizedError("this token is not known here; ask for yours (`activeloop users add NAME`), "
                                    "or use the one printed when the server started")
        return User(found)


class SharedToken(NamedTokens):
    """One person (or a lab sharing one token) with one secret token, random and printed at start
    like Jupyter's, or read from a file or ``ACTIVELOOP_UI_TOKEN``."""

    def __init__(self, token: str | None = None, name: str = "lab") -> None:
        self.token = token or secrets.token_urlsafe(24)
        super().__init__({name: token_digest(self.token)})


USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def read_users(path: Path) -> dict[str, str]:
    """A users file: one ``name sha256:<hex>`` per line (``#`` starts a comment); an error names the
    line that is wrong."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError("users", f"cannot read {path} ({exc.strerror})") from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not USER_NAME.match(parts[0]) or not re.fullmatch(r"sha256:[0-9a-f]{64}", parts[1]):
            raise InputError(f"{path}:{number}", "write one 'NAME sha256:<64 hex digits>' per line "
                                                 "(`activeloop users add NAME` writes it)")
        if parts[0] in users:
            raise InputError(f"{path}:{number}", f"{parts[0]} is listed twice")
        users[parts[0]] = parts[1]
    return users


def add_user(path: Path, name: str) -> str:
    """Give ``name`` a new random token in the users file ``path`` (replacing an earlier one);
    returns the token, which is shown once and never stored."""
    if not USER_NAME.match(name):
        raise InputError("name", f"{name!r}: letters, digits and . _ @ - (up to 64)")
    from filelock import FileLock

    token = secrets.token_urlsafe(24)
    with FileLock(str(path) + ".lock", timeout=30):
        users = read_users(path) if path.exists() else {}
        users[name] = token_digest(token)
        body = "# ActiveLoop users: name and the SHA-256 of their token (tokens are never stored)\n" + "".join(
            f"{n} {d}\n" for n, d in sorted(users.items()))
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return token


def remove_user(path: Path, name: str) -> None:
    """Take ``name`` out of the users file (their token stops working when the server reads it again)."""
    from filelock import FileLock

    with FileLock(str(path) + ".lock", timeout=30):
        users = read_users(path)
        if name not in users:
            raise InputError("name", f"no user {name!r} in {path}; users: {sorted(users)}")
        del users[name]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("# ActiveLoop users: name and the SHA-256 of their token (tokens are never stored)\n" +
                       "".join(f"{n} {d}\n" for n, d in sorted(users.items())))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


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


__all__ = ["CSRF_HEADER", "MIN_TOKEN_LENGTH", "SESSION_COOKIE", "Authenticator", "NamedTokens", "PassThrough",
           "Session", "SharedToken", "add_user", "read_token", "read_users", "remove_user", "token_digest"]
