"""Traffic for demos, tests and backfills: the simulator and the file replayer."""
