"""Where alert transitions go: each Alertmanager (API v2) of an HA set, a generic webhook, a
Kafka topic. ``dispatch.py`` fans them out, ``document.py`` writes what they say, ``http.py``
delivers to an HTTP receiver with its own queue and retries, ``alertmanager.py`` and
``topic.py`` are the other two sinks."""
