"""`mfi-sim probe` end to end against real servers on 127.0.0.1: output, --json, exit codes, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfi_sim import codes
from mfi_sim.cli import main

pytest.importorskip("aiosmtpd")
from test_wire_driver import CA, HOST, free_port, raw_server, smtp_server  # noqa: E402


def test_would_deliver_exit_0_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A healthy server with a test message: exit 0, the JSON keys of the contract, code null."""
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    out = tmp_path / "probe.json"
    with smtp_server() as (port, inbox):
        rc = main(["probe", "--smart-host", "127.0.0.1", "--port", str(port), "--tls", "DomainValidation",
                   "--tls-domain", HOST, "--ca-file", str(ca), "--recipient", "bob@contoso.test",
                   "--timeout", "5", "--json", str(out)])
    assert rc == 0 and len(inbox.messages) == 1
    data = json.loads(out.read_text())
    assert set(data) == {"ok", "code", "title", "stage", "last_error", "server", "ip", "transcript"}
    assert data["ok"] is True and data["code"] is None and data["ip"] == "127.0.0.1"
    assert "would deliver" in capsys.readouterr().out


def test_refused_exit_1_with_causes_and_fixes(capsys: pytest.CaptureFixture[str]) -> None:
    """A refused connection: exit 1, the code and title, the service's [Message=...] text, causes and fixes."""
    rc = main(["probe", "--smart-host", "127.0.0.1", "--port", str(free_port()), "--timeout", "5"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "450 4.4.316 Connection refused [Message=" in text and "[LastAttemptedIP=127.0.0.1:" in text
    entry = codes.CATALOGUE[codes.CONNECTION_REFUSED]
    assert "Likely causes:" in text and entry.causes[0][:40] in text.replace("\n      ", " ")


def test_rejection_of_the_test_message_is_exit_1(tmp_path: Path) -> None:
    """A 550 to RCPT: the message would bounce; stage rcpt and the server's own code in the JSON."""
    def talk(c: object) -> None:
        import socket
        assert isinstance(c, socket.socket)
        f = c.makefile("rb")
        c.sendall(b"220 x ready\r\n")
        for reply in (b"250 x\r\n", b"250 2.1.0 ok\r\n", b"550 5.7.1 Relaying denied\r\n", b"221 bye\r\n"):
            f.readline()
            c.sendall(reply)
    out = tmp_path / "p.json"
    with raw_server(talk) as port:
        rc = main(["probe", "--smart-host", "127.0.0.1", "--port", str(port), "--recipient", "a@b.test",
                   "--timeout", "5", "--json", str(out)])
    data = json.loads(out.read_text())
    assert rc == 1 and (data["code"], data["stage"]) == ("550 5.7.1", "rcpt")


@pytest.mark.parametrize("argv", [
    ["probe"],
    ["probe", "--smart-host", "a", "--use-mx", "--domain", "d"],
    ["probe", "--use-mx"],
    ["probe", "--smart-host", "a", "--tls", "DomainValidation"],
    ["probe", "--smart-host", "a", "--nameserver", "not-an-ip"],
    ["probe", "--smart-host", "a", "--ca-file", "/nonexistent/ca.pem"],
    ["probe", "--smart-host", "a", "--recipient", "nobody"],
    ["probe", "--smart-host", "a", "--timeout", "0"],
    ["probe", "--scenario", "connection-refused", "--connector", "No such connector"],
])
def test_bad_input_is_exit_2_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options: exit 2 and a one-line error, before any connection is tried."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err and "\n" not in err and "Traceback" not in err
