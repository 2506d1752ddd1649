"""`mfi-sim lab` as a subprocess: ready file once everything listens, Ctrl-C or SIGTERM ends it cleanly
(exit 0), and afterwards none of its sockets is left, the ready file and the CA file are gone."""
from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from helpers import REPO
from lab_support import live_socket_inodes, socket_inodes

READY_WITHIN = 60.0


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, object], Path]:
    ready = tmp_path / "lab.json"
    proc = subprocess.Popen([sys.executable, "-m", "mfi_sim", "lab", *args, "--ready-file", str(ready)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + READY_WITHIN
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"the lab did not get ready (exit {proc.returncode}): {out[-500:]} {err[-1000:]}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text()), ready


def _split(endpoint: object) -> tuple[str, int]:
    host, _, port = str(endpoint).rpartition(":")
    return host, int(port)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_lab_serves_until_signalled_then_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    """healthy-baseline at 1h: the ready file maps the server, it greets, DNS answers; after the signal the
    process exits 0, the table was printed, and nothing listens any more."""
    proc, ready, ready_file = _start(tmp_path, "healthy-baseline", "--at", "1h")
    try:
        assert set(ready) >= {"dns", "servers", "ca_file"}
        address, port = _split(ready["servers"]["198.51.100.10:25"])  # type: ignore[index]
        assert address == "127.0.0.2"
        with smtplib.SMTP(address, port, timeout=5) as smtp:
            assert smtp.ehlo("outbound.example")[1].startswith(b"mail.contoso.com")
        dns_host, dns_port = _split(ready["dns"])
        answer = dns.query.udp(dns.message.make_query("mail.contoso.com", "A"), dns_host, timeout=5, port=dns_port)
        assert [rd.address for rd in answer.answer[0]] == [address]
        ca_file = Path(str(ready["ca_file"]))
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        sockets = socket_inodes(proc.pid)
        assert sockets & live_socket_inodes()   # the lab's listening sockets, seen by the kernel
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "127.0.0.2" in out and "198.51.100.10:25" in out
    assert "Traceback" not in err
    assert not ready_file.exists() and not ca_file.exists()
    assert not sockets & live_socket_inodes()   # none of them survives (no leaked child holds one)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """An unknown scenario or a malformed --at gives one error line and exit 2, no traceback."""
    for args in (["no-such-scenario"], ["healthy-baseline", "--at", "soon"]):
        out = subprocess.run([sys.executable, "-m", "mfi_sim", "lab", *args], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
