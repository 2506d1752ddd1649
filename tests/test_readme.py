"""The README is true: every command example in it runs, and where it shows output, the tool prints that.

Examples are found, not listed: fenced blocks whose lines start with `$ ` (a command and, under it, what it
prints), shell blocks and plain blocks that start with a command (a script, then the plain block right after it
is its output), Python blocks (run in order within their section), inline `mfi-sim ...` spans with an argument,
the command synopsis (every option it names must be one the command accepts), and `[[tests]]` blocks (they
must pass on the scenario they describe). A new example is therefore
tested as soon as it is written; the few that cannot run here are in SKIPPED, each with its reason.

Comparison: the README's lines must match the output's lines in order, one for one; a line `...` stands for
any number of lines, and `...` inside a line for any text. What is normalised, and only that: the terminal is
COLUMNS=120 wide (the timeline wraps to it), tabs are expanded (8 columns), temporary paths (/tmp/...) are any
path, trailing spaces, and for `mfi-sim lab` the ports it had to use here instead of the scenario's (and so the width of its table).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import REPO

README = REPO / "README.md"
BIN = Path(sys.executable).parent
COLUMNS = 120
TIMEOUT = 240

#: Commands a test must not run, and why. Matched against the start of a command line.
SKIPPED = {
    "python -m pip install": "installs the package: the test runs inside that installation",
    "python -m pytest": "the test suite itself (it is running this test)",
    "dask scheduler": "a cluster on other machines; tests/test_dask_cluster.py starts a real scheduler and workers",
    "dask worker": "as above",
    "mfi-sim sweep outage-longer-than-expiration --set faults[0].duration=2h,6h,12h --dask": "as above",
    "mfi-sim console": "a web server that runs until stopped; tests/test_console.py drives it in a browser",
}
#: Tools an example may need besides mfi-sim (the example is skipped, saying so, when one is missing).
TOOLS = ("promtool", "swaks", "openssl", "dig", "nslookup", "chromium")


@dataclass
class Example:
    """One runnable example: where it is, the commands, what the README shows they print (None: not shown)."""

    line: int
    kind: str                                   # session | script | python | inline | synopsis | expectations
    commands: list[str]
    expected: list[str] | None = None
    lab: str | None = None                      # the `mfi-sim lab` scenario it talks to, if any
    trimmed: bool = False                       # the README says it shows only some of the output lines
    setup: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.kind}:{self.commands[0].split(chr(10))[0][:40]}"


# ---------------------------------------------------------------------------------------------- parsing
def _blocks(text: str) -> list[tuple[int, str, list[str], str]]:
    """(first line number, language, lines, prose before it) of every fenced block."""
    out = []
    lines = text.splitlines()
    i, prose_start = 0, 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        out.append((i + 2, m.group(1), lines[i + 1:end], "\n".join(lines[prose_start:i])))
        i, prose_start = end + 1, end + 1
    return out


def _join_continuations(lines: list[str]) -> list[str]:
    out: list[str] = []
    pending = ""
    for line in lines:
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip()
            continue
        out.append(line)
    return out


def _session(line: int, lines: list[str], lab: str | None) -> list[Example]:
    """A block of `$ command` lines, each followed by its output."""
    out: list[Example] = []
    joined = _join_continuations(lines)
    for text in joined:
        background = re.match(r"\$ mfi-sim lab (\S+).*&\s*$", text)
        if background:          # `$ mfi-sim lab NAME ... &`: the commands after it talk to that lab
            lab = background.group(1)
            out.append(Example(line, "skip", [text[2:]]))
            continue
        if text.startswith("$ "):
            out.append(Example(line, "session", [text[2:]], [], lab))
        elif out:
            assert out[-1].expected is not None
            out[-1].expected.append(text)
    return out


_COMMAND = re.compile(r"^(mfi-sim|python|promtool|cat|dask|swaks|dig|nslookup|openssl)\b")
_PLACEHOLDER = re.compile(r"\[--|\b[A-Z]{2,}\b|…|\.\.\.")


def examples() -> list[Example]:
    """Every example of the README, in order."""
    text = README.read_text(encoding="utf-8")
    found: list[Example] = []
    lab: str | None = None
    previous_script: Example | None = None
    python: list[str] = []
    for line, lang, lines, prose in _blocks(text):
        lab = _lab_in(prose, lab)
        body = [ln for ln in lines if ln.strip()]
        if _starts_section(prose):
            python = []
        if lang == "python":     # blocks of one section run together, in order (the later use the earlier)
            if python:
                found.pop(next(i for i in range(len(found) - 1, -1, -1) if found[i].kind == "python"))
            python.append("\n".join(lines))
            found.append(Example(line, "python", list(python)))
            continue
        if lang == "toml" and body and body[0].strip() == "[[tests]]":
            found.append(Example(line, "expectations", ["\n".join(lines)]))
            continue
        if body and body[0].startswith("$ "):
            session = _session(line, lines, lab)
            for e in session:     # "outputs trimmed" holds for every client of a lab, as the README says once
                e.trimmed = "trimmed" in prose or (e.lab is not None and not e.commands[0].startswith("mfi-sim"))
            found.extend(session)
            lab = next((m.group(1) for e in session for m in [re.match(r"mfi-sim lab (\S+)", e.commands[0])] if m),
                       lab)
            previous_script = None
            continue
        if lang in ("", "sh") and body and _COMMAND.match(body[0]):
            if body[0].startswith("mfi-sim ") and _PLACEHOLDER.search(body[0]):
                found.append(Example(line, "synopsis", body))
                previous_script = None
                continue
            previous_script = Example(line, "script", ["\n".join(lines)])
            found.append(previous_script)
            continue
        if lang == "" and previous_script is not None and not prose.strip():
            previous_script.expected = lines              # the output block right after a script
        elif lang == "" and lab is not None and "the same swaks command" in prose:
            session = [e for e in found if e.lab and e.commands[0].startswith("swaks")]
            if session:
                found.append(Example(line, "session", [session[0].commands[0]], lines, lab, trimmed=True))
        previous_script = None
    for m in re.finditer(r"`(mfi-sim (?:list|explain)|mfi-sim [a-z]+ [^`]+)`", text):
        if not _PLACEHOLDER.search(m.group(1)) and not m.group(1).startswith("mfi-sim lab "):
            found.append(Example(text[:m.start()].count("\n") + 1, "inline", [m.group(1)]))
    return found


def _starts_section(prose: str) -> bool:
    return any(line.startswith("#") for line in prose.splitlines())


def _lab_in(prose: str, current: str | None) -> str | None:
    """The lab a prose paragraph starts (`mfi-sim lab NAME`, then clients), or the current one."""
    if _starts_section(prose) and "mfi-sim lab" not in prose:
        return None
    names = re.findall(r"`mfi-sim lab ([a-z0-9-]+)`", prose)
    return names[-1] if names else current


# ---------------------------------------------------------------------------------------------- running
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = str(COLUMNS)
    env.pop("PYTHONHASHSEED", None)
    return env


def _workdir(tmp_path: Path) -> Path:
    """A directory where `scenarios/*.toml` is the repository's, and outputs land in a temporary place."""
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    return tmp_path


def _needs(example: Example) -> None:
    for text in example.commands:
        for tool in TOOLS:
            if re.search(rf"(^|\s|\|){tool}\s", text) and shutil.which(tool) is None:
                pytest.skip(f"needs {tool}, which is not installed (Debian package; .ci/run installs it)")


def _script_lines(example: Example) -> str:
    """The example's commands as a bash script, without the commands SKIPPED names (skips when none is left)."""
    kept, dropped = [], []
    for text in example.commands:
        for line in text.splitlines():
            parts = line.split(" && ")
            runnable = [p for p in parts if not any(p.strip().startswith(s) for s in SKIPPED)]
            dropped += [p for p in parts if p not in runnable]
            if runnable:
                kept.append(" && ".join(runnable))
    if not any(ln.strip() and not ln.strip().startswith("#") for ln in kept):
        pytest.skip("; ".join(f"{p.strip()[:40]}: {SKIPPED[s]}" for p in dropped for s in SKIPPED
                              if p.strip().startswith(s)))
    return "\n".join(kept)


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=cwd, env=_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)


class _Lab:
    """`mfi-sim lab NAME` in the background until the example is done; clients get its addresses."""

    def __init__(self, name: str, cwd: Path) -> None:
        self.ready = cwd / "lab-ready.json"
        self.proc = subprocess.Popen([str(BIN / "mfi-sim"), "lab", name, "--ready-file", str(self.ready)],
                                     cwd=cwd, env=_env(), text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mfi-sim lab {name} did not start: {self.output}")
            time.sleep(0.1)
        self.output = ""
        time.sleep(0.2)        # the file is written whole (renamed into place); read it once, it goes at stop
        self.info = json.loads(self.ready.read_text())

    def normalise(self, text: str, shown_port: str | None = None) -> str:
        """The lab's ports as the README shows them (the scenario's, e.g. 25 and 53): a lab that may not bind them
        here uses a high port, and its table is then wider (runs of spaces count as one)."""
        ready = self.info
        pairs = [*ready["servers"].items(), *ready.get("hosts", {}).items(), ("x:53", ready["dns"])]
        for scenario_address, real in pairs:
            host, port = real.rsplit(":", 1)
            wanted = shown_port if shown_port and scenario_address != "x:53" else scenario_address.rsplit(":", 1)[1]
            host_re = r"127\.\d+\.\d+\.\d+" if wanted == scenario_address.rsplit(":", 1)[1] else \
                r"127\.\d+\.\d+\.\d+|[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+"
            text = re.sub(rf"({host_re}):{port}\b", rf"\1:{wanted}", text)
        return "\n".join(re.sub(r"(\S)  +", r"\1  ", line.expandtabs()) for line in text.splitlines())

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output = self.proc.stdout.read() if self.proc.stdout else ""
        return self.output


def _line_pattern(expected: str) -> re.Pattern[str]:
    pieces = [re.escape(p) for p in expected.rstrip().split("...")]
    pattern = ".*".join(pieces)
    pattern = re.sub(r"/tmp/[^\s/]*", r"/tmp/\\S*", pattern.replace(r"/tmp/", "/tmp/"))
    return re.compile(pattern + r"\s*$")


def compare(expected: list[str], actual: str, trimmed: bool = False) -> list[str]:
    """Where the output departs from the README ([] when it matches): lines in order, `...` lines skip any;
    blank lines around the output do not count. `trimmed` (the README says it trims outputs): the README's lines
    appear in order, with any lines between them."""
    got = [ln.expandtabs().rstrip() for ln in actual.strip("\n").splitlines()]
    want = list(expected)
    if trimmed:
        want = [w for line in expected for w in ("...", line)] + ["..."]
    return _match(want, 0, got, 0)


def _match(want: list[str], i: int, got: list[str], j: int) -> list[str]:
    while i < len(want):
        if want[i].strip() == "...":
            if i + 1 == len(want):
                return []
            for k in range(j, len(got) + 1):
                if not _match(want, i + 1, got, k):
                    return []
            return [f"README line {want[i + 1]!r} (after '...') never matches the output below it"]
        if j >= len(got):
            return [f"README shows {want[i]!r}, but the output ended"]
        if not _line_pattern(want[i]).match(got[j]):
            return [f"README shows: {want[i]}", f"tool prints:  {got[j]}"]
        i, j = i + 1, j + 1
    if j < len(got):
        return [f"the tool prints more than the README shows, from: {got[j]!r}"]
    return []


EXAMPLES = examples()


def test_the_readme_has_examples_of_every_kind() -> None:
    """The parser finds the README's examples (a parser that finds nothing would make the tests below vacuous)."""
    kinds = {e.kind for e in EXAMPLES}
    assert {"session", "script", "python", "inline", "synopsis", "expectations"} <= kinds, kinds
    assert sum(e.expected is not None for e in EXAMPLES) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_readme_example(example: Example, tmp_path: Path) -> None:
    """The example runs (exit 0) and prints what the README shows under it."""
    if example.kind == "skip":
        pytest.skip("started in the background for the commands after it (tested with them)")
    _needs(example)
    cwd = _workdir(tmp_path)
    if example.kind == "synopsis":
        _check_synopsis(example, cwd)
        return
    if example.kind == "python":
        _python(example, cwd)
        return
    if example.kind == "expectations":
        _expectations(example, cwd)
        return
    lab = None
    if example.lab is not None and not example.commands[0].startswith("mfi-sim lab"):
        lab = _Lab(example.lab, cwd)
    out, code = "", 0
    try:
        if example.commands[0].startswith("mfi-sim lab"):
            out = _lab_banner(example, cwd)
        else:
            script = _script_lines(example)
            if lab is not None:
                script = _to_lab(script, lab)
            proc = _run(script, cwd)
            out, code = proc.stdout, proc.returncode
    finally:
        if lab is not None:
            lab.stop()
    if lab is not None:
        shown = re.search(r"--port (\d+)", example.commands[0])
        out = lab.normalise(out, shown.group(1) if shown else None)
        example.expected = [re.sub(r"(\S)  +", r"\1  ", ln) for ln in example.expected or []] or None
    failure_marks = ("FAIL", "FLAKY", "***", "** ", "<** ", "verify")    # the README shows a failure on purpose
    expects_failure = example.expected is not None and any(ln.startswith(failure_marks) for ln in example.expected)
    if not expects_failure:
        assert code == 0, f"{example.id}: `{example.commands[0][:80]}` exited {code}:\n{out[-2000:]}"
    if example.expected is not None:
        problems = compare(example.expected, out, example.trimmed)
        assert not problems, f"{example.id}: " + "\n".join(problems) + f"\n--- full output ---\n{out[-4000:]}"


def _python(example: Example, cwd: Path) -> None:
    """The section's Python blocks in one process, up to the first that needs a library not installed."""
    import importlib.util

    runnable = []
    for block in example.commands:
        missing = [m for m in re.findall(r"^import (\w+)", block, re.M) if importlib.util.find_spec(m) is None]
        if missing:
            break
        runnable.append(block)
    if not runnable:
        pytest.skip(f"the example needs {', '.join(missing)} (pip install -e '.[notebook]')")
    proc = subprocess.run([sys.executable, "-c", "\n\n".join(runnable)], cwd=cwd, env=_env(), text=True,
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{example.id}: the Python example failed:\n{proc.stderr[-2000:]}"


def _expectations(example: Example, cwd: Path) -> None:
    """[[tests]] shown in the README hold on the scenario they describe (connection-refused)."""
    mine = cwd / "readme-tests.toml"
    mine.write_text((REPO / "scenarios" / "connection-refused.toml").read_text() + "\n" + example.commands[0] + "\n")
    proc = _run(f"mfi-sim test {mine.name}", cwd)
    assert proc.returncode == 0, f"{example.id}: the README's [[tests]] do not pass on connection-refused:\n" \
                                 f"{proc.stdout[-3000:]}"


def _check_synopsis(example: Example, cwd: Path) -> None:
    """Every option a synopsis line names is one `mfi-sim <command> --help` lists."""
    for line in _join_continuations(example.commands):
        m = re.match(r"\s*mfi-sim (\w+)", line)
        if not m:
            continue
        helptext = _run(f"mfi-sim {m.group(1)} --help", cwd).stdout
        for option in re.findall(r"--[a-z][a-z-]*", line):
            assert option in helptext, f"{example.id}: `mfi-sim {m.group(1)}` has no option {option}"


def _lab_banner(example: Example, cwd: Path) -> str:
    """`mfi-sim lab NAME`: what it prints until it is stopped with Ctrl-C."""
    name = example.commands[0].split()[2]
    lab = _Lab(name, cwd)
    out = lab.normalise(lab.stop())
    example.expected = [re.sub(r"(\S)  +", r"\1  ", ln) for ln in example.expected or []]
    return out


def _to_lab(script: str, lab: _Lab) -> str:
    """The README's commands talk to the lab's addresses; here the lab may listen on other ports."""
    ready = lab.info
    for scenario_address, real in [*ready["servers"].items(), *ready.get("hosts", {}).items()]:
        host = real.rsplit(":", 1)[0]
        script = script.replace(f"{host}:{scenario_address.rsplit(':', 1)[1]}", real)
    server_port = next(iter(ready["servers"].values())).rsplit(":", 1)[1]
    script = re.sub(r"--port \d+", f"--port {server_port}", script)          # the README shows its own run's port
    script = re.sub(r"--nameserver 127\.0\.0\.1:53\b", f"--nameserver {ready['dns']}", script)
    dns_host, dns_port = ready["dns"].rsplit(":", 1)
    if dns_port != "53":
        script = re.sub(r"dig @(\S+)", rf"dig -p {dns_port} @\1", script)
        script = re.sub(r"nslookup (\S+) (\S+)", rf"nslookup -port={dns_port} \1 \2", script)
    ca = ready.get("ca_file", "")
    return re.sub(r"/tmp/mfi-sim-lab-[^/\s]+/mfi-sim-lab-ca\.pem", ca, script)
