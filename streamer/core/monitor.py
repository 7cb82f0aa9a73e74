"""When the rules look at which series: the policy shared by the worker and the backtest.

A verdict can only change when a series takes answers, when its windows move (at a bucket
boundary), when a drop detector may read a newly settled bucket (a bucket boundary plus the
rule's ``settle``), or when a pending alert's ``for`` runs out. So every series is evaluated at
each such boundary (an *epoch*), and in between only the series that took answers or have a
pending alert. The result equals evaluating everything at every tick, at a fraction of the cost
with thousands of series; the backtest also jumps its clock straight to the next moment at
which anything can change.
"""

from __future__ import annotations

from streamer.core.board import Board
from streamer.core.drops import settled_until
from streamer.core.watch import Evaluated, Watch


class Monitor:
    def __init__(self, board: Board, watch: Watch) -> None:
        self.board = board
        self.watch = watch
        self._settles = sorted(watch.settle_delays_ms())
        self._epoch: tuple[int, ...] | None = None
        self.complete = False
        """Whether the last evaluation looked at every series."""

    def evaluate(self, now_ms: int) -> Evaluated:
        """Evaluate the rules at ``now_ms``; the board has been advanced to it."""
        board = self.board
        epoch = self._epoch_at(now_ms)
        # After a restore (a rebalance), everything at once: the restored states carry no verdict
        # (a re-send before the next epoch told Alertmanager only that an alert was firing), and
        # each rule's budget is divided by the series of the new assignment.
        self.complete = epoch != self._epoch or self.watch.restored
        if self.complete:
            self._epoch = epoch
            self.watch.restored = False
            board.touched.clear()
            return self.watch.evaluate(board.histories(), now_ms)
        keys = board.touched | {key for key, _ in self.watch.pending()}
        board.touched = set()
        series = [(key, history) for key in keys if (history := board.history(key)) is not None]
        return self.watch.evaluate(series, now_ms, complete=False, every=board.histories)

    def next_change_ms(self, now_ms: int) -> int:
        """The earliest moment after ``now_ms`` at which a verdict can change without new
        answers: the next epoch, or a pending alert's ``for`` running out."""
        bucket_ms = self.board.timeline.bucket_ms
        # Windows move just after a boundary; a detector reads a bucket just after it has been
        # over for `settle`: both at the first moment their epoch number grows.
        moments = [-(-now_ms // bucket_ms) * bucket_ms + 1]
        moments += [settled_until(now_ms, d, bucket_ms) + bucket_ms + d + 1 for d in self._settles]
        moments.extend(deadline for _, deadline in self.watch.pending() if deadline > now_ms)
        return min(moments)

    def _epoch_at(self, now_ms: int) -> tuple[int, ...]:
        bucket_ms = self.board.timeline.bucket_ms
        windows = -(-now_ms // bucket_ms)
        return (windows, *(settled_until(now_ms, d, bucket_ms) for d in self._settles))
