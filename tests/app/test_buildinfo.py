import platform
from importlib.metadata import version

from prometheus_client import REGISTRY, CollectorRegistry

from streamer.app.buildinfo import register_build_metrics


def test_build_process_and_python_metrics_land_on_the_registry_passed_in():
    registry = CollectorRegistry()
    register_build_metrics(registry)
    labels = {
        "version": version("streamer"),
        "python": platform.python_version(),
        "faust": version("faust-streaming"),
    }
    assert registry.get_sample_value("streamer_build_info", labels) == 1
    names = {sample.name for family in registry.collect() for sample in family.samples}
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "python_gc_collections_total",
    } <= names
    assert REGISTRY.get_sample_value("streamer_build_info", labels) is None
    register_build_metrics(CollectorRegistry())  # a second worker in one process: no clash
