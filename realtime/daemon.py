"""The daemon: wiring and the run loop (one stream, one bed, one process).

Start-up, in this order, before ``READY=1``: load the model (``realtime.model.load_detector``,
which logs backend and device) and warm it up; take the model card's settings
(:func:`realtime.config.apply_model_settings`: default < card < config file < flag) and log the
effective decision and amplitude settings with where each came from; bind the alert sockets and
open the alert log; serve the metrics; reconcile the alert log (:mod:`realtime.alarm`: event ids continue
after its highest; an event a killed or stopped run left open is closed with a ``seizure.offset``
``"reason": "restart"``, logged as a WARNING). Then the loop, one iteration at a time, on the main thread:

- no inlet open: one resolve attempt (``stream.resolve_timeout_s``), ``STATUS=waiting for ...``;
- a stream connects: the pipeline picks its EEG channels (:mod:`realtime.channels`: labels, units,
  LSL channel types, ``stream.include``/``exclude``/``channels``); every channel left out is logged
  (WARNING) with its reason and named in the ``status.signal`` ``connected`` message's detail (and
  in the ``restored`` one when the stream comes back with another layout);
- inlet open: one ``pull_chunk`` (at most 0.1 s wait) -> ``Pipeline.push`` -> ``Pipeline.step``
  -> for every scored window: metrics, and the decision events as ``seizure.onset`` /
  ``seizure.offset`` messages through the :class:`realtime.alerts.Publisher`;
- acknowledgements from the replay socket (``Publisher.pending_acks``) are answered: the open event's
  first one is published as ``seizure.ack``; an open, unacknowledged event is re-announced
  (``seizure.reannounce``) every ``alerts.reannounce_s`` of monotonic wall time;
- a heartbeat every ``alerts.heartbeat_s``; ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC`` when an
  iteration has completed (a hung iteration stops the pings; a resolve attempt that finds nothing
  completes, so waiting for an absent stream does not get the service killed);
- stream lost (outlet gone, or no samples for ``stream.stale_after_s``): ``status.signal`` lost,
  buffers dropped, the inlet re-resolved every iteration; ``status.signal`` restored when samples
  flow again (``realtime_detect_stream_reconnects_total`` counts these).

Signals (the handlers only set flags, and log nothing: logging is not async-signal-safe; the loop
logs and acts on them between iterations):

- SIGTERM / SIGINT: ``STOPPING=1``, no further pulls, the window in flight is finished, a final
  heartbeat (``"final": true``) is published, sockets are closed, exit 0. An open seizure event
  is not closed: the daemon stopping is not the seizure ending (the final heartbeat says
  ``alarm_active``).
- SIGHUP: the config file is read again (with the same CLI overrides and the model card's settings). ``decision.*``,
  ``alerts.heartbeat_s``, ``alerts.reannounce_s``, ``logging.level``, ``stream.stale_after_s`` and
  ``stream.resolve_timeout_s`` take effect at once without touching the stream; every other changed
  setting (stream identity, window, model, endpoints, log path, metrics) is logged as
  "needs restart" and ignored. An invalid file is logged with all its errors and ignored.

Exit codes (:data:`EX_OK` ...): 0 clean stop, 2 usage, 69 the model (or a socket/port) is unavailable,
70 unexpected crash (logged with its traceback), 78 invalid configuration (every error printed).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from realtime import sdnotify
from realtime.alarm import AlarmTracker
from realtime.config import (
    SECTION_NAMES,
    Config,
    ConfigError,
    apply_model_settings,
    config_to_dict,
    describe_settings,
    load_config,
)

if TYPE_CHECKING:  # the heavy modules are imported in start(), not at import time
    from realtime.alerts import AckRequest, Publisher
    from realtime.inlet import Inlet, StreamMeta
    from realtime.messages import Envelope
    from realtime.metrics import Metrics
    from realtime.model import Detector
    from realtime.pipeline import Pipeline

log = logging.getLogger("realtime.daemon")

EX_OK = 0
EX_USAGE = 2
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78

PULL_TIMEOUT_S = 0.1
QUALITY_HOLD_S = 5.0  # at most one status.signal "quality" message per this many seconds
# Settings a SIGHUP applies in place; any other change needs a restart.
RELOADABLE = {
    "decision": None,
    "alerts": ("heartbeat_s", "reannounce_s"),
    "logging": None,
    "stream": ("stale_after_s", "resolve_timeout_s"),
}


class StartupError(RuntimeError):
    """Start-up failed in a way with its own exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class TimedDetector:
    """A :class:`realtime.model.Detector` that times every batched ``predict`` call of the one it wraps
    (for the inference histogram)."""

    def __init__(self, detector: Detector, observe: Callable[[float], None]):
        self._detector = detector
        self._observe = observe
        self.model_version: str = str(detector.model_version)
        self.architecture: str = str(getattr(detector, "architecture", ""))
        self.sample_rate_hz: float = float(detector.sample_rate_hz)
        self.window_samples: int = int(detector.window_samples)
        self.backend: str = str(getattr(detector, "backend", ""))
        self.device: str = str(getattr(detector, "device", ""))
        self.settings: Mapping[str, Mapping[str, Any]] = getattr(detector, "settings", None) or {}

    def predict(self, windows_uv: np.ndarray) -> np.ndarray:
        """``windows_uv [n, window_samples]`` µV -> ``[n]`` p(seizure), timed."""
        t0 = time.perf_counter()
        out = self._detector.predict(windows_uv)
        self._observe(time.perf_counter() - t0)
        return out

    def warmup(self, batch_sizes: tuple[int, ...] = (1,)) -> None:
        self._detector.warmup(batch_sizes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._detector, name)


T = TypeVar("T")


def _started(part: T | None, what: str) -> T:
    if part is None:
        raise RuntimeError(f"the daemon's {what} is not there yet: call start() first")
    return part


class RateLimitedLog:
    """Log an error with its traceback at most once per ``every_s`` per kind; count the rest."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def error(self, kind: str, message: str, *args: Any, exc_info: bool = True, level: int = logging.ERROR) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -math.inf) >= self.every_s:
            n = self._suppressed.pop(kind, 0)
            suffix = f" ({n} more like it suppressed)" if n else ""
            log.log(level, message + suffix, *args, exc_info=exc_info)
            self._last[kind] = now
        else:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1


def configure_logging(level: str) -> None:
    """Log to stderr at ``level``; under systemd in journald's form (``<N>`` priorities, no own
    timestamp): :func:`realtime.logs.configure_logging`."""
    from realtime.logs import configure_logging as configure

    configure(level)


class Daemon:
    """One bed's detector. ``start()`` then ``run()``; or ``iterate()`` by hand in tests."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        detector: Detector | None = None,
        env: Mapping[str, str] | None = None,
    ):
        import os

        self.config: Config = config  # effective: with the model card's settings once start() has loaded it
        self.config_path: str | Path | None = config_path
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self._detector: Detector | None = detector
        self.detector: TimedDetector | None = None
        self.metrics: Metrics | None = None
        self.publisher: Publisher | None = None
        self.inlet: Inlet | None = None
        self.pipeline: Pipeline | None = None
        self.envelope: Envelope | None = None
        self.setting_sources: dict[str, str] = {}  # dotted model-setting key -> where its value came from
        self._stop_requested: bool = False
        self._stop_signal: int | None = None  # set by the handler, logged by the loop
        self._stop_logged: bool = False
        self._reload_requested: bool = False
        self._errors: RateLimitedLog = RateLimitedLog()
        self._started_mono: float = time.monotonic()
        self._next_heartbeat: float = 0.0
        self._last_watchdog: float = 0.0
        self._watchdog_s: float | None = sdnotify.watchdog_interval_s(self.env)
        self._status: str = ""
        self._stream_label: str = ""
        self._host: str = socket.gethostname()
        self._layout: Any = None  # the open stream's channel layout (a reconnect with another one rebuilds)
        self.windows_total: int = 0
        self._last_probability: float = 0.0  # last finite smoothed bed probability
        self._quality_sent: tuple = ()  # flagged channels last reported (none at start)
        self._quality_sent_at: float = -math.inf
        self._alarm: AlarmTracker = AlarmTracker(config.alerts.reannounce_s)  # acks and re-announcements
        self._last_event_id: int = 0  # highest event id used (the alert log's at start); the next onset is above

    # The parts start() (or a connected stream, for the pipeline) provides; an error before then.
    @property
    def _metrics(self) -> Metrics:
        return _started(self.metrics, "metrics")

    @property
    def _publisher(self) -> Publisher:
        return _started(self.publisher, "publisher")

    @property
    def _inlet(self) -> Inlet:
        return _started(self.inlet, "inlet")

    @property
    def _envelope(self) -> Envelope:
        return _started(self.envelope, "envelope")

    @property
    def _meta(self) -> StreamMeta:
        return _started(self._inlet.meta, "stream metadata (no stream is open)")

    @property
    def _pipeline(self) -> Pipeline:
        return _started(self.pipeline, "pipeline (no stream is open)")

    # ----------------------------------------------------------------------------- start-up
    def start(self) -> None:
        """Load and warm the model, bind sockets, serve metrics, then ``READY=1``.

        Raises :class:`StartupError` with the exit code for a model or socket that is unavailable.
        """
        import realtime.pipeline  # noqa: F401  (imported now, not on the first connection: scipy takes a second)
        from realtime.alerts import Publisher, PublisherConfigError, default_log_path
        from realtime.inlet import Inlet, StreamSpec
        from realtime.messages import Envelope
        from realtime.metrics import Metrics

        cfg = self.config
        log.info("starting; configuration: %s", config_to_dict(cfg))
        self.metrics = Metrics()
        if self._detector is None:
            from realtime.model import ModelLoadError, load_detector

            try:
                loaded = load_detector(cfg.model.path or None, backend=cfg.model.backend, device=cfg.model.device)
                loaded.warmup((1,))
                self._detector = loaded
            except ModelLoadError as exc:
                raise StartupError(f"cannot load the model: {exc}", EX_UNAVAILABLE) from exc
            except Exception as exc:  # loaded, but the warm-up window fails: the model is unusable
                log.debug("model warm-up failure", exc_info=True)
                raise StartupError(
                    f"the model at {cfg.model.path or 'the default path'} failed its warm-up "
                    f"window: {type(exc).__name__}: {exc}",
                    EX_UNAVAILABLE,
                ) from exc
        det = _started(self._detector, "model")
        self.detector = TimedDetector(det, self._metrics.inference_duration.observe)
        try:
            self.config, self.setting_sources = apply_model_settings(
                cfg, self.detector.settings, window_s=det.window_samples / det.sample_rate_hz
            )
        except ConfigError as exc:
            raise StartupError(f"the configuration does not fit the model: {exc}", EX_CONFIG) from exc
        cfg = self.config
        log_settings(cfg, self.setting_sources)
        self._metrics.set_model_info(
            model_version=str(det.model_version),
            architecture=self.detector.architecture,
            backend=str(det.backend),
            device=str(det.device),
        )
        spec = StreamSpec(name=cfg.stream.name, type=cfg.stream.type, source_id=cfg.stream.source_id)
        self._stream_label = spec.label()
        self._metrics.init_stream(self._stream_label)
        self.envelope = Envelope.of(
            {"name": spec.name, "type": spec.type, "source_id": spec.source_id},
            host=self._host,
            model_version=str(det.model_version),
        )
        log_path = cfg.alerts.log_path or str(default_log_path(self.env))
        try:
            self.publisher = Publisher(
                cfg.alerts.endpoint,
                cfg.alerts.replay_endpoint,
                log_path,
                on_error=self._metrics.error,
                on_published=lambda topic: self._metrics.alerts_published.labels(topic=topic).inc(),
                curve_secret_key=cfg.alerts.curve_secret_key,
                curve_clients_dir=cfg.alerts.curve_clients_dir,
                allow_plaintext_remote=cfg.alerts.allow_plaintext_remote,
            )
        except PublisherConfigError as exc:  # CURVE keys missing or unreadable, plaintext off loopback
            raise StartupError(f"alerts: {exc}", EX_CONFIG) from exc
        except Exception as exc:  # zmq.ZMQError (address in use, bad endpoint) or OSError (log)
            raise StartupError(
                f"cannot open the alert sockets/log ({cfg.alerts.endpoint}, "
                f"{cfg.alerts.replay_endpoint or 'no replay'}, {log_path}): {exc}",
                EX_UNAVAILABLE,
            ) from exc
        if cfg.metrics.enabled:
            try:
                self._metrics.serve(cfg.metrics.host, cfg.metrics.port)
            except OSError as exc:
                self._publisher.close(flush_s=0)
                raise StartupError(
                    f"cannot serve metrics on {cfg.metrics.host}:{cfg.metrics.port}: {exc}", EX_UNAVAILABLE
                ) from exc
        self.inlet = Inlet(
            spec,
            resolve_timeout_s=cfg.stream.resolve_timeout_s,
            stale_after_s=cfg.stream.stale_after_s,
            max_chunk_samples=cfg.stream.max_chunk_samples,
            max_buflen_s=max(30, int(cfg.window.buffer_s)),
        )
        self._reconcile(spec)
        self._started_mono = time.monotonic()
        self._next_heartbeat = self._started_mono  # first heartbeat right away
        metrics_url = f"http://{self._metrics.host}:{self._metrics.port}/metrics" if cfg.metrics.enabled else "off"
        log.info(
            "ready: alerts=%s replay=%s metrics=%s model=%s backend=%s device=%s stream=%s",
            self._publisher.endpoint,
            self._publisher.replay_endpoint or "off",
            metrics_url,
            det.model_version,
            det.backend,
            det.device,
            spec.describe(),
        )
        sdnotify.notify("READY=1", self.env)
        self._set_status(f"waiting for stream {spec.describe()}")

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    # The handlers only set flags (no logging, no I/O: neither is safe inside a signal handler).
    def _on_stop_signal(self, signum, frame) -> None:
        self._stop_signal = signum
        self._stop_requested = True

    def _on_hup(self, signum, frame) -> None:
        self._reload_requested = True

    def _log_stop(self) -> None:
        """Log, once, from the loop, the signal that asked for the stop."""
        if self._stop_signal is not None and not self._stop_logged:
            self._stop_logged = True
            log.info("received %s: stopping after the window in flight", signal.Signals(self._stop_signal).name)

    def request_stop(self) -> None:
        self._stop_requested = True

    # ----------------------------------------------------------------------------- the loop
    def run(self, duration_s: float | None = None) -> int:
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self._stop_requested:
                self.iterate()
                if deadline is not None and time.monotonic() >= deadline:
                    log.info("--duration-s %g reached: stopping", duration_s)
                    break
            self._log_stop()
        finally:
            self.shutdown()
        return EX_OK

    def iterate(self) -> None:
        """One loop iteration: resolve or pull+score, heartbeat, reload, watchdog."""
        if self._reload_requested:
            self._reload_requested = False
            log.info("received SIGHUP: reloading %s", self.config_path or "(no config file)")
            self.reload()
        self._acquire()
        self._alarm_duties()
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = now + self.config.alerts.heartbeat_s
        if self._watchdog_s is not None and now - self._last_watchdog >= self._watchdog_s:
            sdnotify.notify("WATCHDOG=1", self.env)
            self._last_watchdog = now

    def _acquire(self) -> None:
        step = self._inlet.step(PULL_TIMEOUT_S)
        if step.event == "connected":
            self._on_connected(step.detail)
        elif step.event == "lost":
            self._on_lost(step.detail)
        elif step.event == "restored":
            self._on_restored(step.detail)
        elif step.event == "rejected":
            self._metrics.error("stream_rejected")
            self._set_status(f"waiting for stream {self._inlet.spec.describe()} (rejected: {step.detail})")
        if step.n_samples and self.pipeline is not None and self._inlet.state == "connected":
            assert step.samples is not None and step.timestamps is not None  # n_samples > 0
            self._process(step.samples, step.timestamps)

    # ----------------------------------------------------------------------------- stream events
    def _new_pipeline(self) -> bool:
        """Build the pipeline for the open stream; on failure reject the stream and return False."""
        from realtime.messages import Envelope
        from realtime.pipeline import Pipeline

        meta = self._meta
        try:
            self.pipeline = Pipeline(
                self.detector,
                sfreq=meta.sfreq,
                ch_names=meta.ch_names,
                # no unit metadata at all: every unit is empty, read as µV and reported (channels_detail)
                units=meta.units if meta.units is not None else ("",) * meta.n_channels,
                types=meta.types,
                window=self.config.window,
                decision=self.config.decision,
                channels=self.config.stream.channels,
                include=self.config.stream.include,
                exclude=self.config.stream.exclude,
                mode="live",
                signal=self.config.signal,
            )
        except ValueError as exc:  # unknown unit, missing channels, window too long for the buffer
            log.error("cannot score stream %r: %s; waiting for another stream", meta.name, exc)
            self._metrics.error("stream_rejected")
            self._inlet.reject(str(exc))
            self.pipeline = None
            self._set_status(f"waiting for stream {self._inlet.spec.describe()} (rejected {meta.name}: {exc})")
            return False
        self._layout = meta.layout()
        self._pipeline.decision.continue_event_ids(self._last_event_id)  # ids never repeat (log, old pipelines)
        left_out = self._pipeline.left_out_channels
        for name, why in left_out.items():
            log.warning("stream %s: channel %r left out: %s", meta.name, name, why)
        self._quality_sent, self._quality_sent_at = (), -math.inf
        self._clock_pending: list[Any] = []  # clock events not yet published (status.signal "clock")
        self._clock_sent_at = -math.inf
        self.envelope = Envelope.of(meta, host=self._host, model_version=self._envelope.model_version)
        if self._stream_label != meta.name:
            self._metrics.stream_connected.labels(stream=self._stream_label).set(0)
            self._stream_label = meta.name
            self._metrics.init_stream(meta.name)
        self._metrics.channels_excluded.labels(stream=meta.name).set(len(left_out))
        self._metrics.decision_settling.labels(stream=meta.name).set(1)
        return True

    def _channels_detail(self) -> str:
        """``scoring 19 of 27 channels; left out: DC1-DC (label 'DC1-DC' names ...); ...``"""
        return self._pipeline.channels_detail()

    def _on_connected(self, detail: str) -> None:
        from realtime.messages import signal_message

        self._inlet.lock_source = self.config.stream.lock_source  # from now on, keep this device (or not)
        if not self._new_pipeline():
            return
        meta = self._meta
        self._metrics.stream_connected.labels(stream=self._stream_label).set(1)
        channels = self._channels_detail()
        self._publish(
            signal_message(self._envelope, time=self._lsl_now(), state="connected", detail=f"{detail}; {channels}")
        )
        self._set_status(
            f"connected to {meta.name} ({meta.sfreq:g} Hz, {meta.n_channels} channels, "
            f"scoring {len(self._pipeline.ch_names)})"
        )

    def _on_lost(self, detail: str) -> None:
        from realtime.messages import signal_message

        self._metrics.stream_connected.labels(stream=self._stream_label).set(0)
        self._metrics.seizure_probability.labels(stream=self._stream_label).set(math.nan)  # nothing is scored
        self._metrics.channels_scored.labels(stream=self._stream_label).set(0)
        if self.pipeline is not None:
            self._flush_clock_reports(force=True)
            self._pipeline.reset()
            self._metrics.buffer_fill_ratio.labels(stream=self._stream_label).set(0)
        self._publish(signal_message(self._envelope, time=self._lsl_now(), state="lost", detail=detail))
        self._set_status(f"lost stream {self._stream_label} ({detail}); reconnecting")

    def _on_restored(self, detail: str) -> None:
        from realtime.messages import offset_message, signal_message

        meta = self._meta
        device = (meta.name, meta.type, meta.source_id)
        other_device = device != tuple(self._envelope.stream[k] for k in ("name", "type", "source_id"))
        if self.pipeline is None or meta.layout() != self._layout or other_device:
            if self.pipeline is not None:
                log.warning(
                    "stream %s came back %s; closing an open event and starting a new pipeline",
                    meta.name,
                    f"from another device (source_id {meta.source_id!r}, was {self._envelope.stream['source_id']!r})"
                    if other_device
                    else "with a different layout",
                )
                for ev in self._pipeline.flush():  # close an open event of the old layout honestly
                    if not math.isfinite(ev.probability):  # the buffers were dropped when it was lost
                        ev = dataclasses.replace(ev, probability=self._last_probability)
                        log.warning(
                            "offset of event %d: no window since the loss; probability is the last one scored (%.3f)",
                            ev.event_id,
                            ev.probability,
                        )
                    self._publish(offset_message(ev, self._envelope))
            was = self._envelope.stream["source_id"]
            if not self._new_pipeline():  # the envelope now names the device whose samples come
                return
            if other_device:
                detail += f"; another device: source_id {meta.source_id!r} on {meta.hostname} (was {was!r})"
            detail = f"{detail}; {self._channels_detail()}"  # another layout: say again which channels count
        self._metrics.stream_reconnects.labels(stream=self._stream_label).inc()
        self._metrics.stream_connected.labels(stream=self._stream_label).set(1)
        self._publish(signal_message(self._envelope, time=self._lsl_now(), state="restored", detail=detail))
        self._set_status(
            f"connected to {meta.name} ({meta.sfreq:g} Hz, {meta.n_channels} channels) "
            f"after reconnect #{self._inlet.reconnects}"
        )

    # ----------------------------------------------------------------------------- windows
    def _process(self, samples: np.ndarray, timestamps: np.ndarray) -> None:
        import pylsl

        from realtime.messages import window_messages

        label = self._stream_label
        m = self._metrics
        try:
            clock_events = self._pipeline.push(samples, timestamps)
        except Exception as exc:
            m.error("chunk")
            self._errors.error("chunk", "dropped a chunk of %d samples from %s: %s", len(timestamps), label, exc)
            return
        self._report_clock(clock_events)
        m.samples_received.labels(stream=label).inc(len(timestamps))
        m.buffer_fill_ratio.labels(stream=label).set(self._pipeline.buffer_fill_ratio)
        try:
            results = self._pipeline.step()
        except Exception as exc:
            m.error("inference")
            self._errors.error("inference", "scoring a window of %s failed: %s", label, exc)
            return
        for res in results:
            self.windows_total += 1
            m.windows_processed.labels(stream=label).inc()
            m.last_window_timestamp.labels(stream=label).set(time.time())
            m.seizure_probability.labels(stream=label).set(res.probability)  # NaN: no channel scored
            if math.isfinite(res.probability):
                self._last_probability = float(res.probability)
            m.channels_scored.labels(stream=label).set(int(np.isfinite(res.channel_probabilities).sum()))
            m.channels_left_out.labels(stream=label).set(len(res.flagged_channels))
            m.channels_amplitude_atypical.labels(stream=label).set(len(res.amplitude_flags))
            self._check_quality(res.flagged_channels, res.amplitude_flags)
            if res.skipped_before:
                self._errors.error(
                    "behind",
                    "%s: fell behind, skipped %d window(s) to score the newest",
                    label,
                    res.skipped_before,
                    exc_info=False,
                    level=logging.WARNING,
                )
            try:
                messages = window_messages(res, self._envelope, self._pipeline.unique_ch_names)
            except Exception as exc:
                m.error("internal")
                self._errors.error(
                    "message", "could not build the messages of events %s: %s", [ev.kind for ev in res.events], exc
                )
                messages = []
            for ev, msg in zip(res.events, messages, strict=False):
                self._publish(msg)
                if ev.kind == "onset":
                    log.warning(
                        "SEIZURE ONSET on %s: event %d, p=%.2f, channels %s",
                        label,
                        ev.event_id,
                        ev.probability,
                        msg["channels"],
                    )
                    self._set_status(f"ALARM on {label}: seizure event {ev.event_id} (p={ev.probability:.2f})")
                else:
                    log.warning("seizure offset on %s: event %d after %.1f s", label, ev.event_id, ev.duration_s)
                    self._set_status(f"connected to {label}; last seizure event {ev.event_id} ended")
            m.alarm_active.labels(stream=label).set(1 if self._pipeline.alarm_active else 0)
            m.decision_settling.labels(stream=label).set(1 if self._pipeline.decision.settling else 0)
            # on the stream's clock before any jump (offset_total_s): a source set back an hour is not an hour late
            newest = res.newest_sample_time - self._pipeline.clock.offset_total_s
            m.end_to_end_latency.labels(stream=label).observe(max(0.0, pylsl.local_clock() - newest))
        self._flush_clock_reports()

    def _report_clock(self, events: list[Any]) -> None:
        """What the sample clock found in a chunk's timestamps (:class:`realtime.clock.ClockEvent`): a jump is
        logged (WARNING, rate-limited), counted (``clock_jumps_total``) and published (``status.signal``
        ``clock``, at most one per ``QUALITY_HOLD_S``); a gap (samples lost: the decision settles again) is
        logged as a warning, a small step back at INFO."""
        label = self._stream_label
        for ev in events:
            if ev.kind == "jump":
                self._metrics.clock_jumps.labels(stream=label).inc()
                self._clock_pending.append(ev)
                self._errors.error(
                    "clock",
                    "%s: %s; decisions keep the sample clock, message times follow the stream's clock",
                    label,
                    ev.describe(),
                    exc_info=False,
                    level=logging.WARNING,
                )
            elif ev.kind == "gap":
                self._errors.error(
                    "clock_gap",
                    "%s: %s; no onset arms for decision.settle_s",
                    label,
                    ev.describe(),
                    exc_info=False,
                    level=logging.WARNING,
                )
            else:
                self._errors.error("clock_step", "%s: %s", label, ev.describe(), exc_info=False, level=logging.INFO)
        self._flush_clock_reports()

    def _flush_clock_reports(self, force: bool = False) -> None:
        """Publish the clock jumps not yet published (one ``status.signal`` ``clock`` for all of them), unless
        one was published less than ``QUALITY_HOLD_S`` ago (``force``: now, e.g. before ``lost``)."""
        pending = getattr(self, "_clock_pending", [])
        now = time.monotonic()
        if not pending or (not force and now - self._clock_sent_at < QUALITY_HOLD_S):
            return
        from realtime.messages import signal_message

        last = pending[-1]
        detail = last.describe()
        if len(pending) > 1:
            total = sum(ev.offset_s for ev in pending)
            detail = f"{len(pending)} clock jumps ({total:+.3f} s in all), the last: {detail}"
        detail += "; decisions keep the sample clock, message times follow the stream's clock"
        self._publish(signal_message(self._envelope, time=self._lsl_now(), state="clock", detail=detail))
        self._clock_pending, self._clock_sent_at = [], now

    def _check_quality(self, flagged: Mapping[str, str], amplitude: Mapping[str, str]) -> None:
        """``status.signal`` ``quality`` when the set of channels left out (flat, railed, non-finite, implausible)
        or of channels with an atypical amplitude changes; at most one such message per ``QUALITY_HOLD_S``,
        always ending on the latest state."""
        current = tuple(sorted(flagged.items())) + tuple(sorted(amplitude.items()))
        now = time.monotonic()
        if current == self._quality_sent or now - self._quality_sent_at < QUALITY_HOLD_S:
            return
        from realtime.messages import signal_message

        detail = self._pipeline.quality_detail(flagged, amplitude)
        log.warning("signal quality on %s: %s", self._stream_label, detail)
        self._publish(signal_message(self._envelope, time=self._lsl_now(), state="quality", detail=detail))
        self._quality_sent, self._quality_sent_at = current, now

    # ----------------------------------------------------------------------------- messages
    def _lsl_now(self) -> float:
        import pylsl

        return pylsl.local_clock()

    def _publish(self, message: dict) -> dict | None:
        self._track_event(message)
        try:
            return self._publisher.publish(message)
        except Exception as exc:  # a message the schema refuses is a bug, counted and logged
            self._metrics.error("publish")
            self._errors.error("publish", "could not publish a %s message: %s", message.get("type"), exc)
            return None

    def _heartbeat(self, final: bool = False) -> None:
        from realtime.messages import heartbeat_message

        state = self._inlet.state if self.inlet is not None else "waiting"
        msg = heartbeat_message(
            self._envelope,
            time=self._lsl_now(),
            state=state,
            alarm_active=bool(self.pipeline is not None and self._pipeline.alarm_active),
            windows_total=self.windows_total,
            uptime_s=time.monotonic() - self._started_mono,
            alarm_acknowledged=self._alarm.acknowledged,
        )
        if final:
            msg["final"] = True
        self._publish(msg)

    def _set_status(self, text: str) -> None:
        text = " ".join(text.split())  # one line: a newline would start a new sd_notify assignment
        if text != self._status:
            self._status = text
            log.info("status: %s", text)
            sdnotify.notify(f"STATUS={text}", self.env)

    # ----------------------------------------------------------------------------- alarms
    def _reconcile(self, spec: Any) -> None:
        """At start: event ids continue after the alert log's highest; an event the previous run left open
        (killed, or stopped, during an alarm) is closed with a ``seizure.offset`` ``"reason": "restart"``."""
        from realtime.alarm import lines_newest_first, reconcile_log
        from realtime.messages import Envelope, restart_offset_message

        path = self._publisher.log.path
        t0 = time.monotonic()
        try:
            state = reconcile_log(
                lines_newest_first(path), lambda s: bool(spec.matches(s["name"], s["type"], s["source_id"]))
            )
        except Exception as exc:  # an unreadable log must not keep the detector from starting
            self._metrics.error("alert_log")
            log.error(
                "could not read the alert log %s to reconcile it: %s; event ids restart at 1 and may repeat", path, exc
            )
            return
        self._last_event_id = max(self._last_event_id, state.last_event_id)
        log.info(
            "alert log %s: event ids continue after %d; %s (read in %.2f s)",
            path,
            self._last_event_id,
            f"event {state.open_onset['event_id']} was left open" if state.open_onset else "no event left open",
            time.monotonic() - t0,
        )
        onset = state.open_onset
        if onset is None:
            return
        end = state.last_time if state.last_time is not None else float(onset["time"])
        probability = state.probability if state.probability is not None else float(onset["probability"])
        env = Envelope.of(onset["stream"], host=self._host, model_version=self._envelope.model_version)
        msg = restart_offset_message(
            env, event_id=int(onset["event_id"]), onset_time=float(onset["time"]), time=end, probability=probability
        )
        log.warning(
            "seizure event %d on %s was still open when the previous run ended (last logged %.1f s after its "
            "onset): closing it with a seizure.offset, reason 'restart'; a seizure that goes on raises a new "
            "onset (event %d)",
            onset["event_id"],
            env.stream["name"],
            msg["duration_s"],
            self._last_event_id + 1,
        )
        self._publish(msg)

    def _track_event(self, message: Mapping[str, Any]) -> None:
        """Follow onsets and offsets on their way out: the open event, the event ids used, the ack gauge."""
        kind, eid = message.get("type"), message.get("event_id")
        if kind not in ("seizure.onset", "seizure.offset") or not isinstance(eid, int):
            return
        self._last_event_id = max(self._last_event_id, eid)
        if kind == "seizure.onset":
            self._alarm.opened(eid, float(message["time"]), time.monotonic())
        else:
            self._alarm.closed(eid)
        if self.metrics is not None:
            self._metrics.alarm_acknowledged.labels(stream=self._stream_label).set(0)

    def _alarm_duties(self) -> None:
        """Answer acknowledgement requests; re-announce an open, unacknowledged event when it is due."""
        from realtime.messages import reannounce_message

        for req in self._publisher.pending_acks():
            self._answer_ack(req)
        count = self._alarm.due_reannounce(time.monotonic())
        ev = self._alarm.open
        if count is None or ev is None:
            return
        label = self._stream_label
        log.warning(
            "seizure event %d on %s is not acknowledged: re-announcement %d (open %.0f s, p=%.2f)",
            ev.event_id,
            label,
            count,
            max(0.0, self._lsl_now() - ev.onset_time),
            self._last_probability,
        )
        self._publish(
            reannounce_message(
                self._envelope,
                time=self._lsl_now(),
                event_id=ev.event_id,
                count=count,
                onset_time=ev.onset_time,
                probability=self._last_probability,
            )
        )
        self._metrics.reannouncements.labels(stream=label).inc()

    def _answer_ack(self, req: AckRequest) -> None:
        """One acknowledgement: accepted once (logged, ``seizure.ack`` published, counted), else answered."""
        from realtime.messages import ack_message

        try:
            outcome = self._alarm.acknowledge(req.event_id, req.by, req.note, time.time())
            if outcome.accepted:
                label = self._stream_label
                log.info(
                    "seizure event %d on %s acknowledged by %s%s",
                    req.event_id,
                    label,
                    req.by,
                    f": {req.note}" if req.note else "",
                )
                self._publish(
                    ack_message(
                        self._envelope,
                        time=self._lsl_now(),
                        event_id=req.event_id,
                        by=req.by,
                        note=req.note,
                        ack_time=outcome.reply["ack_time"],
                    )
                )
                self._metrics.acks.labels(stream=label).inc()
                self._metrics.alarm_acknowledged.labels(stream=label).set(1)
                self._set_status(f"ALARM on {label}: seizure event {req.event_id} acknowledged by {req.by}")
            reply = outcome.reply
        except Exception as exc:  # a bug here must not stop the loop, nor leave the client waiting
            self._metrics.error("internal")
            self._errors.error("ack", "acknowledgement %r failed: %s", req, exc)
            reply = {"error": f"internal error: {exc}"}
        if not req.reply.done():
            try:
                req.reply.set_result(reply)
            except Exception:  # cancelled meanwhile (the client gave up): nothing to answer
                log.debug("acknowledgement reply not delivered", exc_info=True)

    # ----------------------------------------------------------------------------- reload
    def reload(self) -> bool:
        """SIGHUP: apply the reloadable settings of the config file; log the rest. True if applied."""
        try:
            new, sources = apply_model_settings(
                load_config(self.config_path, self.overrides),
                self.detector.settings if self.detector is not None else {},
            )
        except ConfigError as exc:
            self._metrics.error("config")
            log.error("reload ignored, the configuration is invalid:\n  - %s", "\n  - ".join(exc.errors))
            return False
        old = self.config
        applied: list[str] = []
        ignored: list[str] = []
        for name in SECTION_NAMES:
            a, b = getattr(old, name), getattr(new, name)
            for f in dataclasses.fields(a):
                va, vb = getattr(a, f.name), getattr(b, f.name)
                if va == vb:
                    continue
                keys = RELOADABLE.get(name, ())
                ok = name in RELOADABLE and (keys is None or f.name in keys)
                (applied if ok else ignored).append(f"{name}.{f.name}: {va!r} -> {vb!r}")
        for item in ignored:
            log.warning("reload: %s needs restart; ignored", item)
        # Keep what needs a restart as it was; take the rest.
        keep = {s: getattr(old, s) for s in ("window", "signal", "model", "metrics")}
        stream = dataclasses.replace(
            old.stream, stale_after_s=new.stream.stale_after_s, resolve_timeout_s=new.stream.resolve_timeout_s
        )
        alerts = dataclasses.replace(
            old.alerts, heartbeat_s=new.alerts.heartbeat_s, reannounce_s=new.alerts.reannounce_s
        )
        self._alarm.set_interval(new.alerts.reannounce_s)
        self.config = dataclasses.replace(new, stream=stream, alerts=alerts, **keep)
        self.setting_sources.update({k: v for k, v in sources.items() if k.startswith("decision.")})
        if self.pipeline is not None and new.decision != old.decision:
            self._pipeline.reconfigure(new.decision)
        if self.inlet is not None:
            self._inlet.stale_after_s = new.stream.stale_after_s
            self._inlet.resolve_timeout_s = new.stream.resolve_timeout_s
        if new.logging.level != old.logging.level:
            logging.getLogger().setLevel(new.logging.level.upper())
        self._next_heartbeat = min(self._next_heartbeat, time.monotonic() + self.config.alerts.heartbeat_s)
        log.info(
            "reloaded %s: %s",
            self.config_path or "(no config file)",
            "; ".join(applied) if applied else "no reloadable change",
        )
        return True

    # ----------------------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Final heartbeat, close sockets and the metrics endpoint (idempotent)."""
        sdnotify.notify("STOPPING=1", self.env)
        self._set_status("stopping")
        if self.inlet is not None:
            self._inlet.close()
        if self.publisher is not None:
            try:
                self._heartbeat(final=True)
            finally:
                self._publisher.close(flush_s=0.3)
                self.publisher = None
        if self.metrics is not None:
            self._metrics.close()
        log.info("stopped after %d windows", self.windows_total)


def log_settings(cfg: Config, sources: Mapping[str, str], logger: logging.Logger = log) -> None:
    """Log at start which value each model-specific setting took and where it came from."""
    logger.info("model settings: %s", describe_settings(cfg, sources))


def run_daemon(
    config: Config, *, config_path: str | Path | None, overrides: Mapping[str, Any], duration_s: float | None = None
) -> int:
    """Start and run a daemon with signal handlers; returns the process exit code."""
    daemon = Daemon(config, config_path=config_path, overrides=overrides)
    daemon.install_signal_handlers()  # before the (slow) model load, so a TERM then is not fatal
    try:
        daemon.start()
    except StartupError as exc:
        log.error("%s", exc)
        sdnotify.notify(f"STATUS=failed: {exc}", daemon.env)
        return exc.exit_code
    if daemon._stop_requested:
        daemon._log_stop()
        daemon.shutdown()
        return EX_OK
    return daemon.run(duration_s)
