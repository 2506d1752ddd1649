"""The `mfi-sim` command: the only place that prints or exits (SPEC 2.1)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only what every command needs is imported here; each command imports its own modules, so the commands that
# simulate nothing start fast (tests/test_startup.py keeps simpy, dnspython and the servers out).
from .arguments import EXIT_BAD_INPUT, parser
from .errors import MfiSimError, OptionError, ScenarioError
from .escaping import clip_middle, one_line, terminal

if TYPE_CHECKING:
    from .result import Result

EXIT_OK, EXIT_TEST_FAILED, EXIT_INTERRUPTED = 0, 1, 130
EXIT_TERMINATED = 143     # 128 + SIGTERM, as a shell reports a process the signal ended
ERROR_LIMIT = 300     # characters of an error line


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is, so every `finally` removes what it staged before the process ends."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _probe_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """The session to probe and the test message's sender, from exactly one of the three ways to name it."""
    from .probe import spec_from_connector
    from .smtp_client import SERVICE_HOSTNAME, SessionSpec

    ways = [args.scenario is not None, args.smart_host is not None, args.use_mx]
    if sum(ways) != 1:
        raise OptionError("probe: give exactly one of --scenario FILE --connector NAME, --smart-host H..., "
                          "or --use-mx --domain D")
    if args.scenario is not None:
        from .scenario import load_scenario

        if not args.connector:
            raise OptionError("--scenario needs --connector NAME")
        scenario = load_scenario(args.scenario)
        spec = spec_from_connector(scenario, args.connector, args.port, args.tls, args.tls_domain)
        return spec, f"mfi-sim-probe@{scenario.tenant.domain}"
    if args.use_mx and not args.domain:
        raise OptionError("--use-mx needs --domain D")
    hosts = tuple(args.smart_host) if args.smart_host is not None else (args.domain,)
    spec = SessionSpec(hosts, bool(args.use_mx), args.port or 25, args.tls or "None", args.tls_domain)
    return spec, f"mfi-sim-probe@{SERVICE_HOSTNAME}"


def _probe(args: argparse.Namespace) -> int:
    from .output.atomic import write_atomic
    from .probe import options_of, report_json, report_of, report_text, test_message
    from .wire_driver import deliver

    spec, sender = _probe_spec(args)
    if spec.tls == "DomainValidation" and not spec.tls_domain:
        raise OptionError("--tls DomainValidation needs --tls-domain D")
    if args.ca_file is not None and not Path(args.ca_file).is_file():
        raise OptionError(f"--ca-file: {args.ca_file}: no such file")
    if args.json is not None and Path(args.json).is_dir():
        raise OptionError(f"--json: {args.json} is a directory")
    for rcpt in args.recipient or ():
        if "@" not in rcpt.strip("@") or any(c.isspace() or c in "<>" for c in rcpt):
            raise OptionError(f"--recipient: expected an address such as user@example.com, got {rcpt!r}")
    options = options_of(args.timeout, args.nameserver, args.ca_file)
    message = test_message(sender, tuple(args.recipient)) if args.recipient else None
    report = report_of(deliver(spec, options, message))
    if args.json is not None:
        write_atomic(args.json, report_json(report))
    print(report_text(report), end="")
    return EXIT_OK if report.ok else EXIT_TEST_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; SIGTERM is handled like SIGINT (exit 143 instead of 130) while it runs."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:            # not the main thread: leave signals alone
        return _main(argv)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"run": _run, "test": _test, "sweep": _sweep, "validate": _validate, "list": _list,
                "explain": _explain, "lab": _lab, "console": _console, "probe": _probe}[args.command](args)
    except (ScenarioError, OptionError) as exc:
        _error(str(exc), bounded=isinstance(exc, ScenarioError))
        return EXIT_BAD_INPUT
    except Terminated:
        print("mfi-sim: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("mfi-sim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`mfi-sim list | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except MfiSimError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except OSError as exc:
        _error(f"{exc.filename or ''}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT


def _error(text: str, bounded: bool = False) -> None:
    """An error as one line on stderr, control characters escaped; cut in the middle beyond ERROR_LIMIT
    characters unless `bounded` (a ScenarioError: the file in full, the field and a clipped message)."""
    line = f"mfi-sim: error: {one_line(text)}"
    print(line if bounded else clip_middle(line, ERROR_LIMIT), file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .output.atomic import OutputSet
    from .output.ndr_files import NdrDirectory
    from .output.terminal import story_text, summary_text
    from .scenario import check_size, load_scenario
    from .scenario.limits import MAX_MESSAGES

    limit = args.max_messages or MAX_MESSAGES
    scenario = load_scenario(args.scenario, limit)
    check_size(scenario, args.duration, limit)
    _warn_limits(scenario)
    _note_cut_short(scenario, args.duration)
    for option in ("report", "trace", "queue_snapshots", "metrics", "promtool_series", "json", "events"):
        path = getattr(args, option)
        if path is not None and Path(path).is_dir():
            raise OptionError(f"--{option.replace('_', '-')}: {path} is a directory")
    capture = _capture(args.transcript)
    outputs = OutputSet()     # every output of the run: all new, or all as they were (SIGTERM, full disk)
    try:
        sinks = _trace_sinks(args, scenario, outputs)
        from .records import TeeSink
        trace = sinks[0] if len(sinks) == 1 else TeeSink(sinks) if sinks else None
        ndrs = NdrDirectory(args.ndr_dir, scenario, outputs) if args.ndr_dir else None
        bar = _progress("simulating") if not args.quiet and sys.stderr.isatty() else None
        engine = Engine(scenario, seed=args.seed, duration=args.duration, trace=trace, on_ndr=ndrs,
                        progress=(lambda now, total: bar(int(100 * now / total), 100)) if bar else None,
                        capture=capture)
        if not args.quiet:
            print(terminal(story_text(scenario)))
        result = engine.run()
        for path, render in _renders(args):
            outputs.write(path, render(result))
        for sink in sinks:
            sink.close()
        outputs.commit()
    finally:
        outputs.discard()
    if not args.quiet:
        print(terminal(summary_text(result, _terminal_width())), end="")
    if capture is not None:
        for c in result.connectors:
            print(terminal(f"\nTranscript on '{c.name}'"))
            print(terminal("\n".join(c.transcript_lines)) if c.transcript_lines else "  (no such attempt in this run)")
    return EXIT_OK


def _capture(transcript: str | None) -> int | None:
    """--transcript: the attempt to record (0 for the first failure), or None when not asked for."""
    if transcript is None:
        return None
    if transcript == "first-failure":
        return 0
    if transcript.isdigit() and int(transcript) > 0:
        return int(transcript)
    raise OptionError(f"--transcript: expected a positive number or first-failure, got {transcript!r}")


def _trace_sinks(args: argparse.Namespace, scenario: Any, outputs: Any) -> list[Any]:
    """The message-trace writers asked for (--events, --trace), writing into `outputs`."""
    sinks: list[Any] = []
    if args.events:
        from .output.events import EventWriter
        sinks.append(EventWriter(args.events, scenario, outputs=outputs))
    if args.trace:
        from .output.trace_csv import TraceCsvWriter
        sinks.append(TraceCsvWriter(args.trace, scenario, outputs=outputs))
    return sinks


#: The outputs rendered from a run's Result: option, module (under mfi_sim.output), function.
_RENDERS = (("json", "json_result", "result_json"), ("report", "html_report", "report_html"),
            ("queue_snapshots", "queue_snapshots", "queue_snapshots_jsonl"),
            ("metrics", "metrics", "openmetrics_text"), ("promtool_series", "metrics", "promtool_series_yaml"))


def _renders(args: argparse.Namespace) -> list[tuple[str, Callable[[Result], str]]]:
    """(path, render) for each output asked for; each module is imported only when its output is."""
    import importlib
    return [(getattr(args, option), getattr(importlib.import_module(f"{__package__}.output.{module}"), name))
            for option, module, name in _RENDERS if getattr(args, option)]


def _warn_limits(scenario: Any) -> None:
    """Says on stderr where a scenario goes beyond the service's own limits (it still runs)."""
    from .scenario.service_limits import limit_warnings
    for line in limit_warnings(scenario):
        print(f"mfi-sim: warning: {line}", file=sys.stderr)


def _terminal_width() -> int:
    """Columns to wrap the timeline to: $COLUMNS, else the terminal's; 0 (no wrapping) when output is not a
    terminal and COLUMNS is not set, so that files and pipes get one line per entry."""
    import shutil

    return shutil.get_terminal_size(fallback=(0, 0)).columns


def _note_cut_short(scenario: Any, duration: float | None) -> None:
    """Says on stderr what a --duration shorter than the scenario leaves out (faults, actions, tests)."""
    if duration is not None:
        from .testing import cut_short
        for line in cut_short(scenario, duration):
            print(f"mfi-sim: note: {line}", file=sys.stderr)


def _sweep(args: argparse.Namespace) -> int:
    import os

    from .grid import parse_set
    from .output.atomic import OutputSet
    from .output.sweep_report import connectors_csv, rows_csv, summary_csv, table_text
    from .scenario import check_size, parse_toml, read_text, scenario_from_data
    from .whatif import Target, run_sweep

    text = read_text(args.scenario)
    data = parse_toml(text, args.scenario)
    if args.duration is not None:      # the limits hold for the duration asked for, too
        scenario = scenario_from_data(dict(data), args.scenario, text)
        check_size(scenario, args.duration)
        _note_cut_short(scenario, args.duration)
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
    staged = OutputSet()      # the files appear together or not at all
    try:
        for target_path, content in outputs:
            staged.write(target_path, content)
        staged.commit()
    finally:
        staged.discard()
    if not args.quiet:
        reps = sorted(set(run.replications))
        count = str(reps[0]) if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"
        print(terminal(f"{run.name}: {len(run.labels)} point(s) x {count} replication(s)"))
        print(terminal(table_text(run.labels, run.summary, run.replications)), end="")
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
    """Loads and runs every file (a bad file is an error for that file only); exit code is the worst seen."""
    import re

    from .output.atomic import write_atomic
    from .testing import junit_xml, load_error

    if args.run:
        try:
            re.compile(args.run)
        except re.error as exc:
            raise OptionError(f"--run: not a regular expression: {exc}") from None
    outcomes = []
    empty = chosen = 0
    for ref in args.scenarios:
        try:
            results, count = _test_file(ref, args)
        except ScenarioError as exc:
            _error(str(exc), bounded=True)
            outcomes.append(load_error(ref, str(exc)))
            continue
        empty += count is None
        chosen += count or 0
        outcomes.extend(results)
    nothing = bool(args.run) and not chosen and not args.allow_empty
    if nothing:
        print(f"mfi-sim: error: --run {args.run!r} selects no test in {len(args.scenarios)} file(s) "
              f"(--allow-empty to accept that)", file=sys.stderr)
    tests = [o for o in outcomes if not o.error]
    failed = sum(not o.passed for o in tests)
    errors = len(outcomes) - len(tests) + (0 if args.allow_empty else empty)
    print(f"{len(tests) - failed} passed, {failed} failed" + (f", {errors} error(s)" if errors else ""))
    if args.junit:
        write_atomic(args.junit, junit_xml(outcomes))
    if errors or nothing:
        return EXIT_BAD_INPUT
    return EXIT_TEST_FAILED if failed else EXIT_OK


def _test_file(ref: str, args: argparse.Namespace) -> tuple[list[Any], int | None]:
    """The outcomes of one file's selected tests, printed as they come, and how many tests were selected
    (None: the file has no [[tests]] at all)."""
    from .scenario import load_scenario
    from .replications import replication_seeds
    from .testing import run_seeds, run_tests, selected

    sc = load_scenario(ref)
    _warn_limits(sc)
    if not sc.tests:
        if not args.allow_empty:
            print(f"mfi-sim: error: {sc.source}: no [[tests]] tables, so nothing would be checked "
                  f"(--allow-empty to accept that)", file=sys.stderr)
        return [], None
    count = len(selected(sc, args.run))
    if args.seeds:
        results = run_seeds(sc, replication_seeds(sc.seed, args.seeds), args.run)
    else:
        results = run_tests(sc, args.run, args.seed)
    for o in results:
        print(one_line(f"{o.verdict:<5} {sc.source}: {o.name} - {o.summary}"))
        for line in o.diff:
            print(f"        {one_line(line)}")
    return results, count


def _validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    bad = 0
    for ref in args.scenarios:
        try:
            sc = load_scenario(ref)
        except ScenarioError as exc:
            _error(str(exc), bounded=True)
            bad += 1
            continue
        _warn_limits(sc)
        print(one_line(f"{ref}: ok ({sc.name})"))
    return EXIT_BAD_INPUT if bad else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    """The bundled scenarios, each with its title, the codes its own tests pin and its story's first sentence.
    Read as plain TOML: the bundled files are checked by the test suite, and building their worlds (zones) only
    to print a title would make this command slow."""
    import tomllib

    from .scenario import bundled_names, bundled_path
    from .scenario.expectations import pinned_codes

    names = bundled_names()
    width = max((len(n) for n in names), default=0)
    for name in names:
        path = bundled_path(name)
        assert path is not None
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        head = data.get("scenario", {})
        first = " ".join(str(head.get("description", "")).split()).split(". ")[0].rstrip(".") + "."
        shown = ", ".join(pinned_codes(data.get("tests", []))) or "no error"
        print(one_line(f"{name:<{width}}  {head.get('name', name)} [{shown}]"))
        if first != ".":
            print(one_line(f"{'':<{width}}  {textwrap.shorten(first, 96, placeholder=' ...')}"))
    return EXIT_OK


def _console(args: argparse.Namespace) -> int:
    from .console.server import serve, settings_for

    settings = settings_for(args.scenario, args.host, args.exercise)
    serve(settings, args.host, args.port, args.open, lambda line: print(line, flush=True))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from .explain import explain, explain_all, known_codes
    from .scenario.expectations import did_you_mean

    if not args.code:
        print(explain_all(), end="")
        return EXIT_OK
    try:
        text = explain(args.code)
    except KeyError:
        raise OptionError(f"{args.code!r} is not a code: give a reply and status such as '450 4.4.316', a status "
                          f"such as 5.1.10, or 'other'{did_you_mean(args.code, known_codes())}") from None
    print(text, end="")
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
