"""Development tools: the local Kafka-protocol broker and the demo of ``make run``.

Neither is used by a production worker."""
