"""What is running: the version, and the process and Python metrics every exporter carries."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from streamer.export import names


def package_version(name: str = "streamer") -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def register_build_metrics(registry: CollectorRegistry) -> None:
    """``streamer_build_info`` (1, labelled with the versions), ``process_*`` (CPU, memory,
    file descriptors, start time), ``python_info`` and ``python_gc_*``, on ``registry``."""
    Gauge(
        names.BUILD_INFO,
        names.HELP[names.BUILD_INFO],
        ["version", "python", "faust"],
        registry=registry,
    ).labels(package_version(), platform.python_version(), package_version("faust-streaming")).set(
        1
    )
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
