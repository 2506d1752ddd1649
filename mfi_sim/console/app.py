"""The console's HTTP side (Starlette): JSON API, a live stream of server-sent events, the page and its static
files. Errors are `{"error": "<one line>"}` with a 4xx status. Engine work runs in the thread pool under the
session's lock, so many trainees' sessions advance at once."""
from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Awaitable, Callable

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


def build_app(settings: ConsoleSettings) -> Starlette:
    """The console's ASGI application."""
    store = settings.store
    static = {name: (resources.files("mfi_sim.console").joinpath("static", name).read_bytes(), kind)
              for name, kind in STATIC.items()}

    def api(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
        """Turns a handler's result into JSON and its errors into one-line 4xx answers."""
        async def endpoint(request: Request) -> Response:
            try:
                out = await fn(request)
            except SessionError as exc:
                return _error(400, str(exc))
            except ScenarioError as exc:
                return _error(400, str(exc))
            except _TooLarge:
                return _error(413, f"the request body is larger than {MAX_BODY} bytes")
            except StoreFull as exc:
                return _error(503, str(exc))
            return out if isinstance(out, Response) else JSONResponse(out)
        return endpoint

    def session_of(request: Request) -> Session:
        session = store.get(request.path_params["sid"])
        if session is None:
            raise HTTPException(404, "no such session (it may have been idle too long)")
        return session

    async def locked(session: Session, fn: Callable[[], Any]) -> Any:
        def work() -> Any:
            with session.lock:
                return fn()
        return await run_in_threadpool(work)

    async def page(request: Request) -> Response:
        body, kind = static["index.html"]
        return Response(body, media_type=kind)

    async def asset(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None or request.path_params["name"] == "index.html":
            raise HTTPException(404, "no such file")
        return Response(found[0], media_type=found[1])

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)   # browsers ask for it on pages that name none (a JSON answer, say)

    async def scenarios(request: Request) -> Any:
        return [{"name": n, "title": t} for n, (t, _) in settings.catalog.entries.items()]

    async def config(request: Request) -> Any:
        return {"exercise": settings.exercise, "scenario": settings.preselect,
                "can_resolve_alerts": _can_resolve()}

    async def create(request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict) or ("scenario" in body) == ("toml" in body):
            raise SessionError('give {"scenario": NAME} or {"toml": TEXT}, and optionally "seed" and "exercise"')
        unknown = set(body) - {"scenario", "toml", "seed", "exercise"}
        if unknown:
            raise SessionError(f"unknown field {sorted(unknown)[0]!r}")
        exercise = body.get("exercise", settings.exercise)
        if not isinstance(exercise, bool):
            raise SessionError("exercise: expected true or false")
        if "scenario" in body:
            entry = settings.catalog.entries.get(body["scenario"]) if isinstance(body["scenario"], str) else None
            if entry is None:
                raise SessionError(f"scenario: no scenario called {str(body['scenario'])[:60]!r} "
                                   f"(GET /api/scenarios lists them)")
            text, source = entry[1], body["scenario"]
        else:
            if not isinstance(body["toml"], str):
                raise SessionError("toml: expected the scenario's TOML text as a string")
            text, source = body["toml"], "scenario.toml"
        session = await run_in_threadpool(load_session, text, source, body.get("seed"), exercise)
        if exercise:
            from .debrief import start_comparisons

            start_comparisons(session)
        return {"id": store.add(session)}

    async def show(request: Request) -> Any:
        session = session_of(request)
        return await locked(session, lambda: views.state(session))

    async def advance(request: Request) -> Any:
        session = session_of(request)
        body = await _body(request)

        def step() -> dict[str, Any]:
            session.advance(body)
            return views.state(session)
        return await locked(session, step)

    async def act(request: Request) -> Any:
        session = session_of(request)
        body = await _body(request)
        reason, state = await locked(session, lambda: (session.act(body), views.state(session)))
        if reason is not None:
            return JSONResponse({"error": reason}, status_code=409)
        return state

    async def queue(request: Request) -> Any:
        session = session_of(request)
        q = request.query_params
        return await locked(session, lambda: views.queue_page(session, q.get("connector"), q.get("offset"),
                                                              q.get("limit")))

    async def trace(request: Request) -> Any:
        session = session_of(request)
        q = request.query_params
        return await locked(session, lambda: views.trace_search(session, q.get("recipient"), q.get("status"),
                                                                q.get("since"), q.get("until")))

    async def transcript(request: Request) -> Any:
        session = session_of(request)
        return await locked(session, lambda: views.transcript(session, request.query_params.get("connector")))

    async def scenario_toml(request: Request) -> Any:
        session = session_of(request)
        text = await locked(session, session.scenario_toml)
        return Response(text, media_type="application/toml; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="scenario.toml"'})

    async def debrief(request: Request) -> Any:
        from .debrief import debrief as make

        session = session_of(request)
        return await locked(session, lambda: make(session))

    async def stream(request: Request) -> Response:
        session = session_of(request)

        async def events() -> Any:
            sent, quiet = -1, 0.0
            loop = asyncio.get_running_loop()
            until = loop.time() + STREAM_SECONDS
            while loop.time() < until and not await request.is_disconnected():
                if session.version != sent:
                    sent = session.version
                    state = await locked(session, lambda: views.state(session))
                    yield f"event: state\ndata: {json.dumps(state, ensure_ascii=False)}\n\n"
                    if state["scenario"]["ended"]:
                        return
                    quiet = 0.0
                elif quiet >= 15.0:
                    yield ": still here\n\n"
                    quiet = 0.0
                await asyncio.sleep(0.2)
                quiet += 0.2

        return StreamingResponse(events(), media_type="text/event-stream")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    sid = "/api/sessions/{sid}"
    routes = [
        Route("/", page), Route("/static/{name}", asset), Route("/favicon.ico", no_icon), Route("/api/scenarios", api(scenarios)),
        Route("/api/config", api(config)), Route("/api/sessions", api(create), methods=["POST"]),
        Route(sid, api(show)), Route(f"{sid}/advance", api(advance), methods=["POST"]),
        Route(f"{sid}/actions", api(act), methods=["POST"]), Route(f"{sid}/queue", api(queue)),
        Route(f"{sid}/trace", api(trace)), Route(f"{sid}/transcript", api(transcript)),
        Route(f"{sid}/scenario.toml", api(scenario_toml)), Route(f"{sid}/debrief", api(debrief)),
        Route(f"{sid}/events", stream),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.add_middleware(_Guard, token=settings.token)
    return app


def _can_resolve() -> bool:
    """Whether this engine has the resolve_alert action (the page shows Resolve buttons only then)."""
    from ..scenario.schema import ACTION_KINDS

    return "resolve_alert" in ACTION_KINDS
