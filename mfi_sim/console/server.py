"""`mfi-sim console`: builds the app and serves it with uvicorn on one host and port."""
from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
import threading
import webbrowser
from urllib.parse import quote

from ..errors import ScenarioError
from .app import Catalog, ConsoleSettings, build_app

__all__ = ["console_url", "serve", "settings_for"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def settings_for(scenario: str | None, host: str, exercise: bool) -> ConsoleSettings:
    """The bundled scenarios plus `scenario` (a file or a bundled name, read now: requests never name files);
    an access token unless the server listens on loopback only."""
    catalog = Catalog.bundled()
    preselect = None
    if scenario is not None:
        from ..scenario.files import bundled_path, resolve_path
        from ..scenario.loader import loads_scenario

        path = resolve_path(scenario)
        if bundled_path(path.stem) == path:
            preselect = path.stem
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(f"cannot read: {exc}", file=scenario) from None
            preselect = path.stem if path.stem not in catalog.entries else f"{path.stem} (file)"
            catalog.entries[preselect] = (loads_scenario(text, scenario).name, text)
    token = None if host in LOOPBACK else secrets.token_urlsafe(24)
    return ConsoleSettings(catalog=catalog, token=token, exercise=exercise, preselect=preselect)


def console_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={quote(token)}" if token else "")


def serve(settings: ConsoleSettings, host: str, port: int, open_browser: bool,
          say: Callable[[str], None]) -> None:
    """Serves until interrupted; prints the URL once the socket is listening."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))   # here, so a busy port is a one-line error, not a log line from uvicorn
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(build_app(settings), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2, lifespan="off")
    server = uvicorn.Server(config)
    url = console_url(host, sock.getsockname()[1], settings.token)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            say(f"mfi-sim console: {url}  (Ctrl+C to stop)")
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
