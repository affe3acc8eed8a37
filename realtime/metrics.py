"""Prometheus metrics of the daemon (names and labels: docs/architecture.md, "Contract: metrics") and of
the fan-in (:class:`FaninMetrics`; docs/operations.md, "Many daemons, many hosts").

:class:`Metrics` and :class:`FaninMetrics` each own their own ``CollectorRegistry`` (no global state,
so several daemons or tests can live in one process) and optionally serve it over HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

PREFIX = "realtime_detect_"
FANIN_PREFIX = "realtime_fanin_"

# One batched model call: tens of microseconds (toy) to a second (a big model on a small CPU).
INFERENCE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Newest sample of a window to the window handled (and its message sent): network + chunking + model.
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
# One fan-in replay answer: a cached page from loopback daemons (ms) to a daemon's timeout (2 s default).
REPLAY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

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
# Outcomes of a request on the fan-in's replay socket (realtime.replay_server): answered, refused up front
# (rate limit, multipart, size), or answered with an error (a bad request, an internal error).
REPLAY_OUTCOMES = ("ok", "refused", "error")

_M = TypeVar("_M", Counter, Gauge, Histogram)


class _Exporter:
    """A private registry, served over HTTP by :meth:`serve` until :meth:`close`.

    ``host`` / ``port`` after :meth:`serve` are the bound address (useful with ``port=0``).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._server: Any = None  # prometheus_client's WSGIServer, while serving
        self._thread: Any = None
        self.host: str | None = None
        self.port: int | None = None

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = a free port); returns the bound port. Raises OSError."""
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


class Metrics(_Exporter):
    """Every metric of the contract, in a private registry.

    Most are per stream (the label ``stream``): declared by :meth:`_stream`, which also lists them for
    :meth:`init_stream` (created at zero) and :meth:`remove_stream`.
    """

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        p = PREFIX
        self._streams: list[tuple[Counter | Gauge | Histogram, bool]] = []  # (metric, created by init_stream)
        s = self._stream
        self.samples_received = s(Counter, "samples_received", "EEG samples (per channel set) received from LSL")
        self.windows_processed = s(Counter, "windows_processed", "Windows scored by the model")
        self.inference_duration = Histogram(
            f"{p}inference_duration_seconds",
            "Duration of one batched model call",
            buckets=INFERENCE_BUCKETS_S,
            registry=r,
        )
        self.end_to_end_latency = s(
            Histogram,
            "end_to_end_latency_seconds",
            "LSL clock at the end of handling a window (its messages sent) minus the window's newest sample",
            init=False,
            buckets=LATENCY_BUCKETS_S,
        )
        self.alerts_published = Counter(
            f"{p}alerts_published", "Messages published on the PUB socket", ["topic"], registry=r
        )
        self.stream_connected = s(Gauge, "stream_connected", "1 while the LSL stream delivers samples")
        self.buffer_fill_ratio = s(Gauge, "buffer_fill_ratio", "Fill ratio of the ring buffer (0..1)")
        self.seizure_probability = s(
            Gauge,
            "seizure_probability",
            "Latest aggregated, smoothed seizure probability (NaN while no channel is scored or the stream is lost)",
        )
        self.channels_scored = s(
            Gauge,
            "channels_scored",
            "Channels the model scored in the last window (0: none usable, or the stream is lost)",
        )
        self.clock_jumps = s(
            Counter,
            "clock_jumps",
            "Times the stream's timestamps disagreed with its sample count by more than the tolerance",
        )
        self.windows_skipped = s(
            Counter,
            "windows_skipped",
            "Due windows never scored: their samples left the ring buffer before the daemon got to them",
        )
        self.inlet_backlog = s(
            Gauge,
            "inlet_backlog_seconds",
            "Signal waiting in liblsl's inlet when the last pull began (samples pulled + left, / nominal rate); "
            "liblsl drops the oldest samples when its buffer (max_buflen) is full",
        )
        self.alarm_active = s(Gauge, "alarm_active", "1 while a seizure event is open")
        self.channels_left_out = s(
            Gauge,
            "channels_left_out",
            "Channels left out of the last window (flat, railed, non-finite, implausible)",
        )
        self.channels_excluded = s(
            Gauge,
            "channels_excluded",
            "Channels of the stream never scored: not EEG (label, type, unit, rate), excluded by pattern, or unused "
            "by the montage",
        )
        self.decision_settling = s(
            Gauge,
            "decision_settling",
            "1 while no onset may arm: after the start, a reconnect or a gap (decision.settle_s)",
        )
        self.channels_amplitude_atypical = s(
            Gauge,
            "channels_amplitude_atypical",
            "Channels whose median window standard deviation over minutes is outside the model's training range "
            "(gain or unit probably wrong; still scored)",
        )
        self.channels_scaled = s(
            Gauge,
            "channels_scaled",
            "Channels whose background over minutes is above signal.background_limit_uv (or its 1.5-4 Hz part above "
            "signal.background_delta_limit_uv), scaled down to it before the model",
        )
        self.model_info = Gauge(
            f"{p}model_info",
            "The loaded model (value is always 1)",
            ["model_version", "architecture", "backend", "device", "precision"],
            registry=r,
        )
        self.errors = Counter(f"{p}errors", "Errors handled without stopping the daemon, by kind", ["kind"], registry=r)
        self.stream_reconnects = s(Counter, "stream_reconnects", "Times the stream was re-opened after being lost")
        self.alarm_acknowledged = s(  # acknowledgement (daemon.py)
            Gauge, "alarm_acknowledged", "1 while the open seizure event is acknowledged (seizure.ack)"
        )
        self.acks = s(Counter, "acks", "Seizure events acknowledged (seizure.ack published)")
        self.seizure_onsets = s(Counter, "seizure_onsets", "Seizure events opened (seizure.onset published)")
        self.reannouncements = s(
            Counter,
            "reannouncements",
            "Re-announcements of open, unacknowledged seizure events (seizure.reannounce)",
        )
        self.last_window_timestamp = s(
            Gauge, "last_window_timestamp_seconds", "Unix time at which the last window was processed", init=False
        )
        for kind in ERROR_KINDS:  # export zeros so rate() and alert rules see every series from the start
            self.errors.labels(kind=kind)

    def _stream(self, kind: type[_M], name: str, documentation: str, *, init: bool = True, **kwargs: Any) -> _M:
        """A metric labelled ``stream`` named ``PREFIX + name``; ``init``: :meth:`init_stream` creates its
        series (at zero) for each new stream."""
        metric = kind(PREFIX + name, documentation, ["stream"], registry=self.registry, **kwargs)
        self._streams.append((metric, init))
        return metric

    def init_stream(self, stream: str) -> None:
        """Create the per-stream series at zero (so dashboards show 0 rather than no data)."""
        for metric, init in self._streams:
            if init:
                metric.labels(stream=stream)
        self.seizure_probability.labels(stream=stream).set(float("nan"))  # nothing scored yet

    def remove_stream(self, stream: str) -> None:
        """Drop every series of one stream label (a bed removed on SIGHUP), so that no stale bed is shown."""
        for metric in self._per_stream():
            with contextlib.suppress(KeyError):  # never created for this label
                metric.remove(stream)

    def _per_stream(self) -> list[Any]:
        return [metric for metric, _init in self._streams]

    def set_model_info(
        self, *, model_version: str, architecture: str, backend: str, device: str, precision: str = "float32"
    ) -> None:
        self.model_info.clear()
        self.model_info.labels(
            model_version=model_version, architecture=architecture, backend=backend, device=device, precision=precision
        ).set(1)

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()


class FaninMetrics(_Exporter):
    """The fan-in's metrics (``realtime-fanin --metrics-port``), in a private registry.

    Every upstream's ``upstream_connected`` series and every replay outcome exist from the start (at 0).
    """

    def __init__(self, upstreams: Iterable[str]) -> None:
        super().__init__()
        r = self.registry
        p = FANIN_PREFIX
        names = list(upstreams)
        self.upstreams_configured = Gauge(
            f"{p}upstreams_configured", "Upstream daemons in the fan-in's configuration", registry=r
        )
        self.upstream_connected = Gauge(
            f"{p}upstream_connected",
            "1 while the fan-in's connection to this daemon's PUB socket is up (handshake done, CURVE included)",
            ["upstream"],
            registry=r,
        )
        self.messages_forwarded = Counter(
            f"{p}messages_forwarded",
            "Messages passed from the daemons to the stations, every upstream together (counted on the proxy's "
            "capture socket; at least this many)",
            registry=r,
        )
        self.subscribers_connected = Gauge(
            f"{p}subscribers_connected", "Connections open on the stations' XPUB socket", registry=r
        )
        self.replay_requests = Counter(
            f"{p}replay_requests",
            "Requests on the fan-in's replay socket by outcome: ok, refused (rate limit, multipart, size), "
            "error (answered with an error)",
            ["outcome"],
            registry=r,
        )
        self.replay_duration = Histogram(
            f"{p}replay_duration_seconds",
            "Time to answer one replay request that was not refused (the upstreams' answers included)",
            buckets=REPLAY_BUCKETS_S,
            registry=r,
        )
        self.upstreams_configured.set(len(names))
        for name in names:
            self.upstream_connected.labels(upstream=name).set(0)
        for outcome in REPLAY_OUTCOMES:
            self.replay_requests.labels(outcome=outcome)

    def replay_answered(self, outcome: str, seconds: float) -> None:
        """Count one replay request (``outcome``: one of :data:`REPLAY_OUTCOMES`); time it unless refused."""
        self.replay_requests.labels(outcome=outcome).inc()
        if outcome != "refused":
            self.replay_duration.observe(seconds)
