"""Summarise py-spy's collapsed stacks: the share of samples spent in each function.

    python -m bench.stacks PROFILE [--top 30]

"self" is where the sample was taken; "inclusive" counts a function anywhere on the stack.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [
            frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1] for frame in stack.split(";")
        ]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"--- {title} ({total} samples)")
        for frame, samples in counter.most_common(args.top):
            print(f"{samples / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
