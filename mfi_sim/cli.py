"""The `mfi-sim` command: the only place that prints or exits (SPEC 2.1)."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, codes
from .errors import MfiSimError, OptionError, ScenarioError
from .records import TeeSink
from .units import parse_duration

if TYPE_CHECKING:
    from .engine import Result

EXIT_OK, EXIT_TEST_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be longer than zero")
    return value


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


def _parser() -> _Parser:
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
    run.add_argument("--quiet", action="store_true", help="print nothing on success")

    tst = sub.add_parser("test", help="evaluate the [[tests]] tables of scenarios; exit 1 on any failure")
    tst.add_argument("scenarios", nargs="+")
    tst.add_argument("--junit", metavar="PATH", help="also write JUnit XML")
    tst.add_argument("--run", metavar="REGEX", help="only tests whose name matches")

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
    return p


def _instant(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be before the start")
    return value


def _add_lab_parser(sub: Any) -> None:
    lab = sub.add_parser("lab", help="serve a scenario's world at an instant for real, on loopback, until Ctrl-C")
    lab.add_argument("scenario", help="a scenario file, or the name of a bundled scenario (see `list`)")
    lab.add_argument("--at", type=_instant, metavar="T",
                     help="the simulated instant to serve, e.g. 2h30m (default: when the first alert is raised)")
    lab.add_argument("--ready-file", metavar="PATH",
                     help="write a JSON map (DNS, servers, CA file) once everything listens; removed at exit")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "test": _test, "sweep": _sweep, "validate": _validate, "list": _list,
                "explain": _explain, "lab": _lab, "console": _console}[args.command](args)
    except (ScenarioError, OptionError) as exc:
        print(f"mfi-sim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mfi-sim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`mfi-sim list | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except MfiSimError as exc:
        print(f"mfi-sim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"mfi-sim: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .output.atomic import write_atomic
    from .output.events import EventWriter
    from .output.json_result import result_json
    from .output.ndr_files import NdrDirectory
    from .output.terminal import story_text, summary_text
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    for option in ("report", "trace", "queue_snapshots", "metrics", "promtool_series", "json", "events"):
        path = getattr(args, option)
        if path is not None and Path(path).is_dir():
            raise OptionError(f"--{option.replace('_', '-')}: {path} is a directory")
    capture = None
    if args.transcript is not None:
        if args.transcript == "first-failure":
            capture = 0
        elif args.transcript.isdigit() and int(args.transcript) > 0:
            capture = int(args.transcript)
        else:
            raise OptionError(f"--transcript: expected a positive number or first-failure, got {args.transcript!r}")
    sinks: list[Any] = []
    if args.events:
        sinks.append(EventWriter(args.events, scenario))
    if args.trace:
        from .output.trace_csv import TraceCsvWriter
        sinks.append(TraceCsvWriter(args.trace, scenario))
    trace = sinks[0] if len(sinks) == 1 else TeeSink(sinks) if sinks else None
    ndrs = NdrDirectory(args.ndr_dir, scenario) if args.ndr_dir else None
    try:
        bar = _progress("simulating") if not args.quiet and sys.stderr.isatty() else None
        engine = Engine(scenario, seed=args.seed, duration=args.duration, trace=trace, on_ndr=ndrs,
                        progress=(lambda now, total: bar(int(100 * now / total), 100)) if bar else None)
        for q in engine.queues:
            q.capture = capture
        for sink in sinks:
            sink.bind(engine.queues)
        if ndrs is not None:
            ndrs.bind(engine.queues)
        if not args.quiet:
            print(story_text(scenario))
        result = engine.run()
        outputs: list[tuple[str, Callable[[Result], str]]] = []
        if args.json:
            outputs.append((args.json, result_json))
        if args.report:
            from .output.html_report import report_html
            outputs.append((args.report, report_html))
        if args.queue_snapshots:
            from .output.queue_snapshots import queue_snapshots_jsonl
            outputs.append((args.queue_snapshots, queue_snapshots_jsonl))
        if args.metrics:
            from .output.metrics import openmetrics_text
            outputs.append((args.metrics, openmetrics_text))
        if args.promtool_series:
            from .output.metrics import promtool_series_yaml
            outputs.append((args.promtool_series, promtool_series_yaml))
        texts = [(path, render(result)) for path, render in outputs]   # render all before writing any
        for path, text in texts:
            write_atomic(path, text)
        while sinks:
            sinks.pop(0).close()
    finally:
        for sink in sinks:
            sink.discard()
    if not args.quiet:
        print(summary_text(result), end="")
    if capture is not None:
        for q in result.queues:
            print(f"\nTranscript on '{q.name}'")
            print("\n".join(q.transcript) if q.transcript else "  (no such attempt in this run)")
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    import os

    from .grid import parse_set
    from .output.atomic import write_atomic
    from .output.sweep_report import connectors_csv, rows_csv, summary_csv, table_text
    from .scenario import parse_toml, resolve_path
    from .whatif import Target, run_sweep

    path = resolve_path(args.scenario)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read: {exc.__class__.__name__}: {exc}", file=args.scenario) from None
    data = parse_toml(text, args.scenario)
    settings = [parse_set(expr) for expr in args.sets]
    for option in ("csv", "report"):
        target_path = getattr(args, option)
        if target_path is not None and Path(target_path).is_dir():
            raise OptionError(f"--{option}: {target_path} is a directory")
    target = None
    if args.target_width is not None:
        target = Target(args.target, args.target_width / 100.0, max(args.max_replications, args.replications))
    workers = args.workers or os.cpu_count() or 1
    show = _progress("sweep") if not args.quiet and sys.stderr.isatty() else None
    run = run_sweep(data, text, args.scenario, settings, args.replications, duration=args.duration,
                    workers=workers, dask=args.dask, target=target, progress=show)
    outputs: list[tuple[str, str]] = []
    if args.csv:
        stem = args.csv[:-4] if args.csv.endswith(".csv") else args.csv
        outputs += [(args.csv, rows_csv(run.labels, run.rows)),
                    (f"{stem}-summary.csv", summary_csv(run.labels, run.summary)),
                    (f"{stem}-connectors.csv", connectors_csv(run.labels, run.rows)),
                    (f"{stem}-manifest.json", run.manifest())]
    if args.report:
        from .output.sweep_html import sweep_html
        outputs.append((args.report, sweep_html(run)))
    for target_path, content in outputs:
        write_atomic(target_path, content)
    if not args.quiet:
        reps = sorted(set(run.replications))
        count = str(reps[0]) if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"
        print(f"{run.name}: {len(run.labels)} point(s) x {count} replication(s)")
        print(table_text(run.labels, run.summary, run.replications), end="")
    return EXIT_OK


def _progress(what: str) -> Callable[[int, int], None]:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""
    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        end = "\n" if done >= total else ""
        print(f"\r{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=sys.stderr,
              flush=True)
    return show


def _test(args: argparse.Namespace) -> int:
    import re

    from .output.atomic import write_atomic
    from .scenario import load_scenario
    from .testing import junit_xml, run_tests

    if args.run:
        try:
            re.compile(args.run)
        except re.error as exc:
            raise OptionError(f"--run: not a regular expression: {exc}") from None
    scenarios = [load_scenario(ref) for ref in args.scenarios]
    outcomes = []
    for sc in scenarios:
        results = run_tests(sc, args.run)
        if not results:
            print(f"{sc.source}: no tests" + (" selected" if args.run else ""))
        for o in results:
            print(f"{'PASS' if o.passed else 'FAIL'}  {sc.source}: {o.name} - {o.summary}")
            for line in o.diff:
                print(f"        {line}")
        outcomes.extend(results)
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    if args.junit:
        write_atomic(args.junit, junit_xml(outcomes))
    return EXIT_TEST_FAILED if failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    bad = 0
    for ref in args.scenarios:
        try:
            sc = load_scenario(ref)
        except ScenarioError as exc:
            print(f"mfi-sim: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        print(f"{ref}: ok ({sc.name})")
    return EXIT_BAD_INPUT if bad else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from .scenario import bundled_names, load_scenario

    names = bundled_names()
    width = max((len(n) for n in names), default=0)
    for name in names:
        sc = load_scenario(name)
        first = " ".join(sc.description.split()).split(". ")[0].rstrip(".") + "."
        print(f"{name:<{width}}  {sc.name}")
        if first != ".":
            print(f"{'':<{width}}  {textwrap.shorten(first, 96, placeholder=' ...')}")
    return EXIT_OK


def _console(args: argparse.Namespace) -> int:
    from .console.server import serve, settings_for

    settings = settings_for(args.scenario, args.host, args.exercise)
    serve(settings, args.host, args.port, args.open, lambda line: print(line, flush=True))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    if args.code:
        try:
            entries = [codes.lookup(args.code)]
        except KeyError:
            known = ", ".join(c for c in codes.CATALOGUE)
            raise OptionError(f"unknown code {args.code!r}; known codes: {known}") from None
    else:
        entries = list(codes.CATALOGUE.values())
    print("\n".join(codes.explain_text(e) for e in entries), end="")
    return EXIT_OK


def _lab(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .lab.controller import Lab
    from .lab.ready import ready_json, table_text
    from .lab.world_at import default_instant, world_at
    from .output.atomic import write_atomic
    from .scenario import load_scenario

    if args.ready_file is not None and Path(args.ready_file).is_dir():
        raise OptionError(f"--ready-file: {args.ready_file} is a directory")
    scenario = load_scenario(args.scenario)
    at, why = default_instant(scenario) if args.at is None else (args.at, "as asked with --at")
    world = world_at(scenario, at)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Lab(world) as lab:
            assert lab.map is not None
            if not stop.is_set():
                print(table_text(lab.map, world, why), end="", flush=True)
                if args.ready_file is not None:
                    write_atomic(args.ready_file, ready_json(lab.map))
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if args.ready_file is not None:
            Path(args.ready_file).unlink(missing_ok=True)
    print("mfi-sim lab: stopped, every lab socket is closed", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
