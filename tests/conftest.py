import os

from hypothesis import HealthCheck, settings

# Wall-clock deadlines make property tests flaky on a shared 2-core machine; speed is measured
# in bench/, never asserted here.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.register_profile("thorough", deadline=None, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
