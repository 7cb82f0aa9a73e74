"""Kafka as every part of streamer reaches it: connection settings, client options, topics."""
