"""streamer: rolling NPS, CSAT and CES per touchpoint from survey events on Kafka."""

__version__ = "0.1.0"
