"""The ``streamer`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streamer.core.ruleset import RulesError
from streamer.rules_file import read_rules


def _rules_check(args: argparse.Namespace) -> int:
    windows = [w.strip() for w in args.windows.split(",") if w.strip()] if args.windows else None
    try:
        rules = read_rules(args.file, windows)
    except RulesError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        print(f"{args.file}: {len(error.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: {len(rules)} rule(s), all valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer", description="Rolling NPS, CSAT and CES from survey events."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    rules = commands.add_parser("rules", help="alert rules files").add_subparsers(
        dest="action", required=True
    )
    check = rules.add_parser(
        "check", help="validate a rules file and print every error with its path"
    )
    check.add_argument("file")
    check.add_argument(
        "--windows", default="5m,1h,24h,7d", help="configured window labels to check against"
    )
    check.set_defaults(handler=_rules_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
