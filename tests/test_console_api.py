"""The training console's HTTP API: every endpoint, bad input, the access token, the live stream, idle sessions,
the replay of a trainee's session by `mfi-sim run`, and 20 sessions advanced at once."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx2")
from starlette.testclient import TestClient  # noqa: E402

from mfi_sim.console.app import CSP, MAX_BODY, Catalog, ConsoleSettings, build_app  # noqa: E402
from mfi_sim.console.store import SessionStore  # noqa: E402

from helpers import cli, scenario_text  # noqa: E402

CONN = "To on-premises"
CATALOG = Catalog.bundled()


def client(**kw: Any) -> TestClient:
    return TestClient(build_app(ConsoleSettings(catalog=CATALOG, **kw)))


def new_session(c: TestClient, **body: Any) -> str:
    r = c.post("/api/sessions", json={"scenario": "connection-refused", **body})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def post(c: TestClient, path: str, body: Any) -> Any:
    return c.post(path, json=body)


def test_scenarios_and_page() -> None:
    c = client()
    names = {s["name"]: s["title"] for s in c.get("/api/scenarios").json()}
    assert names["connection-refused"] == "On-premises server refuses connections" and len(names) >= 10
    page = c.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"] == CSP and page.headers["x-content-type-options"] == "nosniff"
    assert c.get("/static/console.js").status_code == 200
    for bad in ("/static/../app.py", "/static/index.html", "/static/%2e%2e%2fapp.py", "/static/nope.js"):
        assert c.get(bad).status_code == 404
    assert c.get("/api/nothing").json() == {"error": "Not Found"}


def test_create_session_bad_input() -> None:
    c = client()
    cases: list[tuple[Any, int, str]] = [
        ({"scenario": "no-such"}, 400, "no scenario called 'no-such'"),
        ({"scenario": "../../etc/passwd"}, 400, "no scenario called"),
        ({"scenario": "connection-refused", "toml": "x"}, 400, "give {"),
        ({}, 400, "give {"),
        ([1, 2], 400, "give {"),
        ({"scenario": "connection-refused", "seed": "7"}, 400, "seed:"),
        ({"scenario": "connection-refused", "colour": 1}, 400, "unknown field 'colour'"),
        ({"toml": "[scenario]\nname = 1\n"}, 400, "scenario.toml:2: scenario.name: expected a string"),
        ({"toml": "not = [toml"}, 400, "not valid TOML"),
        ({"toml": scenario_text(rate="fast")}, 400, "traffic[0].rate: bad rate 'fast'"),
    ]
    for body, status, words in cases:
        r = c.post("/api/sessions", json=body)
        assert r.status_code == status and words in r.json()["error"], (body, r.text)
        assert "\n" not in r.json()["error"]
    r = c.post("/api/sessions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"error": "the body is not valid JSON"}
    r = c.post("/api/sessions", content=b'{"scenario": "connection-refused"}', headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "application/json" in r.json()["error"]
    r = c.post("/api/sessions", content=b"[" * (MAX_BODY + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = c.post("/api/sessions", json={"toml": scenario_text(), "seed": 3})
    assert r.status_code == 200 and c.get(f"/api/sessions/{r.json()['id']}").json()["scenario"]["seed"] == 3


def test_session_state_advance_and_unknown_session() -> None:
    c = client()
    sid = new_session(c)
    assert len(sid) >= 32
    state = c.get(f"/api/sessions/{sid}").json()
    assert state["t"] == 0.0 and state["at"] == "2026-03-02T08:00:00.000Z"
    assert set(state) >= {"t", "at", "summary", "connectors", "alerts", "timeline"}
    run_keys = {"name", "status_at_end", "received", "delivered", "ndr", "rejected", "queued_at_end",
                "max_queue_depth", "last_error", "last_error_code", "codes_seen", "attempts", "delay_notifications",
                "expired"}
    assert run_keys <= set(state["connectors"][0])
    s = post(c, f"/api/sessions/{sid}/advance", {"to": "2h10m"}).json()
    assert s["t"] == 7800.0 and s["connectors"][0]["status"] == "Retry"
    insight = [a for a in s["alerts"] if a["kind"] == "insight"][0]
    assert insight["status"] == "Active" and insight["fix_now"] and insight["code"] == "450 4.4.316"
    assert post(c, f"/api/sessions/{sid}/advance", {"by": "5m"}).json()["t"] == 8100.0
    assert post(c, f"/api/sessions/{sid}/advance", {"until": "next-event"}).json()["t"] > 8100.0
    for bad, words in (({"to": "soon"}, "to: bad duration"), ({"until": "lunch"}, "until:"), ({}, "advance takes"),
                       ({"to": "1h"}, "to: 1h has passed (the clock is at 2h20m)"), ({"by": 5}, "by: expected"),
                       ({"to": "1h", "by": "1h"}, "advance takes"), ("2h", "advance takes")):
        r = post(c, f"/api/sessions/{sid}/advance", bad)
        assert r.status_code == 400 and words in r.json()["error"], (bad, r.text)
    for path in ("", "/queue", "/trace", "/transcript", "/scenario.toml", "/debrief", "/events"):
        r = c.get(f"/api/sessions/not-a-session{path}")
        assert r.status_code == 404 and "no such session" in r.json()["error"]
    assert post(c, "/api/sessions/not-a-session/advance", {"by": "1h"}).status_code == 404


def test_actions_refused_and_accepted() -> None:
    c = client()
    sid = new_session(c)
    act = f"/api/sessions/{sid}/actions"
    r = post(c, act, {"do": "fix_now", "connector": CONN})
    assert r.status_code == 409 and "Fix now is not offered" in r.json()["error"]
    refused = [({"do": "fix_now", "connector": "Nope"}, "no connector is called 'Nope'"),
               ({"do": "set_smart_hosts", "connector": CONN, "smart_hosts": ["bad host!"]},
                "smart_hosts: 'bad host!' is not a host name or an IP address"),
               ({"do": "explode"}, "do: must be one of"),
               ({"do": "fix_now", "connector": CONN, "at": "1h"}, "at: an action is taken now"),
               ({"do": "set_dns_record", "name": "mail.contoso.com", "type": "A", "value": "not-an-ip"},
                "value: not a valid A record value"),
               ({"do": "clear_fault", "fault": 5}, "there is no [[faults]] entry number 5"),
               ({"do": "set_tls", "connector": CONN, "tls": "DomainValidation"},
                "tls_domain: DomainValidation needs tls_domain"),
               ("fix now", "an action is a JSON object")]
    for body, words in refused:
        r = post(c, act, body)
        assert r.status_code == 409 and words in r.json()["error"], (body, r.text)
    post(c, f"/api/sessions/{sid}/advance", {"to": "2h10m"})
    r = post(c, act, {"do": "fix_now", "connector": CONN})
    assert r.status_code == 200
    state = r.json()
    assert [a["do"] for a in state["actions"]] == ["fix_now"] and state["actions"][0]["at"] == "2h10m"
    assert len(state["refusals"]) == len(refused) + 1
    assert any("Admin clicks Fix now" in e["text"] for e in state["timeline"])


def test_queue_trace_transcript_views() -> None:
    c = client()
    sid = new_session(c)
    base = f"/api/sessions/{sid}"
    post(c, f"{base}/advance", {"to": "3h"})
    page = c.get(f"{base}/queue", params={"connector": CONN, "offset": "10", "limit": "5"}).json()
    assert page["total"] > 500 and len(page["messages"]) == 5 and page["offset"] == 10
    oldest = c.get(f"{base}/queue").json()["messages"][0]
    assert oldest["attempts"] >= 1 and oldest["last_error"].startswith("450 4.4.316")
    assert oldest["expires_at"].startswith("2026-03-03T09:00:")
    assert c.get(f"{base}/queue", params={"limit": "x"}).status_code == 400
    assert c.get(f"{base}/queue", params={"connector": "Nope"}).status_code == 400
    found = c.get(f"{base}/trace", params={"recipient": "former.0.1", "status": "Pending"}).json()
    assert 0 < found["count"] <= 100
    assert all("former.0.1" in r["recipient"] and r["status"] == "Pending" for r in found["recipients"])
    assert found["recipients"][0]["events"][0]["event"] == "RECEIVE"
    delivered = c.get(f"{base}/trace", params={"status": "Delivered", "until": "1h"}).json()
    assert delivered["count"] > 0 and all(r["events"][-1]["event"] == "SEND" for r in delivered["recipients"])
    assert c.get(f"{base}/trace", params={"status": "Lost"}).status_code == 400
    assert c.get(f"{base}/trace", params={"since": "yesterday"}).status_code == 400
    before = c.get(base).json()
    lines = c.get(f"{base}/transcript").json()["lines"]
    assert lines[-1].startswith("=== Outcome: 450 4.4.316 Connection refused")
    after = c.get(base).json()
    assert before == after   # looking changes nothing


def _final_json(c: TestClient, sid: str) -> dict[str, Any]:
    return dict(post(c, f"/api/sessions/{sid}/advance", {"to": "100h"}).json())


def test_replay_of_a_trainee_session_gives_the_same_run(tmp_path: Path) -> None:
    """The heart of the console: advance, Fix now, advance, download scenario.toml, `mfi-sim run` it."""
    c = client()
    sid = new_session(c, seed=11)
    base = f"/api/sessions/{sid}"
    post(c, f"{base}/advance", {"by": "20m"})
    assert post(c, f"{base}/actions", {"do": "fix_now", "connector": CONN}).status_code == 409   # not offered yet
    assert post(c, f"{base}/actions", {"do": "fix_now", "connector": "Nope"}).status_code == 409  # not taken at all
    post(c, f"{base}/advance", {"to": "2h7m13.25s"})
    assert post(c, f"{base}/actions", {"do": "fix_now", "connector": CONN}).status_code == 200
    post(c, f"{base}/advance", {"until": "next-event"})
    post(c, f"{base}/advance", {"by": "47m"})
    assert post(c, f"{base}/actions", {"do": "disable_connector", "connector": CONN}).status_code == 200
    toml = c.get(f"{base}/scenario.toml")
    assert toml.headers["content-disposition"] == 'attachment; filename="scenario.toml"'
    path = tmp_path / "scenario.toml"
    path.write_text(toml.text)
    state = _final_json(c, sid)
    assert state["scenario"]["ended"]
    assert c.get(f"{base}/scenario.toml").text == toml.text
    out = tmp_path / "run.json"
    proc = cli("run", str(path), "--quiet", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    batch = json.loads(out.read_text())
    assert batch["seed"] == 11
    assert state["summary"] == batch["summary"]
    assert state["alerts"] == batch["alerts"]
    assert [{k: c[k] for k in batch["connectors"][0]} for c in state["connectors"]] == batch["connectors"]
    trainee = [(a["at_s"], a["do"], a["status"]) for a in batch["actions"] if a["at_s"] in (1200.0, 7633.25, 10620.0)]
    assert trainee == [(1200.0, "fix_now", "refused"), (7633.25, "fix_now", "accepted"),   # the refusal replays too
                       (10620.0, "disable_connector", "accepted")]
    assert [r["reason"] for r in state["refusals"]][:1] == [a["reason"] for a in batch["actions"] if a["at_s"] == 1200]
    assert [a["do"] for a in state["actions"]] == ["fix_now", "disable_connector"]


def test_exercise_mode_hides_the_story_and_debriefs() -> None:
    c = client(exercise=True)
    sid = new_session(c)
    base = f"/api/sessions/{sid}"
    state = post(c, f"{base}/advance", {"to": "2h10m"}).json()
    assert state["scenario"]["exercise"] and state["scenario"]["description"] == ""
    assert not any(e["kind"] == "fault_start" for e in state["timeline"]) and state["fault_windows"] == []
    assert post(c, f"{base}/actions", {"do": "fix_now", "connector": CONN}).status_code == 200
    assert "[[tests]]" not in c.get(f"{base}/scenario.toml").text
    post(c, f"{base}/advance", {"to": "12h"})
    d = c.get(f"{base}/debrief").json()
    assert d["ended"] and "Fix now" in d["description"]
    me, ref, nothing = d["trainee"], d["reference"], d["nothing"]
    assert me["time_to_diagnose_s"] == 7800.0 - 3600.0 and ref["time_to_diagnose_s"] == 5 * 3600.0 - 3600.0
    assert me["time_to_mitigate_s"] is not None and nothing["time_to_diagnose_s"] is None
    assert me["queued_at_end"] == 0 and nothing["queued_at_end"] > 1000
    assert [a["do"] for a in ref["actions"]][0] == "fix_now"
    assert any(e["trainee"] for e in d["timeline"]) and any(e["kind"] == "fault_start" for e in d["timeline"])
    plain = client()
    assert not plain.get(f"/api/sessions/{new_session(plain, exercise=False)}").json()["scenario"]["exercise"]


def test_access_token() -> None:
    c = client(token="s3cret-token")
    for path in ("/", "/static/console.js", "/api/scenarios"):
        r = c.get(path)
        assert r.status_code == 401 and "access token" in r.json()["error"]
    assert c.get("/api/scenarios", params={"token": "wrong"}).status_code == 401
    r = c.get("/", params={"token": "s3cret-token"})
    assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
    assert c.get("/api/scenarios").status_code == 200   # the cookie now carries it
    fresh = client(token="s3cret-token")
    assert fresh.get("/api/scenarios", headers={"X-Console-Token": "s3cret-token"}).status_code == 200


def test_live_stream_sends_the_state() -> None:
    c = client()
    sid = new_session(c)
    post(c, f"/api/sessions/{sid}/advance", {"to": "12h"})
    with c.stream("GET", f"/api/sessions/{sid}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    event, data = text.strip().split("\n", 1)
    assert event == "event: state" and json.loads(data.removeprefix("data: "))["scenario"]["ended"]


def test_idle_sessions_are_dropped_and_the_store_is_bounded() -> None:
    now = [0.0]
    store = SessionStore(idle_s=60.0, max_sessions=2, clock=lambda: now[0])
    c = client(store=store)
    old = new_session(c)
    now[0] = 30.0
    kept = new_session(c)
    r = c.post("/api/sessions", json={"scenario": "connection-refused"})
    assert r.status_code == 503
    now[0] = 70.0
    assert c.get(f"/api/sessions/{old}").status_code == 404
    assert c.get(f"/api/sessions/{kept}").status_code == 200
    assert len(store) == 1


def test_twenty_sessions_at_once_equal_one_at_a_time() -> None:
    c = client(store=SessionStore(max_sessions=50))
    steps: list[tuple[str, dict[str, Any]]] = [("advance", {"by": "1h13m"}), ("advance", {"until": "next-event"}),
                                               ("advance", {"to": "2h10m"}),
                                               ("actions", {"do": "fix_now", "connector": CONN}),
                                               ("advance", {"to": "2h40m"})]

    def play(seed: int) -> dict[str, Any]:
        sid = new_session(c, seed=seed)
        for what, body in steps:
            assert post(c, f"/api/sessions/{sid}/{what}", body).status_code == 200
        state = c.get(f"/api/sessions/{sid}").json()
        return {k: state[k] for k in ("t", "summary", "connectors", "alerts", "timeline")}

    alone = {seed: play(seed) for seed in range(20)}
    together: dict[int, dict[str, Any]] = {}
    threads = [threading.Thread(target=lambda s=seed: together.__setitem__(s, play(s))) for seed in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert together == alone
    assert len({json.dumps(v["summary"]) for v in alone.values()}) > 10   # the seeds really differ


def test_console_command_bad_input(tmp_path: Path) -> None:
    proc = cli("console", "no-such-scenario")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no such file" in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\nname = 1\n")
    proc = cli("console", str(bad))
    assert proc.returncode == 2 and "scenario.name" in proc.stderr
    proc = cli("console", "--port", "70000")
    assert proc.returncode == 2 and "port" in proc.stderr


def test_console_command_serves_with_a_token_off_loopback_only(tmp_path: Path) -> None:
    """The real command on 127.0.0.2 (not the default 127.0.0.1): it prints a URL with a token and refuses
    requests without it; a scenario file given on the command line is offered and preselected."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    mine = tmp_path / "mine.toml"
    mine.write_text(scenario_text())
    proc = subprocess.Popen([sys.executable, "-m", "mfi_sim", "console", str(mine), "--host", "127.0.0.2",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("mfi-sim console: http://127.0.0.2:"), line + (proc.stderr.read() if proc.stderr else "")
        url = line.split()[2]
        base, token = url.split("?token=")
        assert len(token) >= 32
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(base + "api/scenarios", timeout=10)
        assert denied.value.code == 401
        with urllib.request.urlopen(f"{base}api/config?token={token}", timeout=10) as r:
            assert json.loads(r.read())["scenario"] == "mine"
        with urllib.request.urlopen(f"{base}api/scenarios?token={token}", timeout=10) as r:
            assert {"name": "mine", "title": "test"} in json.loads(r.read())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert proc.returncode in (0, 130)


def test_console_url_and_settings() -> None:
    from mfi_sim.console.server import console_url, settings_for

    assert settings_for(None, "127.0.0.1", False).token is None
    assert settings_for(None, "localhost", False).token is None
    remote = settings_for("connection-refused", "0.0.0.0", True)
    assert remote.token and remote.preselect == "connection-refused" and remote.exercise
    assert len(remote.catalog.entries) == len(CATALOG.entries)
    assert console_url("::1", 8025, None) == "http://[::1]:8025/"
    assert console_url("10.0.0.5", 80, "a b") == "http://10.0.0.5:80/?token=a%20b"


def test_resolve_alert_from_the_console() -> None:
    """The delayed-messages alert stays Active until the admin resolves it; an insight cannot be resolved."""
    c = client()
    sid = new_session(c)
    base = f"/api/sessions/{sid}"
    state = post(c, f"{base}/advance", {"to": "5h20m"}).json()
    policy = [a for a in state["alerts"] if a["kind"] == "policy"][0]
    assert policy["status"] == "Active"
    insight = [a for a in state["alerts"] if a["kind"] == "insight"][0]
    r = post(c, f"{base}/actions", {"do": "resolve_alert", "alert": insight["id"]})
    assert r.status_code == 409 and "insight" in r.json()["error"]
    r = post(c, f"{base}/actions", {"do": "resolve_alert", "alert": policy["id"]})
    assert r.status_code == 200
    assert [a["status"] for a in r.json()["alerts"] if a["id"] == policy["id"]] == ["Resolved"]
    r = post(c, f"{base}/actions", {"do": "resolve_alert", "alert": policy["id"]})
    assert r.status_code == 409 and "already resolved" in r.json()["error"]
    assert post(c, f"{base}/actions", {"do": "resolve_alert", "alert": "nope"}).status_code == 409
