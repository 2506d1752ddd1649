"""Sessions by unguessable id, dropped after a long idle time, bounded in number."""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from .session import Session

__all__ = ["SessionStore", "StoreFull"]


class StoreFull(Exception):
    """No room for another session (HTTP 503)."""


class SessionStore:
    """Thread-safe map of session id to Session. Ids come from `secrets.token_urlsafe` (no session can find
    another); a session untouched for `idle_s` seconds is dropped at the next request."""

    def __init__(self, idle_s: float = 4 * 3600.0, max_sessions: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> str:
        with self._lock:
            self._reap()
            if len(self._sessions) >= self.max_sessions:
                raise StoreFull(f"this console already holds {self.max_sessions} sessions; try again later")
            sid = secrets.token_urlsafe(24)
            session.touched = self.clock()
            self._sessions[sid] = session
            return sid

    def get(self, sid: str) -> Session | None:
        """The session (marked as used now), or None when there is none by that id (or it was dropped)."""
        with self._lock:
            self._reap()
            session = self._sessions.get(sid)
            if session is not None:
                session.touched = self.clock()
            return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _reap(self) -> None:
        cut = self.clock() - self.idle_s
        for sid in [sid for sid, s in self._sessions.items() if s.touched < cut]:
            del self._sessions[sid]
