"""Page sessions: sign in with an API key, a signed cookie after that, CSRF on every form.

A browser cannot send ``Authorization: Bearer``, so the pages trade the key for a cookie once:
the sign-in form posts the token, :meth:`KeyStore.lookup` checks it exactly as the API does,
and the answer sets a cookie holding ``{sid, csrf, key}``: a random session id, a random
CSRF token and the key's *id* (never its token), signed and time-stamped with
:mod:`itsdangerous` under a server secret (:func:`load_secret`). The cookie is ``HttpOnly``,
``SameSite=Strict``, and ``Secure`` whenever the governance config says ``environment:
production`` (never decided by a request's scheme or a forwarded header, which a proxy or
a client may set). A session ends ``pages.session_hours`` after sign-in, or sooner once it
has been idle ``pages.idle_minutes``: the cookie's signed time stamp is its last use, renewed
by a page at most every ``pages.refresh_seconds``, and the sign-in time rides in the cookie.

Every request re-checks the key by id (:meth:`KeyStore.active`), so revoking a key ends its
sessions within ``keys_check_seconds``; signing out clears the cookie and records the session
id in a table every worker reads (:class:`~serving.pages.signed_out.SignedOut`), so a copy of
the cookie stops working on every worker too. A visitor who is not signed in still gets a
session (with no key), so that the sign-in form carries a CSRF token too; signing in replaces
it with a new id and token (no session fixation). Only a signed-in session is written to the
signed-out table: an anonymous one grants nothing, so signing it out only clears the cookie
(and anonymous visitors cannot grow the table).

CSRF: every form holds the session's token in a hidden field, and :func:`check_csrf`
refuses a POST whose field is missing or differs (compared in constant time), on top of
``SameSite=Strict``.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from serving.keys import ApiKey, KeyStore
from serving.pages.signed_out import SignedOut

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "PageSession",
    "SessionCodec",
    "check_csrf",
    "load_secret",
]

COOKIE = "vru_session"
CSRF_FIELD = "csrf_token"
_SALT = "vru-risk page session"
_SECRET_MODE = 0o600


@dataclass(frozen=True)
class PageSession:
    """One browser's session: its id, CSRF token, and the key it signed in with (if any)."""

    sid: str
    csrf: str
    key: ApiKey | None = None
    new: bool = False
    started: float = 0.0
    """When it was signed into (or opened), seconds since the epoch."""
    renew: bool = False
    """Its cookie is to be written again, to restart the idle clock."""

    @property
    def signed_in(self) -> bool:
        """True once a valid key was given."""
        return self.key is not None


def load_secret(path: Path) -> bytes:
    """The session-signing secret in ``path``, created (32 random bytes, mode 600) if missing.

    Every worker reads the same file, so a cookie signed by one is accepted by the others.
    """
    path = Path(path)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SECRET_MODE)
    except FileExistsError:  # another worker created it first: use theirs
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
    return secret


class SessionCodec:
    """Reads and writes the session cookie.

    Parameters
    ----------
    secret
        The signing secret (:func:`load_secret`).
    keys
        The server's key store: a session's key is re-checked on every request.
    signed_out
        The sessions signed out before they expired (shared by every worker).
    max_age_seconds
        How long a session lasts after it was signed into, at most.
    idle_seconds
        A session unused this long ends.
    refresh_seconds
        A page writes the cookie again (restarting the idle clock) at most this often.
    secure
        Whether the cookie is ``Secure`` (sent over https only): ``environment: production``.
    """

    def __init__(
        self,
        secret: bytes,
        keys: KeyStore,
        signed_out: SignedOut,
        *,
        max_age_seconds: int,
        idle_seconds: float,
        refresh_seconds: float,
        secure: bool,
    ) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.keys = keys
        self.signed_out = signed_out
        self.max_age_seconds = max_age_seconds
        self.idle_seconds = max(1, round(min(idle_seconds, max_age_seconds)))  # whole seconds
        self.refresh_seconds = refresh_seconds
        self.secure = secure

    def read(self, request: Request) -> PageSession:
        """The request's session: the cookie's if valid (not idle, expired or signed out)."""
        raw = request.cookies.get(COOKIE)
        if raw:
            with contextlib.suppress(BadSignature):
                data: Any
                data, seen = self._serializer.loads(
                    raw, max_age=self.idle_seconds, return_timestamp=True
                )
                session = self._session(data, seen.timestamp())
                if session is not None:
                    return session
        return self.fresh()

    def _session(self, data: Any, seen: float) -> PageSession | None:
        """The session a verified cookie holds, if it is still valid."""
        if not isinstance(data, dict) or data.get("sid") in self.signed_out:
            return None
        sid, csrf, key_id, started = (data.get(n) for n in ("sid", "csrf", "key", "at"))
        now = time.time()
        if not (isinstance(sid, str) and isinstance(csrf, str) and isinstance(started, float)):
            return None
        if now - started > self.max_age_seconds:
            return None
        key = self.keys.active(key_id) if isinstance(key_id, str) else None
        if key_id is not None and key is None:
            return None
        renew = now - seen >= self.refresh_seconds
        return PageSession(sid=sid, csrf=csrf, key=key, started=started, renew=renew)

    @staticmethod
    def fresh(key: ApiKey | None = None) -> PageSession:
        """A new session, with a new id and CSRF token."""
        return PageSession(
            sid=secrets.token_urlsafe(18),
            csrf=secrets.token_urlsafe(24),
            key=key,
            new=True,
            started=time.time(),
        )

    def write(self, request: Request, response: Response, session: PageSession) -> None:
        """Set the cookie of ``session`` on ``response`` (when new, or to renew its idle clock)."""
        if not (session.new or session.renew):
            return
        value = self._serializer.dumps(
            {
                "sid": session.sid,
                "csrf": session.csrf,
                "key": None if session.key is None else session.key.key_id,
                "at": session.started,
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=max(1, round(session.started + self.max_age_seconds - time.time())),
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def sign_out(self, request: Request, response: Response, session: PageSession) -> None:
        """End the session on every worker (if it was signed in) and clear its cookie."""
        if session.key is not None:
            # signed in at most max_age ago, so it would be dead by then anyway
            self.signed_out.add(session.sid, session.started + self.max_age_seconds)
        response.delete_cookie(
            COOKIE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    @staticmethod
    def signed_in(key: ApiKey) -> PageSession:
        """A new session for ``key`` (new id and token: nothing carries over from before)."""
        return replace(SessionCodec.fresh(), key=key)


def check_csrf(session: PageSession, given: object) -> bool:
    """Whether a form's CSRF field matches the session's token (constant-time)."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode(), session.csrf.encode())
