"""Resolving and reading one LSL stream: resolve, open, pull chunks, staleness, reconnect.

:class:`Inlet` runs no thread of its own: the daemon (or a test) calls :meth:`Inlet.step`, which
does one resolve attempt while no stream is open, or one ``pull_chunk`` while one is. States:

``waiting``   never connected yet; every step is one resolve attempt (``resolve_timeout_s``).
``connected`` an inlet is open (``connected`` event on the first open).
``lost``      the outlet went away (``LostError``) or sent nothing for ``stale_after_s``
              (``lost`` event); the inlet is closed and re-resolved; the state returns to
              ``connected`` with a ``restored`` event when samples flow again.

Streams are matched by name (exact), type (compared without case: mne-lsl's ``PlayerLSL``
announces ``eeg``) and source id (exact); empty criteria match anything. Streams that cannot be
scored (irregular rate, a rate under 100 Hz, string samples) are rejected with a logged error
naming the value, once per stream, and the inlet keeps waiting for a usable one.

Two streams that both match (two amplifiers, or a replay, under one name): a WARNING names every
candidate (name, type, source id, host), once per change of the set, and the oldest is taken
(``created_at``, then source id and uid: the same choice every time). Streams without a source id
cannot be told apart, which the warning says. Once connected, ``lock_source`` (default, from
``stream.lock_source``) keeps the device: after a loss only a stream with the same source id
restores it, and any other is ignored with one WARNING saying why. ``lock_source=False``: any
matching stream may take its place (the same source id is still preferred).

Timestamps: the inlet asks liblsl for clock synchronisation only (``proc_clocksync``), not for
dejittering or monotonizing: those hide a jump of the source's clock (a jump back froze every
timestamp for the next hour; a jump forward was smeared over minutes). The pipeline's sample clock
(:mod:`realtime.clock`) smooths and checks them instead.

Channel metadata (``desc/channels/channel``): labels, units and types are read into
:class:`StreamMeta` as given; which channels are scored (EEG only) is the pipeline's choice
(:mod:`realtime.channels`). A stream that comes back with other labels, units or types has another
``layout()``, and the daemon builds a new pipeline for it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LslTimeoutError

log = logging.getLogger(__name__)

MIN_RATE_HZ = 100.0
FORGET_AFTER_S = 5.0  # the continuous resolver drops a vanished stream after this long
RESOLVER_SETTLE_S = 0.5  # a new resolver's first answer waits this long for every stream to be heard
# A step asked to wait for samples (``pull_when_samples``) still pulls this often: losses and stale streams are
# noticed, and the gauges move, as before; the pulls in between, a chunk at a time, were most of a ward's CPU.
MAX_DEFER_S = 0.25
# While connected, the continuous resolver's streams are looked at this often: another stream that matches (a
# second amplifier given the same name, a replay left running), heard only after the connection, is warned about.
AMBIGUITY_CHECK_S = 10.0
PROCESSING_FLAGS = pylsl.proc_clocksync  # no dejitter/monotonize: see the module docstring
_FORMAT_NAMES = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}
_NP_DTYPES = {1: np.float32, 2: np.float64, 4: np.int32, 5: np.int16, 6: np.int8, 7: np.int64}


class StreamRejected(ValueError):
    """A stream matched the criteria but cannot be scored (message quotes the offending value)."""


@dataclass(frozen=True)
class StreamSpec:
    """What to resolve; empty strings match anything (at least one should be set)."""

    name: str = ""
    type: str = ""
    source_id: str = ""

    def matches(self, name: str, type_: str, source_id: str) -> bool:
        return (
            (not self.name or name == self.name)
            and (not self.type or type_.casefold() == self.type.casefold())
            and (not self.source_id or source_id == self.source_id)
        )

    def describe(self) -> str:
        parts = [
            f"{k}={v!r}" for k, v in (("name", self.name), ("type", self.type), ("source_id", self.source_id)) if v
        ]
        return ", ".join(parts) or "any stream"

    def label(self) -> str:
        """A short name for logs and metric labels before a stream is connected."""
        return self.name or self.source_id or self.type or "any"


@dataclass(frozen=True)
class StreamMeta:
    """What the daemon needs to know about an opened stream."""

    name: str
    type: str
    source_id: str
    uid: str
    hostname: str
    sfreq: float
    channel_format: str
    ch_names: tuple[str, ...]
    units: tuple[str, ...] | None  # raw unit strings from the metadata ("uV", "microvolts", "-6", ...)
    # per-channel types from desc/channels/channel/type ("EEG", "ECG", "" where one is missing); None: not given
    types: tuple[str, ...] | None = None

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    def layout(self) -> tuple:
        """What must stay the same for buffers and the pipeline to be reused after a reconnect."""
        return (self.sfreq, self.channel_format, self.ch_names, self.units, self.types)


@dataclass
class InletStep:
    """The outcome of one :meth:`Inlet.step`.

    ``samples`` is ``[n_samples, n_channels]`` (the stream's dtype), a view of the inlet's
    preallocated buffer valid until the next step; ``timestamps`` ``[n_samples]`` float64 LSL
    clock seconds. ``event`` is None or one of ``connected``, ``lost``, ``restored``, ``rejected``.
    """

    samples: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    event: str | None = None
    detail: str = ""
    backlog_samples: int = 0  # samples in liblsl's inlet buffer when this pull began: pulled + still waiting
    deferred: bool = False  # no pull: fewer samples wait than the step asked for (``pull_when_samples``)
    # deferred: the least time before a pull is due again: the missing samples at the stream's nominal rate (a source
    # in real time cannot send them sooner), or MAX_DEFER_S after the last pull if that comes first; 0: unknown
    ready_in_s: float = 0.0

    @property
    def n_samples(self) -> int:
        return 0 if self.timestamps is None else len(self.timestamps)


def inlet_backlog(available: int, sfreq: float, buffer_s: float) -> tuple[float, bool]:
    """Seconds of signal waiting in an inlet when a pull began (``available`` samples at ``sfreq``: the pulled
    ones and those left), and whether that is over half of its buffer (``buffer_s``, liblsl's ``max_buflen``):
    the reader is behind, and once the buffer is full liblsl drops the oldest samples without a word. Counted
    before the pull, not after: a pull takes up to ``max_chunk_samples`` (16 s at 256 Hz), so what is left after
    it never reaches a full 30 s buffer's half even while samples are dropped."""
    if available <= 0 or sfreq <= 0:
        return 0.0, False
    seconds = available / sfreq
    return seconds, seconds > buffer_s / 2


def _xpath_literal(value: str) -> str | None:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def build_predicate(spec: StreamSpec) -> str | None:
    """An XPath 1.0 predicate for ``resolve_bypred``; None when a value cannot be quoted in XPath.

    The type is lower-cased with ``translate`` so ``EEG``, ``eeg`` and ``Eeg`` all match; results
    are filtered again in Python with :meth:`StreamSpec.matches`.
    """
    terms = []
    for field, value in (("name", spec.name), ("source_id", spec.source_id)):
        if value:
            lit = _xpath_literal(value)
            if lit is None:
                return None
            terms.append(f"{field}={lit}")
    if spec.type:
        lit = _xpath_literal(spec.type.lower())
        if lit is None:
            return None
        terms.append(f"translate(type,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')={lit}")
    return " and ".join(terms) if terms else None


def resolve(spec: StreamSpec, timeout_s: float) -> list[pylsl.StreamInfo]:
    """Every stream visible within ``timeout_s`` that matches ``spec`` (returns early once one is found)."""
    predicate = build_predicate(spec)
    if predicate is not None:
        found = pylsl.resolve_bypred(predicate, minimum=1, timeout=timeout_s)
    else:
        found = pylsl.resolve_streams(wait_time=timeout_s)
    return [info for info in found if spec.matches(info.name(), info.type(), info.source_id())]


def oldest_first(infos: list[pylsl.StreamInfo]) -> list[pylsl.StreamInfo]:
    """Streams by ``created_at``, then source id and uid: the same order, and so the same choice, every time."""
    return sorted(infos, key=lambda c: (c.created_at(), c.source_id(), c.uid()))


def describe_candidate(info: pylsl.StreamInfo) -> str:
    """``'bed1' (type 'EEG', source_id 'amp-1' on host 'ward3')`` for logs."""
    return f"{info.name()!r} (type {info.type()!r}, source_id {info.source_id()!r} on host {info.hostname()!r})"


def describe_info(info: pylsl.StreamInfo) -> StreamMeta:
    """Channel labels, units, types and rate of a full stream info; raises :class:`StreamRejected`."""
    name = info.name()
    rate = float(info.nominal_srate())
    fmt = int(info.channel_format())
    if rate <= 0:
        raise StreamRejected(
            f"stream {name!r} has an irregular sampling rate (nominal_srate={rate!r}); EEG must have a fixed rate"
        )
    if rate < MIN_RATE_HZ:
        raise StreamRejected(f"stream {name!r} is sampled at {rate!r} Hz; at least {MIN_RATE_HZ:g} Hz is needed")
    if fmt not in _NP_DTYPES:
        raise StreamRejected(
            f"stream {name!r} has channel format {_FORMAT_NAMES.get(fmt, fmt)!r}; numeric samples are needed"
        )
    n = int(info.channel_count())
    if n < 1:
        raise StreamRejected(f"stream {name!r} has {n!r} channels")
    labels = info.get_channel_labels() or []
    units, types = info.get_channel_units(), info.get_channel_types()
    unused = [
        f"{what} ({len(x)})"
        for what, x in (("labels", labels), ("units", units), ("types", types))
        if x and len(x) != n
    ]
    if unused:  # not silently: a stream whose metadata does not match its channels is read without that metadata
        log.warning(
            "stream %r has %d channels, but its channel metadata (desc/channels) gives %s: not used (channels without "
            "a label are named ch0, ch1, ...; without a unit, microvolts are assumed)",
            name,
            n,
            ", ".join(unused),
        )
    if len(labels) != n:
        labels = [None] * n
    ch_names = tuple(lab if lab else f"ch{i}" for i, lab in enumerate(labels))  # repeats are kept as they are
    units_t = tuple((u or "") for u in units) if units and len(units) == n and any(units) else None
    types_t = tuple((t or "").strip() for t in types) if types and len(types) == n and any(types) else None
    return StreamMeta(
        name=name,
        type=info.type(),
        source_id=info.source_id(),
        uid=info.uid(),
        hostname=info.hostname(),
        sfreq=rate,
        channel_format=_FORMAT_NAMES[fmt],
        ch_names=ch_names,
        units=units_t,
        types=types_t,
    )


class Inlet:
    """One LSL stream, stepped by hand. Not thread-safe (one owner).

    ``clock`` returns seconds (default ``pylsl.local_clock``); staleness is measured with it.
    """

    def __init__(
        self,
        spec: StreamSpec,
        *,
        resolve_timeout_s: float = 2.0,
        stale_after_s: float = 3.0,
        max_chunk_samples: int = 4096,
        max_buflen_s: int = 60,
        clock: Callable[[], float] = pylsl.local_clock,
        lock_source: bool = True,
    ):
        self.spec = spec
        self.resolve_timeout_s = float(resolve_timeout_s)
        self.stale_after_s = float(stale_after_s)
        self.max_chunk_samples = int(max_chunk_samples)
        self.max_buflen_s = int(max_buflen_s)
        self.clock = clock
        self.lock_source = bool(lock_source)
        self.locked_source_id: str | None = None  # the source id connected first (kept when lock_source)
        self.state = "waiting"
        self.meta: StreamMeta | None = None
        self.reconnects = 0
        self._inlet: pylsl.StreamInlet | None = None
        self._buffer: np.ndarray | None = None
        self._last_data = 0.0
        self._last_pull = -float("inf")  # clock() at the last pull
        self._opened_at = 0.0
        self._had_data_since_open = False
        self._rejected_uids: set[str] = set()
        self._resolver: pylsl.ContinuousResolver | None = None
        self._resolver_ready_at = 0.0
        self._skip_until: dict[str, float] = {}  # uid -> clock: streams just lost or that failed to open
        self._ambiguous_warned: frozenset[str] = frozenset()  # uids of the candidates last warned about
        self._info: pylsl.StreamInfo | None = None  # the stream of the open inlet, as the resolver gave it
        self._next_ambiguity_check = 0.0  # clock()
        self._ignored_uids: set[str] = set()  # other devices ignored under the lock (warned once each)

    # ----------------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._inlet is not None

    def step(
        self, timeout_s: float = 0.1, resolve_wait_s: float | None = None, *, pull_when_samples: int = 1
    ) -> InletStep:
        """One resolve attempt (no inlet open) or one pull of at most ``max_chunk_samples``.

        Pulls wait up to ``timeout_s`` for the first sample, then take what is already there. A resolve
        attempt waits up to ``resolve_wait_s`` (default ``resolve_timeout_s``; 0: answer from what the
        continuous resolver has heard, without waiting: a daemon of several beds must not stop for one).
        ``pull_when_samples`` > 1 (the samples the next window still needs): the samples wait in liblsl's
        buffer, which is what it is for, instead of being taken a chunk at a time. A pull that waits
        (``timeout_s`` > 0: a daemon of one bed) returns once that many have come, or at ``timeout_s`` with
        what came; a step that does not wait (several beds) pulls a connected stream only once that many
        wait, or ``MAX_DEFER_S`` after its last pull, and otherwise does nothing (``InletStep.deferred``).
        """
        if self._inlet is None:
            return self._try_open(resolve_wait_s)
        if self.clock() >= self._next_ambiguity_check:
            self._check_ambiguity()
        wanted = max(1, min(int(pull_when_samples), self.max_chunk_samples))
        if wanted > 1 and timeout_s <= 0 and self.state == "connected":
            since_pull_s = self.clock() - self._last_pull
            if since_pull_s < MAX_DEFER_S and (missing := wanted - self._available()) > 0:
                sfreq = self.meta.sfreq if self.meta is not None else 0.0
                ready_in_s = min(missing / sfreq, MAX_DEFER_S - since_pull_s) if sfreq > 0 else 0.0
                return InletStep(deferred=True, ready_in_s=ready_in_s)
        step = self._pull(timeout_s, wanted if timeout_s > 0 else 1)
        self._last_pull = self.clock()  # after it: a first pull waits for liblsl's clock offset
        return step

    def reject(self, reason: str) -> None:
        """The caller cannot use the open stream (e.g. an unknown unit): close it and never pick it again."""
        if self.meta is not None:
            self._rejected_uids.add(self.meta.uid)
            log.error("rejected stream %r: %s", self.meta.name, reason)
        self.close()
        if self.state == "connected" and self.reconnects == 0:
            self.state = "waiting"
            self.locked_source_id = None  # never read: the lock goes to the first stream actually read
        elif self.state == "connected":
            self.state = "lost"

    def close(self) -> None:
        if self._inlet is not None:
            try:
                self._inlet.close_stream()
            except Exception as exc:  # closing a dead inlet must not matter
                log.debug("closing inlet: %s", exc)
            self._inlet = None

    # ----------------------------------------------------------------------------------------------
    def _candidates(self, wait_s: float | None = None) -> list[pylsl.StreamInfo]:
        """Matching streams, polled from a liblsl ContinuousResolver for up to ``resolve_timeout_s``.

        A continuous resolver answers from memory (one-shot ``resolve_bypred`` calls were seen to
        block for 5 s now and then on a loaded machine, starving the watchdog); it still reports a
        vanished outlet for ``FORGET_AFTER_S``, so a stream just lost, or one that failed to open,
        is skipped (by uid) that long. Under the source lock, other devices are left out (and polled
        past, so that their presence does not turn the wait into a busy loop).
        """
        if self._resolver is None:
            self._resolver = pylsl.ContinuousResolver(pred=build_predicate(self.spec), forget_after=FORGET_AFTER_S)
            # a new resolver hears the streams one by one: give every one the time to answer, so that the
            # choice between two of one name does not depend on which answered first
            self._resolver_ready_at = self.clock() + min(self.resolve_timeout_s, RESOLVER_SETTLE_S)
        deadline = self.clock() + (self.resolve_timeout_s if wait_s is None else max(0.0, wait_s))
        while True:
            found = [
                info
                for info in self._resolver.results()
                if self.spec.matches(info.name(), info.type(), info.source_id())
                and info.uid() not in self._rejected_uids
                and self._skip_until.get(info.uid(), -1.0) <= self.clock()
                and self._allowed_by_lock(info)
            ]
            if (found and self.clock() >= self._resolver_ready_at) or self.clock() >= deadline:
                return found
            time.sleep(0.05)

    def _allowed_by_lock(self, info: pylsl.StreamInfo) -> bool:
        """Under ``lock_source``, once connected: only the source id connected first (others warned about once)."""
        if not self.lock_source or not self.locked_source_id or info.source_id() == self.locked_source_id:
            return True
        if info.uid() not in self._ignored_uids:
            self._ignored_uids.add(info.uid())
            log.warning(
                "ignoring stream %s: it matches %s, but this daemon is locked to the device it connected to first "
                "(source_id %r; stream.lock_source = true); set stream.lock_source = false to let another device "
                "take its place",
                describe_candidate(info),
                self.spec.describe(),
                self.locked_source_id,
            )
        return False

    def _check_ambiguity(self) -> None:
        """While connected: the matching streams the resolver hears now, warned about as at connection
        (:meth:`_warn_ambiguous`: once per set) when there is another beside the one read."""
        self._next_ambiguity_check = self.clock() + AMBIGUITY_CHECK_S
        if self._resolver is None or self._info is None:
            return
        try:
            found = [i for i in self._resolver.results() if self.spec.matches(i.name(), i.type(), i.source_id())]
        except Exception as exc:  # liblsl's answer is a courtesy here: never let it break a pull
            log.debug("checking for other streams of %s: %s", self.spec.describe(), exc)
            return
        read = [i for i in found if i.uid() == self._info.uid()]
        if len(found) >= 2 and read:
            self._warn_ambiguous(oldest_first(found), read[0], why="the device being read")

    def _warn_ambiguous(
        self, candidates: list[pylsl.StreamInfo], chosen: pylsl.StreamInfo, why: str | None = None
    ) -> None:
        """One WARNING per change of the set of matching streams, naming each; says which is taken and ``why``
        (default: the oldest, or the device read before)."""
        uids = frozenset(c.uid() for c in candidates)
        if len(candidates) < 2 or uids == self._ambiguous_warned:
            return
        self._ambiguous_warned = uids
        nameless = [c for c in candidates if not c.source_id()]
        log.warning(
            "%d streams match %s: %s; taking %s (%s)%s",
            len(candidates),
            self.spec.describe(),
            "; ".join(describe_candidate(c) for c in candidates),
            describe_candidate(chosen),
            why or ("the oldest" if chosen is candidates[0] else "the device read before"),
            (
                f"; {len(nameless)} of them have no source id and cannot be told apart: after a loss any of them may "
                "take the place of the one read: give every device its own source id"
            )
            if nameless
            else "; give each bed its own stream name, or set stream.source_id",
        )

    def _try_open(self, wait_s: float | None = None) -> InletStep:
        try:
            candidates = self._candidates(wait_s)
        except Exception as exc:
            log.error("resolving %s failed: %s", self.spec.describe(), exc)
            return InletStep(event=None, detail=str(exc))
        if not candidates:
            return InletStep()
        candidates = oldest_first(candidates)
        info = candidates[0]
        if self.meta is not None:  # prefer the stream we had (same source id), if it is back
            same = [c for c in candidates if self.meta.source_id and c.source_id() == self.meta.source_id]
            info = (same or candidates)[0]
        self._warn_ambiguous(candidates, info)
        inlet = None
        try:
            inlet = pylsl.StreamInlet(
                info, max_buflen=self.max_buflen_s, recover=False, processing_flags=PROCESSING_FLAGS
            )
            full = inlet.info(timeout=max(self.resolve_timeout_s, 1.0))
            meta = describe_info(full)
            inlet.open_stream(timeout=max(self.resolve_timeout_s, 1.0))
            # Start liblsl's clock synchronisation now without waiting for it: under proc_clocksync the
            # first pull otherwise blocks until the first clock offset is measured (about 0.64 s of probes
            # here), and a loop serving many beds paid that per bed, one after another (40 beds opened
            # together: the last one scored 26 s later, its signal piling up in its inlet meanwhile).
            with contextlib.suppress(LslTimeoutError):
                inlet.time_correction(timeout=0.0)
        except StreamRejected as exc:
            self._rejected_uids.add(info.uid())
            log.error("rejected stream: %s", exc)
            if inlet is not None:
                inlet.close_stream()
            return InletStep(event="rejected", detail=str(exc))
        except Exception as exc:  # the outlet vanished between resolve and open, or timed out
            log.warning(
                "could not open stream %r (uid %s): %s; not trying it again for %g s",
                info.name(),
                info.uid(),
                exc,
                FORGET_AFTER_S + 0.5,
            )
            self._skip_until[info.uid()] = self.clock() + FORGET_AFTER_S + 0.5
            if inlet is not None:
                with contextlib.suppress(Exception):
                    inlet.close_stream()
            return InletStep()
        previous = self.meta
        self._inlet, self.meta, self._info = inlet, meta, info
        self._next_ambiguity_check = self.clock() + AMBIGUITY_CHECK_S
        dtype = _NP_DTYPES[int(full.channel_format())]
        if self._buffer is None or self._buffer.dtype != dtype or self._buffer.shape[1] != meta.n_channels:
            self._buffer = np.empty((self.max_chunk_samples, meta.n_channels), dtype=dtype)
        self._opened_at = self._last_data = self.clock()
        self._had_data_since_open = False
        detail = (
            f"{meta.name} ({meta.type}, source_id={meta.source_id!r}) on {meta.hostname}: "
            f"{meta.sfreq:g} Hz, {meta.n_channels} channels, {meta.channel_format}, "
            f"units {sorted(set(meta.units)) if meta.units else 'not given'}, "
            f"channel types {sorted(set(meta.types)) if meta.types else 'not given'}"
        )
        if self.state == "waiting":
            self.state = "connected"
            self.locked_source_id = meta.source_id
            log.info("connected to %s", detail)
            if not meta.source_id:
                log.warning(
                    "stream %r has no source id: another stream of the same name cannot be told from it%s",
                    meta.name,
                    " (stream.lock_source cannot keep this device)" if self.lock_source else "",
                )
            return InletStep(event="connected", detail=detail)
        if previous is not None and previous.source_id != meta.source_id:
            log.warning(
                "stream %r is now another device: source_id %r on %s (was %r on %s)",
                meta.name,
                meta.source_id,
                meta.hostname,
                previous.source_id,
                previous.hostname,
            )
        if previous is not None and previous.layout() != meta.layout():
            log.warning("stream came back with a different layout: %s", detail)
        log.info("re-opened %s; waiting for samples", detail)
        return InletStep()

    def _pull(self, timeout_s: float, min_samples: int = 1) -> InletStep:
        """One ``pull_chunk``: it returns once ``min_samples`` have come (then takes what else is there, up to
        ``max_chunk_samples``), or at ``timeout_s`` with what came."""
        assert self._inlet is not None and self._buffer is not None
        try:
            samples, timestamps = self._inlet.pull_chunk(
                timeout=timeout_s,
                max_samples=self.max_chunk_samples,
                dest_obj=self._buffer,
                min_samples=min_samples,
                as_numpy=True,
            )
        except LostError:
            return self._lose("the outlet went away (connection lost)")
        now = self.clock()
        n = len(timestamps)
        if n == 0:
            if now - self._last_data > self.stale_after_s:
                if self.state == "lost":  # a re-opened stream that still sends nothing: try again quietly
                    self.close()
                    return InletStep()
                return self._lose(
                    f"no samples for {now - self._last_data:.1f} s (stale_after_s={self.stale_after_s:g})"
                )
            return InletStep()
        self._last_data = now
        event = None
        detail = ""
        if self.state == "lost" and not self._had_data_since_open:
            self.state = "connected"
            self.reconnects += 1
            event = "restored"
            assert self.meta is not None
            detail = f"{self.meta.name}: samples flowing again (reconnect #{self.reconnects})"
            log.info("stream restored: %s", detail)
        self._had_data_since_open = True
        return InletStep(
            samples=samples,
            timestamps=np.asarray(timestamps, dtype=np.float64),
            event=event,
            detail=detail,
            backlog_samples=n + self._available(),
        )

    def _available(self) -> int:
        """Samples waiting in liblsl's buffer after a pull (0 when it cannot say)."""
        if self._inlet is None:
            return 0
        try:
            return max(0, int(self._inlet.samples_available()))
        except Exception as exc:  # a dying inlet: the next pull reports the loss
            log.debug("samples_available: %s", exc)
            return 0

    def _lose(self, detail: str) -> InletStep:
        name = self.meta.name if self.meta else self.spec.label()
        log.warning("stream %s lost: %s", name, detail)
        if self.meta is not None:
            self._skip_until[self.meta.uid] = self.clock() + FORGET_AFTER_S + 0.5
        self.close()
        self.state = "lost"
        return InletStep(event="lost", detail=detail)


class StreamDiscovery:
    """Every LSL stream of one ``type`` (compared without case), heard by a liblsl ContinuousResolver, which
    answers from memory (no wait): the daemon's discovery of beds (``--type EEG`` without a name). Not
    thread-safe (one owner)."""

    def __init__(self, type_: str, *, forget_after_s: float = FORGET_AFTER_S):
        if not type_:
            raise ValueError("discovery needs a stream type, got ''")
        self.spec = StreamSpec(type=type_)
        self._resolver = pylsl.ContinuousResolver(pred=build_predicate(self.spec), forget_after=forget_after_s)
        self._forget_s = forget_after_s + 0.5
        self._skip_until: dict[str, float] = {}  # uid -> time.monotonic(): streams forgotten (forget)

    def streams(self) -> list[pylsl.StreamInfo]:
        """The matching streams heard now, oldest first (``created_at``, then source id and uid), but those
        forgotten."""
        now = time.monotonic()
        self._skip_until = {uid: t for uid, t in self._skip_until.items() if t > now}
        found = [
            i
            for i in self._resolver.results()
            if self.spec.matches(i.name(), i.type(), i.source_id()) and i.uid() not in self._skip_until
        ]
        return oldest_first(found)

    def forget(self, uid: str) -> None:
        """Leave the stream ``uid`` out while the resolver may still list it after it vanished (the stream of a
        bed removed as lost: it is found again only if it comes back, as another outlet, or is still there)."""
        self._skip_until[uid] = time.monotonic() + self._forget_s

    def close(self) -> None:
        self._resolver = None  # liblsl stops resolving when the object goes
