"""One batch of input messages through the core: decode, dead-letter, count."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from streamer.app.deadletter import dead_letter
from streamer.app.metrics import WorkerMetrics
from streamer.app.seams import Message, Topic
from streamer.core.board import Board, Ingested, Sourced
from streamer.core.decoder import Decoder
from streamer.core.durations import format_duration_ms
from streamer.core.events import Rejection, SurveyResponse
from streamer.core.ledger import Outcome
from streamer.core.scales import Scoring


class Batches:
    def __init__(
        self,
        board: Board,
        decoder: Decoder,
        dead_letters: Topic,
        metrics: WorkerMetrics,
        clock_ms: Callable[[], int],
        dlq_value_max_bytes: int,
        follow_ups: Topic | None = None,
        scoring: Scoring | None = None,
    ) -> None:
        self._board = board
        self._decode = decoder.decode
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._dlq_max = dlq_value_max_bytes
        self._follow_ups = follow_ups
        self._scoring = scoring or Scoring()
        self._newest_ms: int | None = None
        self.next_offset: dict[tuple[str, int], int] = {}
        """Per topic and partition: the offset after the last one processed (the lag gauge)."""

    def process(
        self,
        messages: Sequence[Message],
        source_base: int = 0,
        divert: Callable[[Message, SurveyResponse], bool] | None = None,
    ) -> None:
        """``source_base`` is added to the partition to name an answer's source in the ledger:
        a second topic's offsets (the repartition topic's) are another sequence than the
        input's. A valid answer for which ``divert`` returns True was re-published to be
        counted elsewhere, not here (see ``streamer.app.repartition``)."""
        now_ms = self._clock_ms()
        answers = self._decoded(messages, source_base, divert, now_ms)
        counted = self._board.ingest(answers, now_ms)
        if counted.late:
            self._dead_letter_late(messages, source_base, counted.late)
        if self._follow_ups is not None:
            self._follow_up(self._follow_ups, counted.accepted)
        self._observe(messages, answers, counted)

    def _decoded(
        self,
        messages: Sequence[Message],
        source_base: int,
        divert: Callable[[Message, SurveyResponse], bool] | None,
        now_ms: int,
    ) -> list[Sourced]:
        """The valid answers to count here; rejections are dead-lettered on the way."""
        answers: list[Sourced] = []
        rejected = self._metrics.events
        # One edge for the batch (`Timeline.on_time_from`), not a lateness test per answer: that
        # was a fifth of the worker's busy time.
        on_time_from = self._board.timeline.on_time_from(now_ms)
        for message in messages:
            result = self._decode(message.value or b"", now_ms)
            if isinstance(result, Rejection):
                self._dead_letter(message, result.reason.value, result.message)
                rejected.labels(Outcome.REJECTED.value, result.reason.value).inc()
            elif (
                divert is None
                # Already late: dead-lettered here, at the position its producer knows, not
                # re-published to be found late on the repartition topic.
                or result.occurred_at_ms < on_time_from
                or not divert(message, result)
            ):
                answers.append(Sourced(message.partition + source_base, message.offset, result))
            self.next_offset[(message.topic, message.partition)] = message.offset + 1
        return answers

    def _dead_letter_late(
        self, messages: Sequence[Message], source_base: int, late: Sequence[Sourced]
    ) -> None:
        by_position = {(m.partition + source_base, m.offset): m for m in messages}
        horizon = format_duration_ms(self._board.timeline.horizon_ms)
        for answer in late:
            self._dead_letter(
                by_position[(answer.partition, answer.offset)],
                Outcome.LATE.value,
                f"occurred_at is older than the longest window plus the grace period "
                f"({horizon}): its bucket has expired",
            )

    def _follow_up(self, topic: Topic, accepted: Sequence[Sourced]) -> None:
        for answer in accepted:
            r = answer.response
            if self._scoring.is_unhappy(r.metric, r.scale, r.score):
                topic.send_soon(key=r.event_id.encode(), value=follow_up(r))

    def _observe(
        self, messages: Sequence[Message], answers: Sequence[Sourced], counted: Ingested
    ) -> None:
        """Outcomes, the newest event time, and how long the batch waited in Kafka."""
        for outcome, count in counted.outcomes.items():
            self._metrics.events.labels(outcome.value, "").inc(count)
        newest_ms = max((a.response.occurred_at_ms for a in answers), default=None)
        if newest_ms is not None and (self._newest_ms is None or newest_ms > self._newest_ms):
            self._newest_ms = newest_ms
            self._metrics.last_event.set(newest_ms / 1000)
        done_ms = self._clock_ms()
        stamps = [m.timestamp for m in messages if m.timestamp]
        if stamps:
            self._metrics.delay.observe(max(0, done_ms - min(stamps)) / 1000)
        self._metrics.last_processed.set(done_ms / 1000)

    def _dead_letter(self, message: Message, reason: str, explanation: str) -> None:
        letter = dead_letter(
            reason,
            explanation,
            message.topic,
            message.partition,
            message.offset,
            message.timestamp,
            message.value,
            self._dlq_max,
        )
        self._dead_letters.send_soon(key=message.key, value=letter)
        self._metrics.dead_letters.inc()


def follow_up(response: SurveyResponse) -> bytes:
    """A detractor or dissatisfied answer for a ticketing system: the one place personal data
    (respondent, interaction, comment) leaves the input topic, and only into Kafka."""
    return orjson.dumps(
        {**response._asdict(), "metric": response.metric.value, "scale": str(response.scale)}
    )
