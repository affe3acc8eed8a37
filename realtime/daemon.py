"""The daemon: wiring and the run loop (one process, one bed or several: :mod:`realtime.bed`).

Start-up, in this order, before ``READY=1``: load the model (``realtime.model.load_detector``,
which logs backend and device) and warm it up; take the model card's settings
(:func:`realtime.config.apply_model_settings`: default < card < config file < flag) and log the
effective decision and amplitude settings with where each came from; bind the alert sockets and
open the alert log; serve the metrics; reconcile the alert log (:mod:`realtime.alarm`: event ids continue
after its highest; an event a killed or stopped run left open is closed with a ``seizure.offset``
``"reason": "restart"``, logged as a WARNING; each bed by its stream, the log read once for all the beds:
:meth:`Daemon.reconcile_beds`). Then the loop, one iteration at a time,
on the main thread, for every bed (:class:`realtime.bed.Bed`: ``[[beds]]``, ``--stream`` repeated, discovery
by ``--type``; or the one bed of ``[stream]``):

- no inlet open: one resolve attempt (``stream.resolve_timeout_s``), ``STATUS=waiting for ...``;
- a stream connects: the pipeline picks its EEG channels (:mod:`realtime.channels`: labels, units,
  LSL channel types, ``stream.include``/``exclude``/``channels``); every channel left out is logged
  (WARNING) with its reason and named in the ``status.signal`` ``connected`` message's detail (and
  in the ``restored`` one when the stream comes back with another layout);
- inlet open: one ``pull_chunk`` for the samples the bed's next window needs (one bed: it waits for them at
  most 0.1 s; several: none waits, a bed is pulled once they are there or ``realtime.inlet.MAX_DEFER_S`` after
  its last pull, and when no bed had samples the loop sleeps ``IDLE_WAIT_S``; a resolve attempt does not wait
  either) -> ``Pipeline.push`` ->
  ``Pipeline.prepare``; then every bed's due windows in one batched ``predict``
  (:func:`realtime.pipeline.predict_batched`; the beds catching up, more than ``CATCHING_UP_WINDOWS`` due, in a
  second call after the others have decided) -> ``Pipeline.complete`` per window -> metrics, and the decision
  events as ``seizure.onset`` / ``seizure.offset`` messages through the :class:`realtime.alerts.Publisher`
  (with ``alerts.publish_windows``, then a ``status.window`` per window: sent, not logged, no ``seq``);
  an unexpected error in one bed is logged, counted (``kind="bed"``), that bed reset, the others go on;
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
  ``alerts.heartbeat_s``, ``alerts.reannounce_s``, ``alerts.publish_windows``, ``logging.level``,
  ``stream.stale_after_s`` and
  ``stream.resolve_timeout_s`` take effect at once without touching the stream; every other changed
  setting (stream identity, window, model, endpoints, log path, metrics) is logged as
  "needs restart" and ignored. Beds are added and removed (a removed bed's open event is closed with a
  ``seizure.offset`` ``"reason": "bed_removed"``), ``[discover]`` too: a discovered bed the new settings would
  not give the same label (``discover.beds``, ``discover.type``, discovery off), or whose stream is lost, is
  removed the same way, and discovery finds its stream again under the new rules. An invalid file is logged
  with all its errors and ignored.

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
from realtime.bed import QUALITY_HOLD_S  # noqa: F401  (re-exported: the rate limit of quality and clock reports)
from realtime.config import (
    SECTION_NAMES,
    BedConfig,
    Config,
    ConfigError,
    DiscoverConfig,
    apply_model_settings,
    config_to_dict,
    describe_settings,
    load_config,
    montage_warning,
    static_beds,
    unused_stream_flags,
)
from realtime.levels import SAVE_EVERY_S, LevelStore, levels_path

if TYPE_CHECKING:  # the heavy modules are imported in start(), not at import time
    from realtime.alerts import AckRequest, Publisher
    from realtime.bed import Bed
    from realtime.inlet import Inlet
    from realtime.messages import Envelope
    from realtime.metrics import Metrics
    from realtime.model import Detector
    from realtime.pipeline import DueWindow, Pipeline

log = logging.getLogger("realtime.daemon")

# the beds' phases over the hop (Daemon.next_phase): multiples of 1/golden ratio, modulo 1
GOLDEN_FRACTION = (5**0.5 - 1) / 2

EX_OK = 0
EX_USAGE = 2
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78

PULL_TIMEOUT_S = 0.1  # one bed: a pull waits this long for samples
IDLE_WAIT_S = 0.01  # several beds: no pull waits; when no bed had samples, the loop sleeps this long
DISCOVER_EVERY_S = 1.0  # discovery (discover.type) looks for new streams this often
# a bed with more windows due in one tick is catching up (a burst after its device or the network stalled, a backlog
# in the inlet): its windows go to the model after every current bed's, so that it never delays another bed's alarm
CATCHING_UP_WINDOWS = 4
# [stream]'s stream identity and channel choice: a daemon of [[beds]] takes them from each bed instead.
BED_STREAM_KEYS = ("name", "type", "source_id", "channels", "include", "exclude")
# Settings a SIGHUP applies in place; any other change needs a restart.
RELOADABLE = {
    "decision": None,
    "alerts": ("heartbeat_s", "reannounce_s", "publish_windows"),
    "logging": None,
    "stream": ("stale_after_s", "resolve_timeout_s", "patient"),
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
        self.precision: str = str(getattr(detector, "precision", "float32"))
        self.settings: Mapping[str, Mapping[str, Any]] = getattr(detector, "settings", None) or {}

    def predict(self, windows_uv: np.ndarray) -> np.ndarray:
        """``windows_uv [n, window_samples]`` µV -> ``[n]`` p(seizure), timed."""
        t0 = time.perf_counter()
        out = self._detector.predict(windows_uv)
        self._observe(time.perf_counter() - t0)
        return out

    def warmup(self, batch_sizes: tuple[int, ...] | None = None) -> None:
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
    """The detector of one or several beds. ``start()`` then ``run()``; or ``iterate()`` by hand in tests.

    The beds (:class:`realtime.bed.Bed`) are those of the configuration (:func:`realtime.config.static_beds`:
    ``[[beds]]``, or the one bed of ``[stream]``), plus, with ``discover.type``, one per stream of that type
    as it appears. With one bed, ``pipeline``, ``inlet``, ``envelope`` are that bed's (as before there were
    several).
    """

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

        from realtime.bed import Bed

        self.config: Config = config  # effective: with the model card's settings once start() has loaded it
        self.config_path: str | Path | None = config_path
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self._detector: Detector | None = detector
        self.detector: TimedDetector | None = None
        self.metrics: Metrics | None = None
        self.publisher: Publisher | None = None
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
        self.host: str = socket.gethostname()
        self.model_version: str = str(getattr(detector, "model_version", ""))
        self.windows_total: int = 0  # windows scored, every bed
        self._last_event_id: int = 0  # highest event id used (the alert log's at start); the next onset is above
        # label -> bed, in the order they came (the unlabelled bed of [stream] has the label "")
        self._beds_made = 0  # beds created so far: each takes the next phase (next_phase)
        self.beds: dict[str, Bed] = {b.bed: Bed(self, b) for b in static_beds(config)}
        self._discovery: Any = None  # realtime.inlet.StreamDiscovery with discover.type
        self._next_discovery: float = 0.0
        self._undiscoverable: set[str] = set()  # uids of streams of the type without a source id (warned once)
        # the scaler's levels kept across a restart (realtime.levels), beside the alert log; None: scaling off
        self._levels: LevelStore | None = None
        self._next_levels_save: float = 0.0
        self._levels_error: str | None = None  # the last failure to write them, logged once

    def next_phase(self) -> float:
        """The phase (a fraction of the hop) of the next bed created: 0, 0.618, 0.236, 0.854 ... (the golden
        ratio's multiples: however many beds there are, they stay spread evenly over the hop)."""
        phase = (self._beds_made * GOLDEN_FRACTION) % 1.0
        self._beds_made += 1
        return phase

    # The parts start() provides; an error before then.
    @property
    def _metrics(self) -> Metrics:
        return _started(self.metrics, "metrics")

    @property
    def _publisher(self) -> Publisher:
        return _started(self.publisher, "publisher")

    @property
    def _host(self) -> str:
        return self.host

    # The one bed's parts (with several, the first one's): what a daemon of one bed exposed before.
    @property
    def _bed(self) -> Bed:
        if not self.beds:
            raise RuntimeError("the daemon has no bed (yet)")
        return next(iter(self.beds.values()))

    @property
    def pipeline(self) -> Pipeline | None:
        return self._bed.pipeline if self.beds else None

    @pipeline.setter
    def pipeline(self, value: Pipeline | None) -> None:
        self._bed.pipeline = value

    @property
    def inlet(self) -> Inlet | None:
        return self._bed.inlet if self.beds else None

    @property
    def envelope(self) -> Envelope | None:
        return self._bed.envelope if self.beds else None

    @envelope.setter
    def envelope(self, value: Envelope | None) -> None:
        self._bed.envelope = value

    @property
    def _alarm(self) -> AlarmTracker:
        return self._bed.alarm

    @property
    def _stream_label(self) -> str:
        return self._bed.stream_label

    def _process(self, samples: np.ndarray, timestamps: np.ndarray) -> None:
        """Push a chunk into the (first) bed and score the windows due (tests drive a bed by hand this way)."""
        bed = self._bed
        due = bed.push(samples, timestamps)
        self._score([(bed, due)] if due else [])
        bed.flush_clock_reports()

    # ----------------------------------------------------------------------------- start-up
    def start(self) -> None:
        """Load and warm the model, bind sockets, serve metrics, then ``READY=1``.

        Raises :class:`StartupError` with the exit code for a model or socket that is unavailable.
        """
        import realtime.pipeline  # noqa: F401  (imported now, not on the first connection: scipy takes a second)
        from realtime.alerts import Publisher, PublisherConfigError, default_log_path
        from realtime.metrics import Metrics

        cfg = self.config
        log.info("starting; configuration: %s", config_to_dict(cfg))
        self.metrics = Metrics()
        if self._detector is None:
            from realtime.model import ModelLoadError, load_detector

            try:
                loaded = load_detector(
                    cfg.model.path or None,
                    backend=cfg.model.backend,
                    device=cfg.model.device,
                    threads=cfg.model.threads,
                    batch_windows=cfg.model.batch_windows,
                    precision=cfg.model.precision,
                )
                loaded.warmup()  # every batch size it will run at: its memory is flat from here
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
        self.model_version = str(det.model_version)
        try:
            self.config, self.setting_sources = apply_model_settings(
                cfg, self.detector.settings, window_s=det.window_samples / det.sample_rate_hz
            )
        except ConfigError as exc:
            raise StartupError(f"the configuration does not fit the model: {exc}", EX_CONFIG) from exc
        cfg = self.config
        log_settings(cfg, self.setting_sources)
        for warning in (montage_warning(cfg, self.detector.settings), unused_stream_flags(cfg)):
            if warning:
                log.warning("%s", warning)
        self._metrics.set_model_info(
            model_version=str(det.model_version),
            architecture=self.detector.architecture,
            backend=str(det.backend),
            device=str(det.device),
            precision=self.detector.precision,
        )
        for bed in self.beds.values():
            bed.open()
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
        self.reconcile_beds(list(self.beds.values()))  # one reading of the log for every bed
        if cfg.signal.background_limit_uv > 0:
            self._levels = LevelStore(levels_path(log_path), cfg.signal.amplitude_span_s)
            if warning := self._levels.load():
                log.warning("%s; every bed waits for its own background history", warning)
            self._next_levels_save = time.monotonic() + SAVE_EVERY_S
        self._start_discovery()
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
            self._describe_beds(),
        )
        sdnotify.notify("READY=1", self.env)
        for bed in self.beds.values():
            bed.set_status(f"waiting for stream {bed.spec.describe()}")
        if not self.beds:
            self._set_status(f"waiting for streams of type {cfg.discover.type!r}")

    def _describe_beds(self) -> str:
        if self.config.discover.type:
            return f"every stream of type {self.config.discover.type!r} (a bed each, by source id)"
        if len(self.beds) == 1 and not self._bed.label:
            return self._bed.spec.describe()
        return f"{len(self.beds)} beds: " + "; ".join(b.describe() for b in self.beds.values())

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
        """One loop iteration: discover, then resolve or pull for every bed and score every due window in one
        batched model call; acknowledgements, re-announcements, heartbeats, reload, watchdog."""
        if self._reload_requested:
            self._reload_requested = False
            log.info("received SIGHUP: reloading %s", self.config_path or "(no config file)")
            try:
                self.reload()
            except Exception as exc:  # a bug in applying a valid file must not stop the beds' detection
                self._metrics.error("config")
                self._errors.error(
                    "reload", "reload failed part-way: %s; some of the file's settings may not be in force", exc
                )
        self._discover()
        self._tick()
        self._alarm_duties()
        now = time.monotonic()
        if self._levels is not None and now >= self._next_levels_save:
            self._save_levels()
            self._next_levels_save = now + SAVE_EVERY_S
        if now >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = now + self.config.alerts.heartbeat_s
        if self._watchdog_s is not None and now - self._last_watchdog >= self._watchdog_s:
            sdnotify.notify("WATCHDOG=1", self.env)
            self._last_watchdog = now

    @property
    def _several(self) -> bool:
        """Several beds (or discovery): no resolve or pull may wait for one bed while another has data."""
        return len(self.beds) > 1 or self._discovery is not None

    def _tick(self) -> None:
        """Every bed: one resolve attempt or one pull (none waits when there are several beds; then, when no bed
        had samples, one short sleep); every bed's due windows scored in one batched model call."""
        several = self._several
        pull_s, resolve_s = (0.0, 0.0) if several else (PULL_TIMEOUT_S, None)
        gathered = []
        pulled = 0
        for bed in list(self.beds.values()):
            try:
                due = bed.acquire(pull_s, resolve_s)
            except Exception as exc:
                self._bed_failed(bed, exc)
                continue
            pulled += bed.pulled
            if due:
                gathered.append((bed, due))
        self._score(gathered)
        for bed in self.beds.values():
            if bed.pipeline is not None:
                bed.flush_clock_reports()
        if several and not pulled:
            time.sleep(IDLE_WAIT_S)

    def _score(self, gathered: list[tuple[Bed, list[DueWindow]]]) -> None:
        """One batched model call for the due windows of every bed that is current, each bed then deciding on its
        own; the beds catching up (more than :data:`CATCHING_UP_WINDOWS` due) in a second call after them, so that
        a burst on one bed delays no other bed's alarm, and a call that fails costs only its own beds' windows. When
        more beds are behind than current, the loop itself is behind (at capacity): one call for all, which batches
        best (a second call there cost capacity: docs/benchmarks.md "A bed catching up")."""
        current = [(bed, due) for bed, due in gathered if len(due) <= CATCHING_UP_WINDOWS]
        behind = [(bed, due) for bed, due in gathered if len(due) > CATCHING_UP_WINDOWS]
        if not current or len(behind) > len(current):  # none current, or the loop itself behind: one call for all
            self._score_call(gathered)
            return
        for group in (current, behind):
            if group:
                self._score_call(group)

    def _score_call(self, gathered: list[tuple[Bed, list[DueWindow]]]) -> None:
        """One batched model call for ``gathered``'s windows; each bed then decides on its own."""
        from realtime.pipeline import predict_batched

        try:
            probs = predict_batched(self.detector, [w.inputs for _, due in gathered for w in due])
        except Exception as exc:
            self._metrics.error("inference")
            beds = ", ".join(bed.stream_label for bed, _ in gathered)
            self._errors.error("inference", "scoring the windows of %s failed: %s", beds, exc)
            return
        i = 0
        for bed, due in gathered:
            mine, i = probs[i : i + len(due)], i + len(due)
            try:
                bed.finish(due, mine)
            except Exception as exc:
                self._bed_failed(bed, exc)

    def _bed_failed(self, bed: Bed, exc: Exception) -> None:
        """An unexpected error in one bed: logged (rate-limited, with its traceback), counted
        (``errors_total{kind="bed"}``), that bed reset; the other beds go on."""
        self._metrics.error("bed")
        self._errors.error(f"bed:{bed.label}", "%s failed: %s; its buffers are reset", bed.stream_label, exc)
        try:
            bed.reset_after_error()
        except Exception:  # a bed that cannot even be reset stays as it is; the others go on
            log.debug("resetting %s failed", bed.stream_label, exc_info=True)

    # ----------------------------------------------------------------------------- beds come and go
    def _start_discovery(self) -> None:
        """Discover the streams of ``discover.type`` from the next iteration on (a new resolver), or none without
        it (at start; on a reload that switches discovery on or off or changes the type)."""
        if self._discovery is not None:
            self._discovery.close()
        self._discovery = None
        if self.config.discover.type:
            from realtime.inlet import StreamDiscovery

            self._discovery = StreamDiscovery(self.config.discover.type)
            self._next_discovery = 0.0

    def _discover(self) -> None:
        """With ``discover.type``: every stream of that type not yet a bed becomes one (keyed by source id,
        labelled by ``discover.beds``), at most once per ``DISCOVER_EVERY_S``."""
        if self._discovery is None:
            return
        now = time.monotonic()
        if now < self._next_discovery:
            return
        self._next_discovery = now + DISCOVER_EVERY_S
        from realtime.config import BedConfig

        known = {b.spec.source_id for b in self.beds.values()}
        labels = set(self.beds)
        new: list[tuple[Any, str]] = []  # every stream found now: one reading of the alert log for all
        dc = self.config.discover
        try:
            found = self._discovery.streams()
        except Exception as exc:
            self._metrics.error("stream")
            self._errors.error("discover", "discovering streams of type %r failed: %s", dc.type, exc)
            return
        for info in found:
            sid = info.source_id()
            if not sid:
                if info.uid() not in self._undiscoverable:
                    self._undiscoverable.add(info.uid())
                    log.warning(
                        "stream %r (type %r on %s) has no source id: discovery keys beds by source id, so it is "
                        "not made a bed; give the device a source id, or list it in [[beds]]",
                        info.name(),
                        info.type(),
                        info.hostname(),
                    )
                continue
            if sid in known:
                continue
            label = dc.label(sid)
            if label in labels:  # a bed label the map gives twice, or a stream's source id equal to a label
                label = sid
            bed = BedConfig(bed=label, type=dc.type, source_id=sid, patient=dc.patient(sid))
            new.append((bed, f"discovered {info.name()!r}"))
            known.add(sid)
            labels.add(label)
        self._add_beds(new)

    def _add_beds(self, added: list[tuple[Any, str]]) -> None:
        """New beds (``(BedConfig, why)``), opened, then reconciled with the alert log in one reading."""
        from realtime.bed import Bed

        beds = []
        for config, _why in added:
            bed = Bed(self, config)
            self.beds[bed.label] = bed
            bed.open()
            beds.append(bed)
        self.reconcile_beds(beds)
        for bed, (_config, why) in zip(beds, added, strict=True):
            log.info("added %s (%s)", bed.describe(), why)
            bed.set_status(f"waiting for stream {bed.spec.describe()}")

    def reconcile_beds(self, beds: list[Bed]) -> None:
        """Read the alert log once for ``beds`` (:func:`realtime.alarm.reconcile_streams`, each bed by its stream:
        :meth:`realtime.bed.Bed.matches_stream`): event ids continue after the highest seen; an event a previous
        run left open on a bed's stream is closed by that bed (:meth:`realtime.bed.Bed.close_left_open`, in the
        beds' order, none twice: :func:`realtime.alarm.settle_restarts`). An unreadable log is logged and counted
        and does not keep the beds from starting."""
        from realtime.alarm import lines_newest_first, reconcile_streams, settle_restarts

        if not beds:
            return
        path = self._publisher.log.path
        matchers = {bed.label: bed.matches_stream for bed in beds}
        t0 = time.monotonic()
        try:
            needles = {bed.label: bed.log_needle() for bed in beds}  # a bed never logged: not every line parsed
            states = reconcile_streams(lines_newest_first(path), matchers, needles)
        except Exception as exc:  # an unreadable log must not keep the detector from starting
            self._metrics.error("alert_log")
            log.error(
                "could not read the alert log %s to reconcile it: %s; event ids restart at 1 and may repeat", path, exc
            )
            return
        elapsed = time.monotonic() - t0
        self._last_event_id = max(self._last_event_id, *(state.last_event_id for state in states.values()))
        states = settle_restarts(states, matchers)
        several = len(beds) > 1
        left_open = [
            f"event {state.open_onset['event_id']} was left open" + (f" ({bed.describe()})" if several else "")
            for bed in beds
            if (state := states[bed.label]).open_onset is not None
        ]
        log.info(
            "alert log %s%s: event ids continue after %d; %s (read in %.2f s%s)",
            path,
            f" ({beds[0].describe()})" if len(beds) == 1 and beds[0].label else "",
            self._last_event_id,
            "; ".join(left_open) if left_open else "no event left open",
            elapsed,
            f", once for {len(beds)} beds" if len(beds) > 1 else "",
        )
        for bed in beds:
            bed.close_left_open(states[bed.label])

    def _remove_bed(self, label: str, reason: str) -> None:
        bed = self.beds.pop(label)
        meta = bed.inlet.meta if bed.inlet is not None else None
        if bed.state == "lost" and meta is not None and self._discovery is not None:
            self._discovery.forget(meta.uid)  # vanished, yet still listed by the resolver a while: not found again
        bed.remove(reason)
        self._refresh_status()

    # ----------------------------------------------------------------------------- messages
    def _lsl_now(self) -> float:
        import pylsl

        return pylsl.local_clock()

    def _publish(self, message: dict, *, logged: bool = True) -> dict | None:
        """Publish ``message``; ``logged`` False for a ``status.window`` message: sent, not logged, no ``seq``
        (:meth:`realtime.alerts.Publisher.publish_unlogged`). A failure is counted and logged, never raised."""
        try:
            if logged:
                return self._publisher.publish(message)
            return self._publisher.publish_unlogged(message)
        except Exception as exc:  # a message the schema refuses is a bug, counted and logged
            self._metrics.error("publish")
            self._errors.error("publish", "could not publish a %s message: %s", message.get("type"), exc)
            return None

    def _heartbeat(self, final: bool = False) -> None:
        uptime_s = time.monotonic() - self._started_mono
        for bed in self.beds.values():
            bed.heartbeat(uptime_s, final=final)

    def _bed_status_changed(self, bed: Bed) -> None:
        if self._several or bed.label:
            log.info("status of %s: %s", bed.stream_label, bed.status)
        self._refresh_status()

    def _refresh_status(self) -> None:
        """``STATUS=``: the bed's, with one bed; with several, how many are connected, waiting, lost, in alarm."""
        if not self._several and len(self.beds) == 1 and not self._bed.label:
            self._set_status(self._bed.status)
            return
        beds = list(self.beds.values())
        counts = {state: sum(b.state == state for b in beds) for state in ("connected", "waiting", "lost")}
        text = f"{len(beds)} beds: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        alarms = [b.stream_label for b in beds if b.alarm.open is not None]
        if alarms:
            text += "; ALARM on " + ", ".join(alarms)
        self._set_status(text)

    def _set_status(self, text: str) -> None:
        text = " ".join(text.split())  # one line: a newline would start a new sd_notify assignment
        if text != self._status:
            self._status = text
            log.info("status: %s", text)
            sdnotify.notify(f"STATUS={text}", self.env)

    # ----------------------------------------------------------------------------- alarms
    def _alarm_duties(self) -> None:
        """Answer acknowledgement requests; re-announce open, unacknowledged events when due."""
        for req in self._publisher.pending_acks():
            self._answer_ack(req)
        for bed in list(self.beds.values()):
            try:
                bed.reannounce_if_due()
            except Exception as exc:
                self._bed_failed(bed, exc)

    def _answer_ack(self, req: AckRequest) -> None:
        """One acknowledgement: accepted once (logged, ``seizure.ack`` published, counted), else answered. Event
        ids are unique per daemon: the bed whose event is open takes it."""
        from realtime.messages import ack_message

        try:
            bed = next((b for b in self.beds.values() if b.alarm.open and b.alarm.open.event_id == req.event_id), None)
            if bed is None and len(self.beds) == 1:
                bed = self._bed  # its tracker says why not (no event open, another one open)
            if bed is None:
                open_ids = sorted(b.alarm.open.event_id for b in self.beds.values() if b.alarm.open)
                now_open = f"the open events are {open_ids}" if open_ids else "no event is open"
                reply: dict[str, Any] = {"error": f"event {req.event_id!r} is not open ({now_open})"}
                if not (isinstance(req.event_id, int) and not isinstance(req.event_id, bool) and req.event_id >= 1):
                    reply = {"error": f"event_id: expected an integer >= 1, got {req.event_id!r}"}
            else:
                outcome = bed.alarm.acknowledge(req.event_id, req.by, req.note, time.time())
                reply = outcome.reply
                if outcome.accepted:
                    label = bed.stream_label
                    sent = bed.publish(
                        ack_message(
                            bed._envelope,
                            time=self._lsl_now(),
                            event_id=req.event_id,
                            by=req.by,
                            note=req.note,
                            ack_time=outcome.reply["ack_time"],
                        )
                    )
                    if sent is None:  # neither logged nor sent (the error log says why): no station learns of it
                        bed.alarm.withdraw_ack(req.event_id)
                        reply = {
                            "error": f"the acknowledgement of event {req.event_id} could not be logged and published "
                            "(the daemon's log says why); the event stays unacknowledged"
                        }
                    else:
                        log.info(
                            "seizure event %d on %s acknowledged by %s%s",
                            req.event_id,
                            label,
                            req.by,
                            f": {req.note}" if req.note else "",
                        )
                        self._metrics.acks.labels(stream=label).inc()
                        self._metrics.alarm_acknowledged.labels(stream=label).set(1)
                        bed.set_status(f"ALARM on {label}: seizure event {req.event_id} acknowledged by {req.by}")
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
        """SIGHUP: apply the reloadable settings of the config file, add and remove beds, apply ``[discover]``
        (:meth:`_reload_beds`); log the rest. True if applied."""
        try:
            new, sources = apply_model_settings(
                load_config(self.config_path, self.overrides),
                self.detector.settings if self.detector is not None else {},
            )
        except ConfigError as exc:
            if self.metrics is not None:
                self._metrics.error("config")
            log.error("reload ignored, the configuration is invalid:\n  - %s", "\n  - ".join(exc.errors))
            return False
        old = self.config
        applied: list[str] = []
        ignored: list[str] = []
        implicit_bed = not old.beds and not new.beds and not old.discover.type and not new.discover.type
        for name in SECTION_NAMES:
            a, b = getattr(old, name), getattr(new, name)
            for f in dataclasses.fields(a):
                va, vb = getattr(a, f.name), getattr(b, f.name)
                if va == vb:
                    continue
                if name == "stream" and f.name in ("name", "type", "source_id") and not implicit_bed:
                    continue  # [stream]'s identity is not used by a daemon of beds
                if f.name == "patient":
                    continue  # applied to the bed below, and said without the patient
                keys = RELOADABLE.get(name, ())
                ok = name in RELOADABLE and (keys is None or f.name in keys)
                (applied if ok else ignored).append(f"{name}.{f.name}: {va!r} -> {vb!r}")
        if _but_patients(old.discover) != _but_patients(new.discover):
            applied.append(
                f"discover: {config_to_dict(old).get('discover')!r} -> {config_to_dict(new).get('discover')!r}"
            )
        for item in ignored:
            log.warning("reload: %s needs restart; ignored", item)
        # Keep what needs a restart as it was; take the rest.
        keep = {s: getattr(old, s) for s in ("window", "signal", "model", "metrics")}
        stream = dataclasses.replace(
            old.stream,
            stale_after_s=new.stream.stale_after_s,
            resolve_timeout_s=new.stream.resolve_timeout_s,
            patient=new.stream.patient,
        )
        alerts = dataclasses.replace(
            old.alerts,
            heartbeat_s=new.alerts.heartbeat_s,
            reannounce_s=new.alerts.reannounce_s,
            publish_windows=new.alerts.publish_windows,
        )
        beds_before = {b.bed: b for b in static_beds(old)}
        beds_now = (
            {b.bed: b for b in static_beds(new)}
            if not implicit_bed
            else {label: dataclasses.replace(b, patient=new.stream.patient) for label, b in beds_before.items()}
        )
        if implicit_bed:
            stream = dataclasses.replace(
                stream, **{k: getattr(old.stream, k) for k in BED_STREAM_KEYS}
            )  # needs restart, as before
        self.config = dataclasses.replace(new, stream=stream, alerts=alerts, beds=tuple(beds_now.values()), **keep)
        self.setting_sources.update({k: v for k, v in sources.items() if k.startswith("decision.")})
        self._reload_beds(beds_before, beds_now, applied)
        patients = {b.bed: b.patient for b in static_beds(self.config)}
        for label, bed in self.beds.items():
            if label not in patients and self.config.discover.type:  # discovered: [discover.patients]
                patients[label] = self.config.discover.patient(bed.spec.source_id)
            if label in patients and bed.set_patient(patients[label]):
                applied.append(f"bed {label or '(stream)'}: patient changed, its background levels forgotten")
        if new.discover.type != old.discover.type and self.publisher is not None:
            self._start_discovery()  # before start(), start() does
        for bed in self.beds.values():
            bed.alarm.set_interval(new.alerts.reannounce_s)
            if bed.pipeline is not None and new.decision != old.decision:
                bed.pipeline.reconfigure(new.decision)
            if bed.inlet is not None:
                bed.inlet.stale_after_s = new.stream.stale_after_s
                bed.inlet.resolve_timeout_s = new.stream.resolve_timeout_s
        if new.logging.level != old.logging.level:
            logging.getLogger().setLevel(new.logging.level.upper())
        self._next_heartbeat = min(self._next_heartbeat, time.monotonic() + self.config.alerts.heartbeat_s)
        log.info(
            "reloaded %s: %s",
            self.config_path or "(no config file)",
            "; ".join(applied) if applied else "no reloadable change",
        )
        return True

    def _reload_beds(self, before: Mapping[str, Any], now: Mapping[str, Any], applied: list[str]) -> None:
        """Beds no longer configured are removed (an open event closed, ``"reason": "bed_removed"``), new ones
        added; a bed whose stream or channels changed needs a restart (logged, kept as it was). A discovered bed
        is removed the same way when the discovery as now configured would not keep it (:meth:`_undiscovered`);
        the discovery finds its stream again, under the new rules, at its next round."""
        started = self.publisher is not None
        gone = {label: "" for label in before if label not in now}
        # the beds not configured were discovered
        gone.update(
            {b.label: why for b in self.beds.values() if b.label not in before and (why := self._undiscovered(b))}
        )
        for label, why in gone.items():
            if label in self.beds:
                applied.append(f"bed {label or '(stream)'} removed" + (f" ({why})" if why else ""))
                if started:
                    self._remove_bed(label, "bed_removed")
                else:
                    self.beds.pop(label)
        added: list[tuple[Any, str]] = []  # one reading of the alert log for all of them
        for label, config in now.items():
            if label not in before:
                applied.append(f"bed {label or '(stream)'} added")
                if started:
                    added.append((config, "added on reload"))
                else:
                    from realtime.bed import Bed

                    self.beds[label] = Bed(self, config)
            elif _but_patient(config) != _but_patient(before[label]) and label in self.beds:
                log.warning("reload: bed %s: %r -> %r needs restart; ignored", label, before[label], config)
                kept = dataclasses.replace(before[label], patient=config.patient)  # a new patient is applied still
                self.config = dataclasses.replace(
                    self.config, beds=tuple(kept if b.bed == label else b for b in self.config.beds)
                )
        self._add_beds(added)

    def _undiscovered(self, bed: Bed) -> str:
        """Why the discovery as now configured would not keep the discovered ``bed``, or "" if it would: it would
        not give it this label (``discover.beds`` changed, another ``discover.type``, discovery off; a bed labelled
        by its source id because its own label was taken keeps it while that label is), or its stream is lost
        (forgotten: found again, as a new bed, if it comes back)."""
        dc, sid = self.config.discover, bed.spec.source_id
        label = dc.label(sid)
        if not dc.type:
            return "discovery switched off"
        if bed.spec.type.casefold() != dc.type.casefold():
            return f"streams of type {dc.type!r} are discovered now"
        if label != bed.label and not (bed.label == sid and label in self.beds):
            return f"source id {sid!r} is now bed {label}: found again under that label"
        if bed.state == "lost":
            return "its stream is lost, so forgotten: found again, as a new bed, if it comes back"
        return ""

    # ----------------------------------------------------------------------------- shutdown
    def _save_levels(self) -> None:
        """Record the connected beds' background levels and write them (:mod:`realtime.levels`)."""
        store = self._levels
        if store is None:
            return
        wall = time.time()
        for bed in self.beds.values():
            pipe = bed.pipeline
            if pipe is not None and bed.state == "connected" and (levels := pipe.background_levels()) is not None:
                store.record(bed.device, pipe.sfreq, pipe.unique_ch_names, levels, wall, bed.config.patient)
        try:
            store.save(wall)
        except OSError as exc:  # a convenience: the beds go on (and wait for their history after a restart)
            if str(exc) != self._levels_error:  # said once, not every SAVE_EVERY_S
                log.warning("cannot write the background levels %s: %s; a restart will not keep them", store.path, exc)
            self._levels_error = str(exc)
        else:
            if self._levels_error is not None:
                log.info("background levels written to %s again", store.path)
            self._levels_error = None

    def take_levels(self, bed: Bed) -> None:
        """``bed`` connected for the first time since the start: the levels its device had before the restart, if
        recent (:meth:`realtime.levels.LevelStore.take`), are its scaler's prior."""
        pipe = bed.pipeline
        if self._levels is None or pipe is None:
            return
        got = self._levels.take(bed.device, pipe.sfreq, pipe.unique_ch_names, time.time(), bed.config.patient)
        if self._levels.refused:
            log.info(
                "%s: the background levels from before the restart are not used (%s): its channels are scaled once "
                "they have their own history",
                bed.describe(),
                self._levels.refused,
            )
        if got is not None:
            levels, age_s = got
            pipe.carry_background(levels)
            log.info(
                "%s: the background levels from before the restart (%.0f s old) scale its channels until they have "
                "their own history",
                bed.describe(),
                age_s,
            )

    def forget_levels(self, bed: Bed) -> None:
        """``bed``'s patient changed: the levels its device recorded are not kept for a restart either; before its
        stream first connected, those of every device its criteria take (the envelope holds only the criteria)."""
        if self._levels is None:
            return
        if bed.inlet is not None and bed.inlet.meta is not None:
            self._levels.forget(bed.device)
        else:
            self._levels.forget_matching(bed.spec.matches)

    def shutdown(self) -> None:
        """Final heartbeats, close sockets and the metrics endpoint (idempotent)."""
        sdnotify.notify("STOPPING=1", self.env)
        self._set_status("stopping")
        self._save_levels()
        for bed in self.beds.values():
            if bed.inlet is not None:
                bed.inlet.close()
        if self.publisher is not None:
            try:
                if all(bed.envelope is not None for bed in self.beds.values()):
                    self._heartbeat(final=True)
            finally:
                self._publisher.close(flush_s=0.3)
                self.publisher = None
        if self.metrics is not None:
            self._metrics.close()
        log.info("stopped after %d windows", self.windows_total)


def _but_patients(discover: DiscoverConfig) -> DiscoverConfig:
    """``[discover]`` but its patients (applied to the discovered beds in place, said without them)."""
    return dataclasses.replace(discover, patients=())


def _but_patient(bed: BedConfig) -> BedConfig:
    """A bed's settings but its patient (a SIGHUP applies a change of patient in place: :meth:`Bed.set_patient`)."""
    return dataclasses.replace(bed, patient="")


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
