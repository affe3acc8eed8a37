"""One bed of the daemon: its stream's inlet, pipeline, envelope, decision and alarm state, reports, status.

A :class:`Bed` is driven by its :class:`realtime.daemon.Daemon`, which keeps what the beds share (the model,
the publisher, the metrics, the loop, the event-id counter) and, every tick:

1. :meth:`Bed.acquire`: one resolve attempt (no stream open) or one ``pull_chunk``; the stream's events
   (``connected``, ``lost``, ``restored``, ``rejected``) are handled and published; samples are pushed into
   the pipeline and the windows now due are prepared (:meth:`realtime.pipeline.Pipeline.prepare`);
2. the daemon scores every bed's due windows in one batched model call
   (:func:`realtime.pipeline.predict_batched`);
3. :meth:`Bed.finish`: each window's decision (:meth:`realtime.pipeline.Pipeline.complete`), its metrics and
   its ``seizure.onset`` / ``seizure.offset`` messages; with ``alerts.publish_windows``, then its
   ``status.window`` (:meth:`Bed.publish_window`: not logged, no ``seq``).

Event ids are unique per daemon (not per bed): before a bed decides, its decision machine is told the highest
id the daemon has used (``continue_event_ids``), so an acknowledgement, which names an event id, names one
bed's event. Every message of a bed with a label (``[[beds]]``, ``--stream`` given more than once, discovery)
carries ``"bed": LABEL``; the one bed of a ``[stream]`` section has no label and its messages no such field.
The metrics' ``stream`` label is the bed's label, or for the unlabelled bed its stream's name, as before.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from realtime.alarm import AlarmTracker
from realtime.config import IMPLICIT_BED, BedConfig, montage_asked

if TYPE_CHECKING:
    from realtime.alarm import LogState
    from realtime.daemon import Daemon
    from realtime.inlet import Inlet, StreamMeta
    from realtime.messages import Envelope
    from realtime.pipeline import DueWindow, Pipeline

log = logging.getLogger("realtime.daemon")

# said when a bed's levels are kept for its patient beyond a short outage (docs/daemon.md "A bed's patient")
KEPT_FOR_PATIENT = "the background levels of the bed's patient scale its channels until they have their own history"
QUALITY_HOLD_S = 5.0  # at most one status.signal "quality" (or "clock") message per bed per this many seconds
# A bed whose inlet deferred its pull (the next window's samples not there yet) is not stepped again before they can
# be (InletStep.ready_in_s), and at most this long: the loop then visits a bed a few times per window instead of every
# turn. A burst from a device that was behind waits at most this long before it is pulled.
STEP_AHEAD_MAX_S = 0.05


class Bed:
    """One bed (see the module docstring). ``config.bed`` is its label (``""``: the one bed of ``[stream]``)."""

    def __init__(self, daemon: Daemon, config: BedConfig):
        from realtime.inlet import StreamSpec

        self.daemon = daemon
        self.config = config
        # where in the hop its windows come due: the beds of a daemon spread over it, so that they are not all
        # scored in one call (each bed's alarm waits for its own windows, not every bed's); a bed alone: 0
        self.phase: float = daemon.next_phase()
        self.label: str = config.bed
        self.spec = StreamSpec(name=config.name, type=config.type, source_id=config.source_id)
        self.stream_label: str = self.label or self.spec.label()  # the metrics' "stream" label
        self.inlet: Inlet | None = None
        self.pipeline: Pipeline | None = None
        self.envelope: Envelope | None = None
        self.layout: Any = None  # the open stream's channel layout (a reconnect with another one rebuilds)
        self.windows_total = 0
        self.last_probability = 0.0  # last finite smoothed bed probability
        self.alarm = AlarmTracker(daemon.config.alerts.reannounce_s)  # acks and re-announcements
        self.status = ""
        self.pulled = 0  # samples pulled by the last acquire()
        self._next_step_at = -math.inf  # the inlet's clock: acquire() does not step it before (STEP_AHEAD_MAX_S)
        self._quality_sent: tuple = ()
        self._scaled_reported: frozenset[str] = frozenset()  # messages.scaled_to_report's state
        self._lost_at = -math.inf  # time.monotonic() of the last loss: how long the stream was away
        self._quality_sent_at = -math.inf
        self._clock_pending: list[Any] = []  # clock events not yet published (status.signal "clock")
        self._clock_sent_at = -math.inf

    def describe(self) -> str:
        return f"bed {self.label} ({self.spec.describe()})" if self.label else self.spec.describe()

    # ----------------------------------------------------------------------------- start
    def open(self) -> None:
        """Make the inlet, the envelope and the metrics series (the daemon's publisher and metrics exist)."""
        from realtime.inlet import Inlet
        from realtime.messages import Envelope

        cfg = self.daemon.config
        s = self.config.channel_choice(cfg.stream)
        self.inlet = Inlet(
            self.spec,
            resolve_timeout_s=s.resolve_timeout_s,
            stale_after_s=s.stale_after_s,
            max_chunk_samples=s.max_chunk_samples,
            max_buflen_s=max(30, int(cfg.window.buffer_s)),
        )
        self.envelope = Envelope.of(
            {"name": self.spec.name, "type": self.spec.type, "source_id": self.spec.source_id},
            host=self.daemon.host,
            model_version=self.daemon.model_version,
        )
        self.daemon._metrics.init_stream(self.stream_label)

    @property
    def _inlet(self) -> Inlet:
        if self.inlet is None:
            raise RuntimeError(f"{self.describe()}: no inlet yet: call open() first")
        return self.inlet

    @property
    def _pipeline(self) -> Pipeline:
        if self.pipeline is None:
            raise RuntimeError(f"{self.describe()}: no pipeline (no stream is open)")
        return self.pipeline

    @property
    def _envelope(self) -> Envelope:
        if self.envelope is None:
            raise RuntimeError(f"{self.describe()}: no envelope yet: call open() first")
        return self.envelope

    @property
    def _meta(self) -> StreamMeta:
        meta = self._inlet.meta
        if meta is None:
            raise RuntimeError(f"{self.describe()}: no stream metadata (no stream is open)")
        return meta

    @property
    def device(self) -> tuple[str, str, str]:
        """The connected stream's ``(name, type, source_id)``."""
        stream = self._envelope.stream
        return stream["name"], stream["type"], stream["source_id"]

    @property
    def state(self) -> str:
        """``waiting``, ``connected`` or ``lost`` (the inlet's)."""
        return self.inlet.state if self.inlet is not None else "waiting"

    @property
    def alarm_active(self) -> bool:
        return bool(self.pipeline is not None and self.pipeline.alarm_active) or self.alarm.open is not None

    # ----------------------------------------------------------------------------- the tick
    def acquire(self, pull_timeout_s: float, resolve_wait_s: float | None = None) -> list[DueWindow]:
        """One resolve attempt or one pull (see :meth:`realtime.inlet.Inlet.step`); the stream's events are
        handled; samples are pushed and the windows now due returned, prepared for the model. The pull asks
        for the samples the next window needs: a pull that waits returns when they are there (or at its
        timeout); one that does not wait is not made until they are there (or ``realtime.inlet.MAX_DEFER_S``
        has passed), and after such a step the inlet is not stepped again before they can be there
        (``InletStep.ready_in_s``, at most :data:`STEP_AHEAD_MAX_S`). So a bed costs about a pull per window, not one
        per chunk its device pushes, and a few visits per window, not one per turn of the loop."""
        self.pulled = 0
        inlet = self._inlet
        if self._next_step_at > -math.inf and inlet.clock() < self._next_step_at:
            return []
        wanted = self.pipeline.samples_until_due if self.pipeline is not None else 1
        step = inlet.step(pull_timeout_s, resolve_wait_s=resolve_wait_s, pull_when_samples=wanted)
        if step.deferred:
            self._next_step_at = inlet.clock() + min(step.ready_in_s, STEP_AHEAD_MAX_S)
            return []
        self._next_step_at = -math.inf
        if step.event == "connected":
            self._on_connected(step.detail)
        elif step.event == "lost":
            self._on_lost(step.detail)
        elif step.event == "restored":
            self._on_restored(step.detail)
        elif step.event == "rejected":
            self.daemon._metrics.error("stream_rejected")
            self.set_status(f"waiting for stream {self.spec.describe()} (rejected: {step.detail})")
        self._report_backlog(step.backlog_samples)
        if step.n_samples and self.pipeline is not None and inlet.state == "connected":
            assert step.samples is not None and step.timestamps is not None  # n_samples > 0
            self.pulled = step.n_samples
            return self.push(step.samples, step.timestamps)
        return []

    def _report_backlog(self, available: int) -> None:
        """``inlet_backlog_seconds`` at a step (what waited when its pull began; 0 without an open stream); a WARNING
        (rate-limited) while over half of the inlet's buffer waits: liblsl drops the oldest samples once it is full,
        at replay speeds unseen."""
        from realtime.inlet import inlet_backlog

        inlet = self._inlet
        meta = inlet.meta if inlet.is_open else None
        seconds, behind = inlet_backlog(available, meta.sfreq if meta else 0.0, inlet.max_buflen_s)
        self.daemon._metrics.inlet_backlog.labels(stream=self.stream_label).set(seconds)
        if behind:
            self.daemon._errors.error(
                f"inlet_backlog:{self.stream_label}",
                "%s: %.1f s of signal waiting in the inlet (buffer %d s): the detector is behind; liblsl drops the "
                "oldest samples when the buffer is full",
                self.stream_label,
                seconds,
                inlet.max_buflen_s,
                exc_info=False,
                level=logging.WARNING,
            )

    def push(self, samples: np.ndarray, timestamps: np.ndarray) -> list[DueWindow]:
        """``samples [n, n_stream_channels]`` with ``timestamps [n]`` into the pipeline; the windows now due."""
        label = self.stream_label
        m = self.daemon._metrics
        errors = self.daemon._errors
        try:
            clock_events = self._pipeline.push(samples, timestamps)
        except Exception as exc:
            m.error("chunk")
            errors.error("chunk", "dropped a chunk of %d samples from %s: %s", len(timestamps), label, exc)
            return []
        self._report_clock(clock_events)
        m.samples_received.labels(stream=label).inc(len(timestamps))
        m.buffer_fill_ratio.labels(stream=label).set(self._pipeline.buffer_fill_ratio)
        try:
            return self._pipeline.prepare()
        except Exception as exc:
            m.error("inference")
            errors.error("inference", "scoring a window of %s failed: %s", label, exc)
            return []

    def finish(self, due: list[DueWindow], probabilities: list[np.ndarray]) -> None:
        """Decide on each prepared window with its model probabilities; metrics and messages."""
        import pylsl

        from realtime.messages import window_messages

        label = self.stream_label
        m = self.daemon._metrics
        errors = self.daemon._errors
        pipe = self._pipeline
        for window, probs in zip(due, probabilities, strict=True):
            pipe.decision.continue_event_ids(self.daemon._last_event_id)  # ids are unique per daemon
            res = pipe.complete(window, probs)
            self.windows_total += 1
            self.daemon.windows_total += 1
            m.windows_processed.labels(stream=label).inc()
            m.last_window_timestamp.labels(stream=label).set(time.time())
            m.seizure_probability.labels(stream=label).set(res.probability)  # NaN: no channel scored
            if math.isfinite(res.probability):
                self.last_probability = float(res.probability)
            m.channels_scored.labels(stream=label).set(int(np.isfinite(res.channel_probabilities).sum()))
            m.channels_left_out.labels(stream=label).set(len(res.flagged_channels))
            m.channels_amplitude_atypical.labels(stream=label).set(len(res.amplitude_flags))
            m.channels_scaled.labels(stream=label).set(len(res.scaled_channels))
            self._check_quality(res.flagged_channels, res.amplitude_flags, res.scaled_channels)
            if res.skipped_before:
                m.windows_skipped.labels(stream=label).inc(res.skipped_before)
                errors.error(
                    "behind",
                    "%s: fell behind by more than the buffer: %d window(s) overwritten before they were scored",
                    label,
                    res.skipped_before,
                    exc_info=False,
                    level=logging.WARNING,
                )
            try:
                messages = window_messages(res, self._envelope, pipe.unique_ch_names)
            except Exception as exc:
                m.error("internal")
                errors.error(
                    "message", "could not build the messages of events %s: %s", [ev.kind for ev in res.events], exc
                )
                messages = []
            for ev, msg in zip(res.events, messages, strict=False):
                self.publish(msg)
                if ev.kind == "onset":
                    m.seizure_onsets.labels(stream=label).inc()
                    log.warning(
                        "SEIZURE ONSET on %s: event %d, p=%.2f, channels %s",
                        label,
                        ev.event_id,
                        ev.probability,
                        msg["channels"],
                    )
                    self.set_status(f"ALARM on {label}: seizure event {ev.event_id} (p={ev.probability:.2f})")
                elif ev.kind == "prolonged":
                    log.warning(
                        "SEIZURE PROLONGED on %s: event %d open for %.0f s (status epilepticus?)",
                        label,
                        ev.event_id,
                        ev.duration_s,
                    )
                    self.set_status(f"ALARM on {label}: seizure event {ev.event_id} open for {ev.duration_s:.0f} s")
                else:
                    log.warning("seizure offset on %s: event %d after %.1f s", label, ev.event_id, ev.duration_s)
                    self.set_status(f"connected to {label}; last seizure event {ev.event_id} ended")
            m.alarm_active.labels(stream=label).set(1 if pipe.alarm_active else 0)
            m.decision_settling.labels(stream=label).set(1 if pipe.decision.settling else 0)
            if self.daemon.config.alerts.publish_windows:
                self.publish_window(res)
            # on the stream's clock before any jump (offset_total_s): a source set back an hour is not an hour late
            newest = res.newest_sample_time - pipe.clock.offset_total_s
            m.end_to_end_latency.labels(stream=label).observe(max(0.0, pylsl.local_clock() - newest))

    def reset_after_error(self) -> None:
        """An unexpected error in this bed: drop its buffers and window schedule (an open event stays open),
        as after a loss, so that the next samples start clean."""
        if self.pipeline is not None:
            self.pipeline.reset()
            self.daemon._metrics.buffer_fill_ratio.labels(stream=self.stream_label).set(0)

    # ----------------------------------------------------------------------------- stream events
    def _new_pipeline(self) -> bool:
        """Build the pipeline for the open stream; on failure reject the stream and return False."""
        from realtime.messages import Envelope
        from realtime.pipeline import Pipeline

        meta = self._meta
        cfg = self.daemon.config
        s = self.config.channel_choice(cfg.stream)
        m = self.daemon._metrics
        try:
            self.pipeline = Pipeline(
                self.daemon.detector,
                sfreq=meta.sfreq,
                ch_names=meta.ch_names,
                # no unit metadata at all: every unit is empty, read as µV and reported (channels_detail)
                units=meta.units if meta.units is not None else ("",) * meta.n_channels,
                types=meta.types,
                window=cfg.window,
                decision=cfg.decision,
                channels=s.channels,
                include=s.include,
                exclude=s.exclude,
                signal=cfg.signal,
                montage_asked=montage_asked(cfg, getattr(self.daemon.detector, "settings", None)),
                phase=self.phase,
            )
        except ValueError as exc:  # unknown unit, missing channels, window too long for the buffer
            log.error("cannot score stream %r: %s; waiting for another stream", meta.name, exc)
            m.error("stream_rejected")
            self._inlet.reject(str(exc))
            self.pipeline = None
            self.set_status(f"waiting for stream {self.spec.describe()} (rejected {meta.name}: {exc})")
            return False
        self.layout = meta.layout()
        self._pipeline.decision.continue_event_ids(self.daemon._last_event_id)  # ids never repeat
        left_out = self._pipeline.left_out_channels
        for name, why in left_out.items():
            log.warning("stream %s: channel %r left out: %s", meta.name, name, why)
        self._quality_sent, self._quality_sent_at = (), -math.inf
        self._scaled_reported = frozenset()
        self._clock_pending = []
        self._clock_sent_at = -math.inf
        self.envelope = Envelope.of(meta, host=self.daemon.host, model_version=self.daemon.model_version)
        if not self.label and self.stream_label != meta.name:  # the unlabelled bed is named by its stream
            m.remove_stream(self.stream_label)  # its series under the old name (a StreamDisconnected for ever) go
            self.stream_label = meta.name
            m.init_stream(meta.name)
        m.channels_excluded.labels(stream=self.stream_label).set(len(left_out))
        m.decision_settling.labels(stream=self.stream_label).set(1)
        return True

    def _on_connected(self, detail: str) -> None:
        from realtime.messages import signal_message

        self._inlet.lock_source = self.daemon.config.stream.lock_source  # from now on, keep this device (or not)
        if not self._new_pipeline():
            return
        self.daemon.take_levels(self)  # the scaler's levels from before a restart of the daemon, if recent
        meta = self._meta
        self.daemon._metrics.stream_connected.labels(stream=self.stream_label).set(1)
        channels = self._pipeline.channels_detail()
        self.publish(
            signal_message(
                self._envelope, time=self.daemon._lsl_now(), state="connected", detail=f"{detail}; {channels}"
            )
        )
        self.set_status(
            f"connected to {meta.name} ({meta.sfreq:g} Hz, {meta.n_channels} channels, "
            f"scoring {len(self._pipeline.ch_names)})"
        )

    @property
    def background_keep_s(self) -> float:
        """How long after a loss the bed's background levels still scale its stream when it comes back: up to
        :data:`realtime.levels.SAME_PATIENT_S` when the bed's patient is given, else the pipeline's
        ``background_keep_s`` (the same device after a short outage: who else would be on it)."""
        from realtime.levels import SAME_PATIENT_S

        return SAME_PATIENT_S if self.config.patient else self._pipeline.background_keep_s

    def _patients_levels(self, meta: StreamMeta) -> np.ndarray | None:
        """The levels the bed's pipeline kept at the loss when the stream comes back from another device with the
        same channels and rate, the bed's patient is given and the loss is at most :attr:`background_keep_s` ago
        (the patient moved to another amplifier); else None."""
        if self.pipeline is None or not self.config.patient or meta.layout() != self.layout:
            return None
        if time.monotonic() - self._lost_at > self.background_keep_s:
            return None
        levels = self.pipeline.background_levels()
        return levels if _any_level(levels) else None  # none kept (scaling off, or the patient changed meanwhile)

    def set_patient(self, patient: str) -> bool:
        """SIGHUP: who is in the bed now (``""``: not given). When it changed (another patient, one given where none
        was, or none now), the bed's background levels, the kept ones included, are forgotten: a patient's levels
        scale no one else's seizure (the next ``signal.background_min_s`` are unscaled, as at a first connection).
        Returns whether it changed; the log never shows the patient."""
        if patient == self.config.patient:
            return False
        self.config = dataclasses.replace(self.config, patient=patient)
        if self.pipeline is not None:
            self.pipeline.forget_background()
        self.daemon.forget_levels(self)
        log.info("%s: the patient changed; its background levels are forgotten", self.describe())
        return True

    def _on_lost(self, detail: str) -> None:
        from realtime.messages import signal_message

        m, label = self.daemon._metrics, self.stream_label
        m.stream_connected.labels(stream=label).set(0)
        m.seizure_probability.labels(stream=label).set(math.nan)  # nothing is scored
        m.channels_scored.labels(stream=label).set(0)
        if self.pipeline is not None:
            self.flush_clock_reports(force=True)
            self._pipeline.reset(keep_background=True)  # forgotten if another device or much later comes back
            self._lost_at = time.monotonic()
            m.buffer_fill_ratio.labels(stream=label).set(0)
        self.publish(signal_message(self._envelope, time=self.daemon._lsl_now(), state="lost", detail=detail))
        self.set_status(f"lost stream {label} ({detail}); reconnecting")

    def _on_restored(self, detail: str) -> None:
        from realtime.messages import offset_message, signal_message

        meta = self._meta
        device = (meta.name, meta.type, meta.source_id)
        other_device = device != tuple(self._envelope.stream[k] for k in ("name", "type", "source_id"))
        if self.pipeline is None or meta.layout() != self.layout or other_device:
            patients_levels = self._patients_levels(meta)  # another amplifier, the same patient and channels
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
                        ev = dataclasses.replace(ev, probability=self.last_probability)
                        log.warning(
                            "offset of event %d: no window since the loss; probability is the last one scored (%.3f)",
                            ev.event_id,
                            ev.probability,
                        )
                    self.publish(offset_message(ev, self._envelope, self._pipeline.unique_ch_names))
                self.daemon._metrics.alarm_active.labels(stream=self.stream_label).set(0)  # no window may follow
            was = self._envelope.stream["source_id"]
            if not self._new_pipeline():  # the envelope now names the device whose samples come
                return
            if other_device:
                detail += f"; another device: source_id {meta.source_id!r} on {meta.hostname} (was {was!r})"
            detail = f"{detail}; {self._pipeline.channels_detail()}"  # another layout: say which channels count
            if patients_levels is not None:
                self._pipeline.carry_background(patients_levels)
                log.info("%s: %s", self.describe(), KEPT_FOR_PATIENT)
                detail += f"; {KEPT_FOR_PATIENT}"
        elif (away_s := time.monotonic() - self._lost_at) > self.background_keep_s:
            self._pipeline.forget_background()
        elif away_s > self._pipeline.background_keep_s and _any_level(self._pipeline.background_levels()):
            log.info("%s: back after %.0f s; %s", self.describe(), away_s, KEPT_FOR_PATIENT)
            detail += f"; {KEPT_FOR_PATIENT}"
        m = self.daemon._metrics
        m.stream_reconnects.labels(stream=self.stream_label).inc()
        m.stream_connected.labels(stream=self.stream_label).set(1)
        self.publish(signal_message(self._envelope, time=self.daemon._lsl_now(), state="restored", detail=detail))
        self.set_status(
            f"connected to {meta.name} ({meta.sfreq:g} Hz, {meta.n_channels} channels) "
            f"after reconnect #{self._inlet.reconnects}"
        )

    # ----------------------------------------------------------------------------- reports
    def _report_clock(self, events: list[Any]) -> None:
        """What the sample clock found in a chunk's timestamps (:class:`realtime.clock.ClockEvent`): a jump is
        logged (WARNING, rate-limited), counted (``clock_jumps_total``) and published (``status.signal``
        ``clock``, at most one per ``QUALITY_HOLD_S``); a gap (samples lost: the decision settles again) is
        logged as a warning, a small step back at INFO."""
        label = self.stream_label
        errors = self.daemon._errors
        for ev in events:
            if ev.kind == "jump":
                self.daemon._metrics.clock_jumps.labels(stream=label).inc()
                self._clock_pending.append(ev)
                errors.error(
                    "clock",
                    "%s: %s; decisions keep the sample clock, message times follow the stream's clock",
                    label,
                    ev.describe(),
                    exc_info=False,
                    level=logging.WARNING,
                )
            elif ev.kind == "gap":
                errors.error(
                    "clock_gap",
                    "%s: %s; no onset arms for decision.settle_s",
                    label,
                    ev.describe(),
                    exc_info=False,
                    level=logging.WARNING,
                )
            else:
                errors.error("clock_step", "%s: %s", label, ev.describe(), exc_info=False, level=logging.INFO)

    def flush_clock_reports(self, force: bool = False) -> None:
        """Publish the clock jumps not yet published (one ``status.signal`` ``clock`` for all of them), unless
        one was published less than ``QUALITY_HOLD_S`` ago (``force``: now, e.g. before ``lost``)."""
        pending = self._clock_pending
        if not pending:  # asked every loop turn
            return
        now = time.monotonic()
        if not force and now - self._clock_sent_at < QUALITY_HOLD_S:
            return
        from realtime.messages import signal_message

        last = pending[-1]
        detail = last.describe()
        if len(pending) > 1:
            total = sum(ev.offset_s for ev in pending)
            detail = f"{len(pending)} clock jumps ({total:+.3f} s in all), the last: {detail}"
        detail += "; decisions keep the sample clock, message times follow the stream's clock"
        self.publish(signal_message(self._envelope, time=self.daemon._lsl_now(), state="clock", detail=detail))
        self._clock_pending, self._clock_sent_at = [], now

    def _check_quality(
        self, flagged: Mapping[str, str], amplitude: Mapping[str, str], scaled: Mapping[str, float]
    ) -> None:
        """``status.signal`` ``quality`` when the set of channels left out (flat, railed, non-finite, implausible),
        of channels with an atypical amplitude or of channels scaled down changes; at most one such message per
        ``QUALITY_HOLD_S``, always ending on the latest state."""
        from realtime.messages import quality_key, scaled_to_report

        self._scaled_reported = scaled_to_report(self._scaled_reported, scaled)
        current = quality_key(flagged, amplitude, self._scaled_reported)
        now = time.monotonic()
        if current == self._quality_sent or now - self._quality_sent_at < QUALITY_HOLD_S:
            return
        from realtime.messages import signal_message

        detail = self._pipeline.quality_detail(flagged, amplitude, scaled)
        log.warning("signal quality on %s: %s", self.stream_label, detail)
        self.publish(signal_message(self._envelope, time=self.daemon._lsl_now(), state="quality", detail=detail))
        self._quality_sent, self._quality_sent_at = current, now

    def heartbeat(self, uptime_s: float, final: bool = False) -> None:
        from realtime.messages import heartbeat_message

        msg = heartbeat_message(
            self._envelope,
            time=self.daemon._lsl_now(),
            state=self.state,
            alarm_active=bool(self.pipeline is not None and self.pipeline.alarm_active),
            windows_total=self.windows_total,
            uptime_s=uptime_s,
            alarm_acknowledged=self.alarm.acknowledged,
        )
        if final:
            msg["final"] = True
        self.publish(msg)

    def set_status(self, text: str) -> None:
        text = " ".join(text.split())  # one line: a newline would start a new sd_notify assignment
        if text != self.status:
            self.status = text
            self.daemon._bed_status_changed(self)

    # ----------------------------------------------------------------------------- messages and alarms
    def publish(self, message: dict) -> dict | None:
        """Publish one of this bed's messages (with ``"bed"`` when the bed has a label); follow its events."""
        if self.label:
            message["bed"] = self.label
        self.track_event(message)
        return self.daemon._publish(message)

    def publish_window(self, res: Any) -> dict | None:
        """``status.window`` of a scored window (:class:`realtime.pipeline.WindowResult`), after its events'
        messages: sent, not logged, no ``seq`` (:meth:`realtime.alerts.Publisher.publish_unlogged`)."""
        from realtime.messages import window_status_message

        try:
            message = window_status_message(
                res, self._envelope, alarm_active=self._pipeline.alarm_active, windows_total=self.windows_total
            )
        except Exception as exc:
            self.daemon._metrics.error("internal")
            self.daemon._errors.error("window_message", "could not build the status.window message: %s", exc)
            return None
        if self.label:
            message["bed"] = self.label
        return self.daemon._publish(message, logged=False)

    def track_event(self, message: Mapping[str, Any]) -> None:
        """Follow onsets and offsets on their way out: the open event, the event ids used, the ack gauge."""
        kind, eid = message.get("type"), message.get("event_id")
        if kind not in ("seizure.onset", "seizure.offset") or not isinstance(eid, int):
            return
        self.daemon._last_event_id = max(self.daemon._last_event_id, eid)
        if kind == "seizure.onset":
            self.alarm.opened(eid, float(message["time"]), time.monotonic())
        else:
            self.alarm.closed(eid)
        if self.daemon.metrics is not None:
            self.daemon.metrics.alarm_acknowledged.labels(stream=self.stream_label).set(0)

    def reannounce_if_due(self) -> None:
        """Re-announce this bed's open, unacknowledged event when it is due."""
        ev = self.alarm.open
        if ev is None:  # most beds, most of the time: asked every loop turn, so nothing else is done
            return
        from realtime.messages import reannounce_message

        now_mono = time.monotonic()
        count = self.alarm.due_reannounce(now_mono)
        if count is None:
            return
        now = self.daemon._lsl_now()
        log.warning(
            "seizure event %d on %s is not acknowledged: re-announcement %d (open %.0f s, p=%.2f)",
            ev.event_id,
            self.stream_label,
            count,
            max(0.0, now_mono - ev.opened_mono),  # not the stream's clock: it may have jumped
            self.last_probability,
        )
        self.publish(
            reannounce_message(
                self._envelope,
                time=now,
                event_id=ev.event_id,
                count=count,
                onset_time=ev.onset_time,
                probability=self.last_probability,
            )
        )
        self.daemon._metrics.reannouncements.labels(stream=self.stream_label).inc()

    def matches_stream(self, stream: Mapping[str, str]) -> bool:
        """Whether a logged message's ``stream`` (``name``, ``type``, ``source_id``) is this bed's (its inlet's
        criteria): the matcher of this bed in :func:`realtime.alarm.reconcile_streams`."""
        return bool(self.spec.matches(stream["name"], stream["type"], stream["source_id"]))

    def log_needle(self) -> bytes | None:
        """Bytes every logged message of this bed's stream holds: its name or source id as a JSON string, as the
        alert log writes it (:func:`realtime.alarm.reconcile_streams` ``needles``); None when the bed is known by
        type alone (matched in any case, so no byte string is certain)."""
        key = self.spec.name or self.spec.source_id
        return json.dumps(key, ensure_ascii=False).encode() if key else None

    def close_left_open(self, state: LogState) -> None:
        """What the alert log said of this bed's stream (:meth:`realtime.daemon.Daemon.reconcile_beds`, which
        reads the log once for every bed at start and has the daemon's event ids continue after it): an event the
        previous run left open on it (killed, or stopped, during an alarm) is closed with a ``seizure.offset``
        ``"reason": "restart"``."""
        from realtime.messages import Envelope, restart_offset_message

        daemon = self.daemon
        onset = state.open_onset
        if onset is None:
            return
        end = state.last_time if state.last_time is not None else float(onset["time"])
        probability = state.probability if state.probability is not None else float(onset["probability"])
        env = Envelope.of(onset["stream"], host=daemon.host, model_version=self._envelope.model_version)
        msg = restart_offset_message(
            env, event_id=int(onset["event_id"]), onset_time=float(onset["time"]), time=end, probability=probability
        )
        log.warning(
            "seizure event %d on %s was still open when the previous run ended (last logged %.1f s after its "
            "onset%s): closing it with a seizure.offset, reason 'restart'; a seizure that goes on raises a new "
            "onset (event %d)",
            onset["event_id"],
            env.stream["name"],
            msg["duration_s"],
            f"; acknowledged by {state.acked_by}" if state.acked_by else "",
            daemon._last_event_id + 1,
        )
        self.publish(msg)

    def remove(self, reason: str) -> None:
        """The bed leaves the daemon (SIGHUP, no longer configured): an open event is closed with a
        ``seizure.offset`` ``"reason": reason`` (``"bed_removed"``), a final heartbeat is published, the inlet
        closed and the bed's metric series removed."""
        from realtime.messages import restart_offset_message

        daemon = self.daemon
        ev = self.alarm.open
        if ev is not None and daemon.publisher is not None:
            now = daemon._lsl_now()
            msg = restart_offset_message(
                self._envelope,
                event_id=ev.event_id,
                onset_time=ev.onset_time,
                time=max(now, ev.onset_time),
                probability=min(1.0, max(0.0, self.last_probability)),
            )
            msg["reason"] = reason
            log.warning(
                "seizure event %d on %s is open and the bed is removed: closing it with a seizure.offset, reason %r",
                ev.event_id,
                self.stream_label,
                reason,
            )
            self.publish(msg)
        if daemon.publisher is not None and self.envelope is not None:
            self.heartbeat(time.monotonic() - daemon._started_mono, final=True)
        if self.inlet is not None:
            self.inlet.close()
        if daemon.metrics is not None:
            daemon.metrics.remove_stream(self.stream_label)
        log.info("removed %s (%s)", self.describe(), reason)


def implicit(config: BedConfig) -> bool:
    """The one bed of a ``[stream]`` section (no label of its own)."""
    return config.bed == IMPLICIT_BED


def _any_level(levels: np.ndarray | None) -> bool:
    """Whether a pipeline's :meth:`~realtime.pipeline.Pipeline.background_levels` hold any channel's level."""
    return levels is not None and bool(np.isfinite(levels).any())
