"""The ``streamer`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from streamer.core.rules import Rule
from streamer.core.ruleset import RulesError
from streamer.core.series import Breakdown, parse_breakdowns
from streamer.rules_file import read_rules
from streamer.traffic.model import Drop

T = TypeVar("T")


def _option(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An option's parser whose ValueError argparse reports as a usage error (status 2)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _parse_windows(text: str) -> dict[str, int]:
    from streamer.core.timeline import WindowSpec

    specs = [WindowSpec.parse(part) for part in text.split(",") if part.strip()]
    return {spec.label: spec.length_ms for spec in specs}


def _read_rules(
    path: str,
    windows: Mapping[str, int] | None = None,
    breakdowns: Sequence[Breakdown] | None = None,
) -> tuple[Rule, ...] | None:
    """The rules, checked against the windows and breakdowns given, else those configured
    (``STREAMER_WINDOWS``, ``STREAMER_DIMENSIONS``); None once their errors are printed."""
    if windows is None or breakdowns is None:
        from streamer.app.config import windows_of
        from streamer.app.settings import load_settings

        settings = load_settings()
        windows = windows_of(settings) if windows is None else windows
        breakdowns = settings.breakdowns() if breakdowns is None else breakdowns
    try:
        return read_rules(path, windows, breakdowns)
    except RulesError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        print(f"{path}: {len(error.errors)} error(s)", file=sys.stderr)
        return None


def _rules_check(args: argparse.Namespace) -> int:
    rules = _read_rules(args.file, args.windows, args.dimensions)
    if rules is None:
        return 1
    print(f"{args.file}: {len(rules)} rule(s), all valid")
    return 0


def _rules_export(args: argparse.Namespace) -> int:
    from streamer.export.promrules import export

    rules = _read_rules(args.file, args.windows, args.dimensions)
    if rules is None:
        return 1
    exported = export(rules)
    for note in exported.notes:
        print(f"streamer rules export: {note}", file=sys.stderr)
    print(exported.text(), end="")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import json

    from streamer.app.settings import load_settings
    from streamer.export.dashboard import dashboard

    settings = load_settings()
    windows = [window.label for window in settings.timeline().windows]
    print(json.dumps(dashboard(settings.scoring().ces, windows), indent=2))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from streamer import backtest
    from streamer.app.config import resolve
    from streamer.app.settings import load_settings

    settings = load_settings()
    rules_path = args.rules or settings.rules
    if not rules_path:
        print("streamer backtest: no rules (--rules FILE or STREAMER_RULES)", file=sys.stderr)
        return 2
    rules = _read_rules(rules_path)
    if rules is None:
        return 1
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    # The worker's own configuration: the same timeline, with the hourly reach its calendar
    # baselines need.
    config = resolve(settings, rules=rules)
    scoring = config.scoring
    report = backtest.Report()
    answers = backtest.decode_file(path, scoring, report)
    backtest.backtest(
        answers,
        rules,
        config.timeline,
        scoring,
        settings.breakdowns(),
        settings.max_series,
        max(1, round(settings.tick_s * 1000)),
        report,
        backtest.stderr_progress(),
    )
    if args.json:
        backtest.print_json(report, sys.stdout)
    else:
        backtest.print_table(report, rules, sys.stdout)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streamer.app.settings import SettingsError, load_settings
    from streamer.app.worker import run
    from streamer.kafka.topics import TopicsError

    options = {"log_level": args.log_level, "log_format": args.log_format}
    try:
        run(load_settings(**{name: value for name, value in options.items() if value}))
    except SettingsError as error:
        return _refuse("the settings are invalid", error.problems)
    except RulesError as error:
        return _refuse("the rules file is invalid", error.errors)
    except TopicsError as error:
        return _refuse("its existing topics do not fit", error.problems)
    return 0


def _refuse(why: str, problems: Sequence[str]) -> int:
    print(f"streamer worker: refusing to start, {why}:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    return 2


def _broker(args: argparse.Namespace) -> int:
    from streamer.dev import localbroker

    try:
        if args.action == "start":
            print(f"broker on 127.0.0.1:{args.port}, pid {localbroker.start(args.port)}")
        elif args.action == "stop":
            print("stopped" if localbroker.stop(args.port) else "not running")
        else:
            pid = localbroker.running_pid(args.port)
            print(f"running, pid {pid}" if pid else "not running")
            return 0 if pid else 3
    except localbroker.BrokerError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from streamer.app.settings import load_settings
    from streamer.traffic.simulate import simulate

    settings = load_settings()
    topic = args.topic or settings.input_topic
    run = simulate(
        settings.kafka,
        topic,
        args.rate,
        args.duration,
        args.seed,
        tuple(args.drop),
        args.burst_every,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from streamer.app.settings import load_settings
    from streamer.traffic.replay import replay

    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    settings = load_settings()
    asyncio.run(replay(settings.kafka, args.topic or settings.input_topic, path, args.rate))
    return 0


def _configured(command: argparse.ArgumentParser) -> None:
    """The options naming the windows and breakdowns a rules file is read against."""
    command.add_argument(
        "--windows",
        type=_option(_parse_windows),
        help="the configured windows (default: STREAMER_WINDOWS)",
    )
    command.add_argument(
        "--dimensions",
        type=_option(parse_breakdowns),
        help="the configured breakdowns (default: STREAMER_DIMENSIONS)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer", description="Rolling NPS, CSAT and CES from survey events."
    )
    parser.add_argument("--version", action="version", version=f"streamer {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    rules = commands.add_parser("rules", help="alert rules files").add_subparsers(
        dest="action", required=True
    )
    check = rules.add_parser(
        "check", help="validate a rules file and print every error with its path"
    )
    check.add_argument("file")
    _configured(check)
    check.set_defaults(handler=_rules_check)
    export = rules.add_parser("export", help="write equivalent Prometheus alerting rules to stdout")
    export.add_argument("file")
    export.add_argument("--prometheus", action="store_true", required=True, help="the only format")
    _configured(export)
    export.set_defaults(handler=_rules_export)

    board = commands.add_parser(
        "dashboard",
        help="the Grafana dashboard for STREAMER_CES_SCALE and STREAMER_WINDOWS, on stdout",
    )
    board.set_defaults(handler=_dashboard)

    back = commands.add_parser(
        "backtest", help="replay a JSONL or CSV file of answers through the rules, offline"
    )
    back.add_argument("file")
    back.add_argument("--rules", help="alert rules file (default: STREAMER_RULES)")
    back.add_argument(
        "--json", action="store_true", help="one JSON object per transition, nothing else"
    )
    back.set_defaults(handler=_backtest)

    worker = commands.add_parser(
        "worker", help="run a scoring worker (settings from the environment)"
    )
    worker.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="default: STREAMER_LOG_LEVEL, else info",
    )
    worker.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one object per line (ts, level, logger, message); "
        "default: STREAMER_LOG_FORMAT, else text",
    )
    worker.set_defaults(handler=_worker)

    sim = commands.add_parser("simulate", help="publish realistic simulated survey traffic")
    sim.add_argument("--rate", type=float, default=50.0, help="events per second (default 50)")
    sim.add_argument(
        "--duration", type=float, default=0.0, help="seconds; 0 runs until interrupted"
    )
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument(
        "--drop",
        action="append",
        default=[],
        type=_option(Drop.parse),
        metavar="TOUCHPOINT:METRIC:DELTA@TIME",
        help="scripted drop, e.g. checkout:nps:-40@120s (repeatable)",
    )
    sim.add_argument(
        "--burst-every", type=float, default=60.0, help="seconds between 10 s bursts at 3x; 0: none"
    )
    sim.add_argument("--topic", help="default: STREAMER_INPUT_TOPIC")
    sim.set_defaults(handler=_simulate)

    rep = commands.add_parser("replay", help="publish a JSONL or CSV file of events (backfill)")
    rep.add_argument("file")
    rep.add_argument(
        "--rate", type=float, default=0.0, help="events per second; 0: as fast as possible"
    )
    rep.add_argument("--topic", help="default: STREAMER_INPUT_TOPIC")
    rep.set_defaults(handler=_replay)

    broker = commands.add_parser("broker", help="the local development broker (Tansu, in memory)")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(handler=_broker)
    return parser


def _version() -> str:
    from streamer.app.buildinfo import package_version

    return package_version()


def main(argv: Sequence[str] | None = None) -> int:
    from streamer.app.settings import SettingsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as error:
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(f"streamer {command}: the settings are invalid:", file=sys.stderr)
        for line in error.problems:
            print(f"  {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
