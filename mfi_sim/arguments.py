"""The command line's grammar: the argparse parser of every `mfi-sim` command and its option types (a usage
error is one line and exit code 2). Kept light: it imports nothing of the simulation."""
from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from . import __version__

__all__ = ["parser", "EXIT_BAD_INPUT"]

EXIT_BAD_INPUT = 2


def _parse_duration(text: str) -> float:
    from .units import parse_duration
    return parse_duration(text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _checked_duration(text: str, *, zero_ok: bool) -> float:
    try:
        value = _parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0 or (value == 0 and not zero_ok):
        raise argparse.ArgumentTypeError("must not be before the start" if zero_ok else "must be longer than zero")
    return value


def _duration(text: str) -> float:
    """A length of time, longer than zero (`--duration 36h`)."""
    return _checked_duration(text, zero_ok=False)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return int(text)


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 < value < 1000:
        raise argparse.ArgumentTypeError("must be a percentage above 0")
    return value


def parser() -> _Parser:
    p = _Parser(prog="mfi-sim", description="Simulate an outbound connector queue when delivery fails, and "
                                            "the mail-flow-intelligence alerts it raises.")
    p.add_argument("--version", action="version", version=f"mfi-sim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario and print what happened")
    run.add_argument("scenario", help="a scenario file, or the name of a bundled scenario (see `list`)")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--duration", type=_duration, help="override the simulated duration, e.g. 36h")
    run.add_argument("--json", metavar="PATH", help="write the result as JSON (SPEC 2.3)")
    run.add_argument("--events", metavar="PATH", help="write message-trace events as JSON Lines (SPEC 2.4)")
    run.add_argument("--ndr-dir", metavar="DIR", help="write every NDR and delay notice as an .eml file")
    run.add_argument("--report", metavar="PATH.html", help="write a self-contained HTML report")
    run.add_argument("--trace", metavar="PATH.csv", help="write message trace rows (extended message trace CSV)")
    run.add_argument("--queue-snapshots", metavar="PATH.jsonl",
                     help="write Get-Queue style snapshots, per connector, every evaluation period")
    run.add_argument("--metrics", metavar="PATH", help="write queue and alert series (OpenMetrics text)")
    run.add_argument("--promtool-series", metavar="PATH.yml",
                     help="write the same series as a promtool input_series block")
    run.add_argument("--transcript", metavar="N|first-failure",
                     help="print the SMTP transcript of the Nth delivery attempt, or of the first failing one")
    run.add_argument("--max-messages", type=_positive_int, default=None, metavar="N",
                     help="refuse scenarios expected to bring more messages than N (default 20,000,000)")
    run.add_argument("--quiet", action="store_true", help="print nothing on success")

    tst = sub.add_parser("test", help="evaluate the [[tests]] tables of scenarios; exit 1 on any failure")
    tst.add_argument("scenarios", nargs="+")
    tst.add_argument("--junit", metavar="PATH", help="also write JUnit XML")
    tst.add_argument("--run", metavar="REGEX", help="only tests whose name matches")
    tst.add_argument("--allow-empty", action="store_true",
                     help="a file with no [[tests]], or a --run that selects nothing, is not an error")
    seeds = tst.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="override every scenario's seed")
    seeds.add_argument("--seeds", type=_positive_int, metavar="N",
                       help="run each file with N seeds derived from its own; a test whose verdict differs "
                            "between seeds is reported as flaky")

    sw = sub.add_parser("sweep", help="what-if grid with replications and confidence intervals")
    sw.add_argument("scenario")
    sw.add_argument("--set", dest="sets", metavar="KEY=V1,V2", action="append", default=[],
                    help="a scenario field by dotted path and the values to try (repeatable)")
    sw.add_argument("--replications", type=_positive_int, default=1, metavar="N")
    sw.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                    help="local processes (default: all cores)")
    sw.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler address, or 'local' for a LocalCluster")
    sw.add_argument("--duration", type=_duration, help="override the simulated duration")
    sw.add_argument("--csv", metavar="PATH", help="rows per (point, replication); PATH-summary.csv, "
                                                   "PATH-connectors.csv and PATH-manifest.json beside it")
    sw.add_argument("--report", metavar="PATH.html", help="write a self-contained HTML page: a chart per figure "
                                                          "and swept setting, the table and the manifest")
    sw.add_argument("--target-width", type=_percent, metavar="P",
                    help="add replications until the 95%% CI of --target is within ±P%% of its mean")
    sw.add_argument("--target", metavar="FIGURE", default="p95_time_in_system_s",
                    help="the figure --target-width applies to (a CSV column; default p95_time_in_system_s)")
    sw.add_argument("--max-replications", type=_positive_int, default=30, metavar="N",
                    help="at most N replications per point with --target-width (default 30)")
    sw.add_argument("--quiet", action="store_true")

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+")

    sub.add_parser("list", help="list the bundled scenarios")

    con = sub.add_parser("console", help="the training console: play a scenario in the browser, act, debrief")
    con.add_argument("scenario", nargs="?", help="preselect this scenario (a file or a bundled name)")
    con.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; any other needs the printed access token)")
    con.add_argument("--port", type=_port, default=8025, help="port (default 8025; 0 picks a free one)")
    con.add_argument("--exercise", action="store_true", help="exercise mode by default: the story is hidden")
    con.add_argument("--open", action="store_true", help="open the console in a web browser")

    exp = sub.add_parser("explain", help="what an error code means, its likely causes and fixes")
    exp.add_argument("code", nargs="?", help='e.g. "450 4.4.316" or 4.4.316; all codes when omitted')
    _add_lab_parser(sub)
    _add_probe_parser(sub)
    return p


def _instant(text: str) -> float:
    """An instant as an offset from the scenario's start, the start itself included (`--at 2h30m`)."""
    return _checked_duration(text, zero_ok=True)


def _add_lab_parser(sub: Any) -> None:
    lab = sub.add_parser("lab", help="serve a scenario's world at an instant for real, on loopback, until Ctrl-C")
    lab.add_argument("scenario", help="a scenario file, or the name of a bundled scenario (see `list`)")
    lab.add_argument("--at", type=_instant, metavar="T",
                     help="the simulated instant to serve, e.g. 2h30m (default: when the first alert is raised)")
    lab.add_argument("--ready-file", metavar="PATH",
                     help="write a JSON map (DNS, servers, CA file) once everything listens; removed at exit")


def _seconds(text: str) -> float:
    """A number of seconds ("10", "2.5") or a duration ("30s", "1m")."""
    try:
        return float(text)
    except ValueError:
        return _duration(text)


def _add_probe_parser(sub: Any) -> None:
    pr = sub.add_parser("probe", help="validate a connector against a real server, as the service does")
    pr.add_argument("--scenario", metavar="FILE", help="take the connector's settings from this scenario")
    pr.add_argument("--connector", metavar="NAME", help="the connector's name in --scenario")
    pr.add_argument("--smart-host", nargs="+", metavar="H", help="smart host names or addresses, tried in order")
    pr.add_argument("--use-mx", action="store_true", help="route by the MX records of --domain")
    pr.add_argument("--domain", metavar="D", help="recipient domain whose MX hosts to try (with --use-mx)")
    pr.add_argument("--port", type=_positive_int, help="TCP port (default 25, or the connector's)")
    pr.add_argument("--tls", choices=("None", "EncryptionOnly", "CertificateValidation", "DomainValidation"),
                    help="the connector's TLS setting (default None, or the connector's)")
    pr.add_argument("--tls-domain", metavar="D", help="the name the certificate must match (DomainValidation)")
    pr.add_argument("--nameserver", metavar="IP[:PORT]", help="DNS server to ask (default: the system's)")
    pr.add_argument("--ca-file", metavar="PEM", help="trusted CA certificates for validation (default: the system's)")
    pr.add_argument("--recipient", nargs="+", metavar="ADDR", help="also send a small test message to these")
    pr.add_argument("--timeout", type=_seconds, default=30.0, metavar="S", help="seconds per step (default 30)")
    pr.add_argument("--json", metavar="PATH", help="write the result as JSON")
