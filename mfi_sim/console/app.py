"""The console's HTTP side (Starlette): JSON API, a live stream of server-sent events, the page and its static
files. Errors are `{"error": "<one line>"}` with a 4xx status. Engine work runs in the thread pool under the
session's lock, so many trainees' sessions advance at once."""
from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ScenarioError
from . import views
from .session import Session, SessionError, load_session
from .store import SessionStore, StoreFull

__all__ = ["Catalog", "ConsoleSettings", "build_app", "CSP", "MAX_BODY"]

MAX_BODY = 1 << 20
"""Largest request body accepted (a scenario's TOML text fits easily)."""
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC = {"index.html": "text/html; charset=utf-8", "console.js": "text/javascript; charset=utf-8",
          "console.css": "text/css; charset=utf-8"}
TOKEN_COOKIE = "mfi_console_token"
STREAM_SECONDS = 300.0
"""One live stream lasts this long at most; the browser's EventSource then reconnects by itself."""


@dataclass
class Catalog:
    """The scenarios a trainee may pick: name -> (title, TOML text). Requests name one; none reaches a file."""

    entries: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def bundled(cls) -> Catalog:
        from ..scenario.files import bundled_names, bundled_path
        from ..scenario.loader import loads_scenario

        out = cls()
        for name in bundled_names():
            path = bundled_path(name)
            assert path is not None
            text = path.read_text(encoding="utf-8")
            out.entries[name] = (loads_scenario(text, name).name, text)
        return out


@dataclass
class ConsoleSettings:
    """How the server was started: the token (None on 127.0.0.1), exercise mode by default, a scenario to
    preselect, the session store."""

    catalog: Catalog
    token: str | None = None
    exercise: bool = False
    preselect: str | None = None
    store: SessionStore = field(default_factory=SessionStore)


class _Guard:
    """ASGI middleware: the access token (query `token`, header `X-Console-Token` or the cookie it sets) on
    every request when one is set, and security headers (CSP, no sniffing, no referrer) on every response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = (request.query_params.get("token") or request.headers.get("x-console-token")
                 or request.cookies.get(TOKEN_COOKIE) or "")
        if self.token is not None and not secrets.compare_digest(given.encode(), self.token.encode()):
            await _error(401, "this console needs its access token: open the URL it printed")(scope, receive, send)
            return
        set_cookie = self.token is not None and request.cookies.get(TOKEN_COOKIE) != self.token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
                if set_cookie:
                    headers.append((b"set-cookie", f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; "
                                                   f"SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> Any:
    """The JSON body, at most MAX_BODY bytes, sent as application/json (a cross-site form cannot)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise SessionError("send the body as application/json")
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_BODY:
        raise _TooLarge()
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise _TooLarge()
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (ValueError, RecursionError):
        raise SessionError("the body is not valid JSON") from None


class _TooLarge(Exception):
    pass


Handler = Callable[[Request], Awaitable[Response]]


def _api(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
    """Turns a handler's result into JSON and its errors into one-line 4xx answers."""
    async def endpoint(request: Request) -> Response:
        try:
            out = await fn(request)
        except (SessionError, ScenarioError) as exc:
            return _error(400, str(exc))
        except _TooLarge:
            return _error(413, f"the request body is larger than {MAX_BODY} bytes")
        except StoreFull as exc:
            return _error(503, str(exc))
        return out if isinstance(out, Response) else JSONResponse(out)
    return endpoint


async def _locked(session: Session, fn: Callable[[], Any]) -> Any:
    """Runs `fn` in the thread pool holding the session's lock (engine work never blocks the event loop)."""
    def work() -> Any:
        with session.lock:
            return fn()
    return await run_in_threadpool(work)


def _new_session_request(settings: ConsoleSettings, body: Any) -> tuple[str, str, Any, bool]:
    """(TOML text, source name, seed, exercise) of a POST /api/sessions body; SessionError when malformed."""
    if not isinstance(body, dict) or ("scenario" in body) == ("toml" in body):
        raise SessionError('give {"scenario": NAME} or {"toml": TEXT}, and optionally "seed" and "exercise"')
    unknown = set(body) - {"scenario", "toml", "seed", "exercise"}
    if unknown:
        raise SessionError(f"unknown field {sorted(unknown)[0]!r}")
    exercise = body.get("exercise", settings.exercise)
    if not isinstance(exercise, bool):
        raise SessionError("exercise: expected true or false")
    if "toml" in body:
        if not isinstance(body["toml"], str):
            raise SessionError("toml: expected the scenario's TOML text as a string")
        return body["toml"], "scenario.toml", body.get("seed"), exercise
    name = body["scenario"]
    entry = settings.catalog.entries.get(name) if isinstance(name, str) else None
    if entry is None:
        raise SessionError(f"scenario: no scenario called {str(name)[:60]!r} (GET /api/scenarios lists them)")
    return entry[1], name, body.get("seed"), exercise


class _Console:
    """The endpoints, over one settings object (catalog, token, store) and the static files read once."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.store = settings.store
        self.static = {name: (resources.files("mfi_sim.console").joinpath("static", name).read_bytes(), kind)
                       for name, kind in STATIC.items()}

    def session_of(self, request: Request) -> Session:
        session = self.store.get(request.path_params["sid"])
        if session is None:
            raise HTTPException(404, "no such session (it may have been idle too long)")
        return session

    async def page(self, request: Request) -> Response:
        body, kind = self.static["index.html"]
        return Response(body, media_type=kind)

    async def asset(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None or request.path_params["name"] == "index.html":
            raise HTTPException(404, "no such file")
        return Response(found[0], media_type=found[1])

    async def no_icon(self, request: Request) -> Response:
        return Response(status_code=204)   # browsers ask for it on pages that name none (a JSON answer, say)

    async def scenarios(self, request: Request) -> Any:
        return [{"name": n, "title": t} for n, (t, _) in self.settings.catalog.entries.items()]

    async def config(self, request: Request) -> Any:
        return {"exercise": self.settings.exercise, "scenario": self.settings.preselect,
                "can_resolve_alerts": _can_resolve()}

    async def create(self, request: Request) -> Any:
        text, source, seed, exercise = _new_session_request(self.settings, await _body(request))
        session = await run_in_threadpool(load_session, text, source, seed, exercise)
        if exercise:
            from .debrief import start_comparisons

            start_comparisons(session)
        return {"id": self.store.add(session)}

    async def show(self, request: Request) -> Any:
        session = self.session_of(request)
        return await _locked(session, lambda: views.state(session))

    async def advance(self, request: Request) -> Any:
        session = self.session_of(request)
        body = await _body(request)

        def step() -> dict[str, Any]:
            session.advance(body)
            return views.state(session)
        return await _locked(session, step)

    async def act(self, request: Request) -> Any:
        session = self.session_of(request)
        body = await _body(request)
        reason, state = await _locked(session, lambda: (session.act(body), views.state(session)))
        if reason is not None:
            return JSONResponse({"error": reason}, status_code=409)
        return state

    async def queue(self, request: Request) -> Any:
        session, q = self.session_of(request), request.query_params
        return await _locked(session, lambda: views.queue_page(session, q.get("connector"), q.get("offset"),
                                                               q.get("limit")))

    async def trace(self, request: Request) -> Any:
        session, q = self.session_of(request), request.query_params
        return await _locked(session, lambda: views.trace_search(session, q.get("recipient"), q.get("status"),
                                                                 q.get("since"), q.get("until")))

    async def transcript(self, request: Request) -> Any:
        session = self.session_of(request)
        return await _locked(session, lambda: views.transcript(session, request.query_params.get("connector")))

    async def scenario_toml(self, request: Request) -> Any:
        session = self.session_of(request)
        text = await _locked(session, session.scenario_toml)
        return Response(text, media_type="application/toml; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="scenario.toml"'})

    async def debrief(self, request: Request) -> Any:
        from .debrief import debrief

        session = self.session_of(request)
        return await _locked(session, lambda: debrief(session))

    async def stream(self, request: Request) -> Response:
        """Server-sent events: the state (event `state`) whenever it changes, a comment every 15 s of quiet; it
        ends with the run, after STREAM_SECONDS, or when the browser goes away."""
        session = self.session_of(request)
        return StreamingResponse(_state_events(request, session), media_type="text/event-stream")

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))


async def _state_events(request: Request, session: Session) -> AsyncIterator[str]:
    sent, quiet = -1, 0.0
    loop = asyncio.get_running_loop()
    until = loop.time() + STREAM_SECONDS
    while loop.time() < until and not await request.is_disconnected():
        if session.version != sent:
            sent = session.version
            state = await _locked(session, lambda: views.state(session))
            yield f"event: state\ndata: {json.dumps(state, ensure_ascii=False)}\n\n"
            if state["scenario"]["ended"]:
                return
            quiet = 0.0
        elif quiet >= 15.0:
            yield ": still here\n\n"
            quiet = 0.0
        await asyncio.sleep(0.2)
        quiet += 0.2


def build_app(settings: ConsoleSettings) -> Starlette:
    """The console's ASGI application."""
    c = _Console(settings)
    sid = "/api/sessions/{sid}"
    routes = [
        Route("/", c.page), Route("/static/{name}", c.asset), Route("/favicon.ico", c.no_icon),
        Route("/api/scenarios", _api(c.scenarios)), Route("/api/config", _api(c.config)),
        Route("/api/sessions", _api(c.create), methods=["POST"]), Route(sid, _api(c.show)),
        Route(f"{sid}/advance", _api(c.advance), methods=["POST"]),
        Route(f"{sid}/actions", _api(c.act), methods=["POST"]), Route(f"{sid}/queue", _api(c.queue)),
        Route(f"{sid}/trace", _api(c.trace)), Route(f"{sid}/transcript", _api(c.transcript)),
        Route(f"{sid}/scenario.toml", _api(c.scenario_toml)), Route(f"{sid}/debrief", _api(c.debrief)),
        Route(f"{sid}/events", c.stream),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: c.http_error})
    app.add_middleware(_Guard, token=settings.token)
    return app


def _can_resolve() -> bool:
    """Whether this engine has the resolve_alert action (the page shows Resolve buttons only then)."""
    from ..scenario.schema import ACTION_KINDS

    return "resolve_alert" in ACTION_KINDS
