"""The pure scoring core: no I/O, no clock, no Faust. Every number streamer exports comes from here.

Data path: ``events`` (bytes -> SurveyResponse | Rejection) -> ``tally`` (mergeable counts) ->
``ledger`` (idempotent bucket records) -> ``window`` (rolling sums) -> ``scores`` / ``rules`` ->
``alerting`` (the alert state machine).
"""
