"""Prometheus metrics of the daemon (names and labels: docs/architecture.md, "Contract: metrics").

:class:`Metrics` owns its own ``CollectorRegistry`` (no global state, so several daemons or tests
can live in one process) and optionally serves it over HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

PREFIX = "realtime_detect_"

# One batched model call: tens of microseconds (toy) to a second (a big model on a small CPU).
INFERENCE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Newest sample of a window to the window handled (and its message sent): network + chunking + model.
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

ERROR_KINDS = (
    "chunk",
    "inference",
    "publish",
    "alert_log",
    "stream_rejected",
    "stream",
    "replay",
    "config",
    "internal",
    "bed",  # an unexpected error in one bed's handling: logged, that bed reset, the others go on
)


class Metrics:
    """Every metric of the contract, in a private registry.

    ``port`` after :meth:`serve` is the bound port (useful with ``port=0``).
    """

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        p = PREFIX
        self.samples_received = Counter(
            f"{p}samples_received", "EEG samples (per channel set) received from LSL", ["stream"], registry=r
        )
        self.windows_processed = Counter(f"{p}windows_processed", "Windows scored by the model", ["stream"], registry=r)
        self.inference_duration = Histogram(
            f"{p}inference_duration_seconds",
            "Duration of one batched model call",
            buckets=INFERENCE_BUCKETS_S,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            f"{p}end_to_end_latency_seconds",
            "LSL clock at the end of handling a window (its messages sent) minus the window's newest sample",
            ["stream"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.alerts_published = Counter(
            f"{p}alerts_published", "Messages published on the PUB socket", ["topic"], registry=r
        )
        self.stream_connected = Gauge(
            f"{p}stream_connected", "1 while the LSL stream delivers samples", ["stream"], registry=r
        )
        self.buffer_fill_ratio = Gauge(
            f"{p}buffer_fill_ratio", "Fill ratio of the ring buffer (0..1)", ["stream"], registry=r
        )
        self.seizure_probability = Gauge(
            f"{p}seizure_probability",
            "Latest aggregated, smoothed seizure probability (NaN while no channel is scored or the stream is lost)",
            ["stream"],
            registry=r,
        )
        self.channels_scored = Gauge(
            f"{p}channels_scored",
            "Channels the model scored in the last window (0: none usable, or the stream is lost)",
            ["stream"],
            registry=r,
        )
        self.clock_jumps = Counter(
            f"{p}clock_jumps",
            "Times the stream's timestamps disagreed with its sample count by more than the tolerance",
            ["stream"],
            registry=r,
        )
        self.windows_skipped = Counter(
            f"{p}windows_skipped",
            "Due windows never scored: their samples left the ring buffer before the daemon got to them",
            ["stream"],
            registry=r,
        )
        self.alarm_active = Gauge(f"{p}alarm_active", "1 while a seizure event is open", ["stream"], registry=r)
        self.channels_left_out = Gauge(
            f"{p}channels_left_out",
            "Channels left out of the last window (flat, railed, non-finite, implausible)",
            ["stream"],
            registry=r,
        )
        self.channels_excluded = Gauge(
            f"{p}channels_excluded",
            "Channels of the stream never scored: not EEG (label, type, unit, rate), excluded by pattern, or unused "
            "by the montage",
            ["stream"],
            registry=r,
        )
        self.decision_settling = Gauge(
            f"{p}decision_settling",
            "1 while no onset may arm: after the start, a reconnect or a gap (decision.settle_s)",
            ["stream"],
            registry=r,
        )
        self.channels_amplitude_atypical = Gauge(
            f"{p}channels_amplitude_atypical",
            "Channels whose median window standard deviation over minutes is outside the model's training range "
            "(gain or unit probably wrong; still scored)",
            ["stream"],
            registry=r,
        )
        self.model_info = Gauge(
            f"{p}model_info",
            "The loaded model (value is always 1)",
            ["model_version", "architecture", "backend", "device"],
            registry=r,
        )
        self.errors = Counter(f"{p}errors", "Errors handled without stopping the daemon, by kind", ["kind"], registry=r)
        self.stream_reconnects = Counter(
            f"{p}stream_reconnects", "Times the stream was re-opened after being lost", ["stream"], registry=r
        )
        self.alarm_acknowledged = Gauge(
            f"{p}alarm_acknowledged",
            "1 while the open seizure event is acknowledged (seizure.ack)",
            ["stream"],
            registry=r,
        )
        self.acks = Counter(f"{p}acks", "Seizure events acknowledged (seizure.ack published)", ["stream"], registry=r)
        self.reannouncements = Counter(
            f"{p}reannouncements",
            "Re-announcements of open, unacknowledged seizure events (seizure.reannounce)",
            ["stream"],
            registry=r,
        )
        self.last_window_timestamp = Gauge(
            f"{p}last_window_timestamp_seconds",
            "Unix time at which the last window was processed",
            ["stream"],
            registry=r,
        )
        for kind in ERROR_KINDS:  # export zeros so rate() and alert rules see every series from the start
            self.errors.labels(kind=kind)
        self._server: Any = None  # prometheus_client's WSGIServer, while serving
        self._thread: Any = None
        self.host: str | None = None
        self.port: int | None = None

    def init_stream(self, stream: str) -> None:
        """Create the per-stream series at zero (so dashboards show 0 rather than no data)."""
        for metric in (
            self.samples_received,
            self.windows_processed,
            self.stream_reconnects,
            self.clock_jumps,
            self.windows_skipped,
        ):
            metric.labels(stream=stream)
        for series in (self.acks, self.reannouncements, self.alarm_acknowledged):  # acknowledgement (daemon.py)
            series.labels(stream=stream)
        for gauge in (
            self.stream_connected,
            self.buffer_fill_ratio,
            self.seizure_probability,
            self.alarm_active,
            self.channels_left_out,
            self.channels_excluded,
            self.decision_settling,
            self.channels_amplitude_atypical,
            self.channels_scored,
        ):
            gauge.labels(stream=stream)
        self.seizure_probability.labels(stream=stream).set(float("nan"))  # nothing scored yet

    def remove_stream(self, stream: str) -> None:
        """Drop every series of one stream label (a bed removed on SIGHUP), so that no stale bed is shown."""
        for metric in self._per_stream():
            with contextlib.suppress(KeyError):  # never created for this label
                metric.remove(stream)

    def _per_stream(self) -> list[Any]:
        return [
            m
            for m in vars(self).values()
            if isinstance(m, (Counter, Gauge, Histogram)) and getattr(m, "_labelnames", ()) == ("stream",)
        ]

    def set_model_info(self, *, model_version: str, architecture: str, backend: str, device: str) -> None:
        self.model_info.clear()
        self.model_info.labels(
            model_version=model_version, architecture=architecture, backend=backend, device=device
        ).set(1)

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = a free port); returns the bound port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host, self.port = host, int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=2.0)
            self._server = self._thread = None
