"""Alert messages: dicts <-> ZeroMQ frames ``[topic, json]``, schema ``realtime-detect/1``. Pure (stdlib).

Message builders (:func:`onset_message`, :func:`offset_message`, :func:`prolonged_message`, :func:`heartbeat_message`,
:func:`signal_message`, :func:`restart_offset_message`, :func:`ack_message`, :func:`reannounce_message`)
return plain dicts without ``seq`` and ``wall_time``; the publisher stamps
them with a :class:`Sequencer` (which adds both, and ``run``) just before logging and sending. :func:`encode`
refuses unstamped messages, unknown topics and non-finite numbers (JSON has no NaN);
``status.window`` (:func:`window_status_message`, one per scored window when ``alerts.publish_windows`` is on)
is the one topic outside the sequence (:data:`UNSEQUENCED_TOPICS`): :meth:`Sequencer.mark` gives it ``run`` and
``wall_time`` but never a ``seq``, the publisher sends it without logging it, and :func:`validate` refuses
one that carries a ``seq``; its own counter is the bed's ``windows_total``;
:func:`decode` validates the schema, the topic and every required field, raising
:class:`MessageError` quoting the bad value. Extra fields are allowed (offline lines add ``file``).
:func:`window_messages` (a scored window -> its messages) and :func:`quality_detail` (the
signal-quality report) are the one path the daemon and offline scoring share.
"""

from __future__ import annotations

import json
import math
import time as _time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = "realtime-detect/1"
TOPIC_ONSET = "seizure.onset"
TOPIC_OFFSET = "seizure.offset"
TOPIC_HEARTBEAT = "status.heartbeat"
TOPIC_SIGNAL = "status.signal"
TOPIC_ACK = "seizure.ack"
TOPIC_REANNOUNCE = "seizure.reannounce"
TOPIC_PROLONGED = "seizure.prolonged"
TOPIC_WINDOW = "status.window"
TOPICS = (
    TOPIC_ONSET,
    TOPIC_OFFSET,
    TOPIC_HEARTBEAT,
    TOPIC_SIGNAL,
    TOPIC_ACK,
    TOPIC_REANNOUNCE,
    TOPIC_PROLONGED,
    TOPIC_WINDOW,
)
# Topics outside the alarm sequence: no ``seq`` (validate refuses one), not in the alert log, not replayed. A
# subscriber's gap detection and de-duplication by (run, seq) never see them.
UNSEQUENCED_TOPICS = (TOPIC_WINDOW,)
SEQUENCED_TOPICS = tuple(t for t in TOPICS if t not in UNSEQUENCED_TOPICS)
# Why an offset was published other than by the signal (an offset without ``reason`` is the signal's):
# "restart" = the daemon found the event still open in its alert log when it started again;
# "bed_removed" = the bed was removed from the daemon's configuration (SIGHUP) while its event was open.
OFFSET_REASONS = ("restart", "bed_removed")
HEARTBEAT_STATES = ("waiting", "connected", "lost")
SIGNAL_STATES = ("connected", "lost", "restored", "quality", "clock")  # clock: timestamps vs sample count

RUN_MAX_CHARS = 64  # the run id: uuid4().hex (32) from this package
_NUMBER = (int, float)
_COMMON = {
    "schema": str,
    "seq": int,
    "type": str,
    "time": _NUMBER,
    "wall_time": _NUMBER,
    "stream": dict,
    "host": str,
    "model_version": str,
}
_PER_TYPE: dict[str, dict[str, Any]] = {
    TOPIC_ONSET: {
        "event_id": int,
        "probability": _NUMBER,
        "channels": list,
        "window_start": _NUMBER,
        "window_end": _NUMBER,
    },
    TOPIC_OFFSET: {"event_id": int, "onset_time": _NUMBER, "duration_s": _NUMBER, "probability": _NUMBER},
    TOPIC_HEARTBEAT: {"state": str, "alarm_active": bool, "windows_total": int, "uptime_s": _NUMBER},
    TOPIC_SIGNAL: {"state": str, "detail": str},
    TOPIC_ACK: {"event_id": int, "by": str, "note": str, "ack_time": _NUMBER},
    TOPIC_REANNOUNCE: {"event_id": int, "count": int, "onset_time": _NUMBER, "probability": _NUMBER},
    TOPIC_PROLONGED: {
        "event_id": int,
        "onset_time": _NUMBER,
        "duration_s": _NUMBER,
        "probability": _NUMBER,
        "channels": list,
    },
    # probability and raw_probability: a number or null (no channel scored), checked in validate
    TOPIC_WINDOW: {
        "run": str,
        "window_start": _NUMBER,
        "window_end": _NUMBER,
        "channels_scored": int,
        "alarm_active": bool,
        "windows_total": int,
    },
}
_NULLABLE_NUMBERS: dict[str, tuple[str, ...]] = {TOPIC_WINDOW: ("probability", "raw_probability")}


def required_fields(topic: str) -> dict[str, Any]:
    """Every field a message of ``topic`` must carry -> its type (``(int, float)``: a number): the common ones
    (without ``seq`` for :data:`UNSEQUENCED_TOPICS`) and the topic's own; :func:`validate` checks them."""
    common = {k: v for k, v in _COMMON.items() if not (k == "seq" and topic in UNSEQUENCED_TOPICS)}
    return {**common, **_PER_TYPE[topic]}


class MessageError(ValueError):
    """A message or frame that does not follow the schema."""


@dataclass(frozen=True)
class Envelope:
    """What every message of one daemon/bed carries: stream identity, host, model version."""

    stream: Mapping[str, str]  # {"name", "type", "source_id"}
    host: str
    model_version: str

    @classmethod
    def of(cls, stream: Any, host: str, model_version: str) -> Envelope:
        """From a mapping or any object with ``name``, ``type`` and ``source_id`` attributes."""
        if not isinstance(stream, Mapping):
            stream = {"name": stream.name, "type": stream.type, "source_id": stream.source_id}
        return cls(
            stream={k: str(stream[k]) for k in ("name", "type", "source_id")}, host=host, model_version=model_version
        )


def _base(topic: str, env: Envelope, time: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "type": topic,
        "time": float(time),
        "stream": {k: str(env.stream[k]) for k in ("name", "type", "source_id")},
        "host": env.host,
        "model_version": env.model_version,
    }


# a decision event's message: its topic, the article its kind takes in an error, and its fields after ``event_id``
# (``channels``: the names of the event's channel indices), before the deciding window's three
_EVENT_MESSAGES = {
    "onset": (TOPIC_ONSET, "an", ("probability", "channels")),
    "prolonged": (TOPIC_PROLONGED, "a", ("onset_time", "duration_s", "probability", "channels")),
    "offset": (TOPIC_OFFSET, "an", ("onset_time", "duration_s", "probability")),
}


def _event_message(kind: str, ev, env: Envelope, ch_names: Sequence[str] = ()) -> dict[str, Any]:
    topic, article, fields = _EVENT_MESSAGES[kind]
    if ev.kind != kind:
        raise MessageError(f"{kind}_message needs {article} {kind} event, got kind {ev.kind!r}")
    msg = _base(topic, env, ev.time)
    msg["event_id"] = int(ev.event_id)
    for field in fields:
        msg[field] = [str(ch_names[i]) for i in ev.channels] if field == "channels" else float(getattr(ev, field))
    msg.update(
        window_start=float(ev.window_start), window_end=float(ev.window_end), publish_time=float(ev.publish_time)
    )
    return msg


def onset_message(ev, env: Envelope, ch_names: Sequence[str]) -> dict[str, Any]:
    """``seizure.onset`` from a :class:`realtime.decision.DecisionEvent` of kind ``onset``; ``background_unknown``
    (the channels, by ``ch_names``) when some of its channels were scored before their background level was known and
    were above the scaler's limit."""
    msg = _event_message("onset", ev, env, ch_names)
    if ev.background_unknown:
        msg["background_unknown"] = [str(ch_names[i]) for i in ev.background_unknown]
    return msg


def offset_message(ev, env: Envelope, ch_names: Sequence[str]) -> dict[str, Any]:
    """``seizure.offset`` from a :class:`realtime.decision.DecisionEvent` of kind ``offset``; ``background_learned``
    (the channels, by ``ch_names``) when the scaler first learned their background level while the event was open."""
    msg = _event_message("offset", ev, env)
    if ev.background_learned:
        msg["background_learned"] = [str(ch_names[i]) for i in ev.background_learned]
    return msg


def prolonged_message(ev, env: Envelope, ch_names: Sequence[str]) -> dict[str, Any]:
    """``seizure.prolonged`` from a :class:`realtime.decision.DecisionEvent` of kind ``prolonged``: the event has been
    open ``duration_s`` (``decision.prolonged_s``) since ``onset_time``, without a break; ``channels`` at/above
    on_threshold now."""
    return _event_message("prolonged", ev, env, ch_names)


def heartbeat_message(
    env: Envelope,
    *,
    time: float,
    state: str,
    alarm_active: bool,
    windows_total: int,
    uptime_s: float,
    alarm_acknowledged: bool | None = None,
) -> dict[str, Any]:
    """``status.heartbeat``; ``alarm_acknowledged`` (the open event has a ``seizure.ack``) when given."""
    if state not in HEARTBEAT_STATES:
        raise MessageError(f"heartbeat state must be one of {HEARTBEAT_STATES}, got {state!r}")
    msg = _base(TOPIC_HEARTBEAT, env, time)
    msg.update(state=state, alarm_active=bool(alarm_active), windows_total=int(windows_total), uptime_s=float(uptime_s))
    if alarm_acknowledged is not None:
        msg["alarm_acknowledged"] = bool(alarm_acknowledged)
    return msg


def restart_offset_message(
    env: Envelope, *, event_id: int, onset_time: float, time: float, probability: float
) -> dict[str, Any]:
    """``seizure.offset`` with ``"reason": "restart"``: an event found open in the alert log at start.

    ``time``: the last moment the previous run was known to be alive (its newest logged message of the
    stream), so ``duration_s`` is how long the event was seen to be open, a lower bound. No deciding
    window: no ``window_start``/``window_end``/``publish_time``.
    """
    msg = _base(TOPIC_OFFSET, env, time)
    msg.update(
        event_id=int(event_id),
        onset_time=float(onset_time),
        duration_s=max(0.0, float(time) - float(onset_time)),
        probability=float(probability),
        reason="restart",
    )
    return msg


def ack_message(env: Envelope, *, time: float, event_id: int, by: str, note: str, ack_time: float) -> dict[str, Any]:
    """``seizure.ack``: event ``event_id`` acknowledged by ``by`` (a client key's name) at ``ack_time``
    (Unix seconds), with an optional ``note``; ``time`` is the LSL clock when it was accepted."""
    msg = _base(TOPIC_ACK, env, time)
    msg.update(event_id=int(event_id), by=str(by), note=str(note), ack_time=float(ack_time))
    return msg


def reannounce_message(
    env: Envelope, *, time: float, event_id: int, count: int, onset_time: float, probability: float
) -> dict[str, Any]:
    """``seizure.reannounce``: the ``count``-th reminder (1, 2, ...) that event ``event_id``, whose onset was
    at ``onset_time``, is open and unacknowledged; ``probability`` is the last one scored."""
    msg = _base(TOPIC_REANNOUNCE, env, time)
    msg.update(event_id=int(event_id), count=int(count), onset_time=float(onset_time), probability=float(probability))
    return msg


def signal_message(env: Envelope, *, time: float, state: str, detail: str) -> dict[str, Any]:
    if state not in SIGNAL_STATES:
        raise MessageError(f"signal state must be one of {SIGNAL_STATES}, got {state!r}")
    msg = _base(TOPIC_SIGNAL, env, time)
    msg.update(state=state, detail=str(detail))
    return msg


def event_messages(events: Sequence[Any], env: Envelope, ch_names: Sequence[str]) -> list[dict[str, Any]]:
    """``seizure.onset`` / ``seizure.offset`` messages (unstamped) of decision events, in order.

    ``ch_names`` are the pipeline's unique channel names (``Pipeline.unique_ch_names``), indexed by
    an onset's ``channels``. The one path from decisions to messages: the daemon publishes these,
    offline scoring writes them as JSON lines.
    """
    out = []
    for ev in events:
        if ev.kind == "onset":
            out.append(onset_message(ev, env, ch_names))
        elif ev.kind == "offset":
            out.append(offset_message(ev, env, ch_names))
        elif ev.kind == "prolonged":
            out.append(prolonged_message(ev, env, ch_names))
        else:
            raise MessageError(f"decision event kind must be 'onset', 'prolonged' or 'offset', got {ev.kind!r}")
    return out


def _finite_or_none(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def window_status_message(result: Any, env: Envelope, *, alarm_active: bool, windows_total: int) -> dict[str, Any]:
    """``status.window`` of one scored window (a :class:`realtime.pipeline.WindowResult`), without ``seq`` (it is
    outside the alarm sequence: :data:`UNSEQUENCED_TOPICS`; stamp it with :meth:`Sequencer.mark`).

    ``time`` is the window's end, and ``window_start``/``window_end`` are its first and last samples on the stream's
    clock, as in ``seizure.onset``; ``probability`` the bed's aggregated, smoothed probability the decision
    compares and ``raw_probability`` the aggregate before smoothing, each ``None`` (JSON ``null``) when no channel
    was scored; ``channels_scored`` how many channels the model scored; ``alarm_active`` the decision's state
    after this window (an onset published and its offset not yet); ``windows_total`` the bed's windows scored
    since the daemon started, this one included: the message's own counter (one per window, so a gap in it is a
    message lost on the way, or a restart: a new ``run``)."""
    msg = _base(TOPIC_WINDOW, env, result.window_end)
    msg.update(
        window_start=float(result.window_start),
        window_end=float(result.window_end),
        probability=_finite_or_none(result.probability),
        raw_probability=_finite_or_none(result.raw_probability),
        channels_scored=int(sum(1 for p in result.channel_probabilities if math.isfinite(p))),
        alarm_active=bool(alarm_active),
        windows_total=int(windows_total),
    )
    return msg


def window_messages(result: Any, env: Envelope, ch_names: Sequence[str]) -> list[dict[str, Any]]:
    """The messages of one scored window (a :class:`realtime.pipeline.WindowResult`): its decision
    events' onset/offset messages, unstamped (:func:`event_messages`)."""
    return event_messages(result.events, env, ch_names)


def quality_detail(
    flagged: Mapping[str, str],
    amplitude: Mapping[str, str],
    *,
    n_channels: int,
    median_uv: Mapping[str, float],
    low_uv: float,
    high_uv: float,
    max_std_uv: float,
    scaled: Mapping[str, float] | None = None,
    background_limit_uv: float = 0.0,
    background_delta_limit_uv: float = 0.0,
) -> str:
    """The signal-quality report (``status.signal`` ``quality`` detail; the offline review's warning).

    ``flagged``: channel -> why it was left out ("flat", "railed", "non-finite", "implausible");
    ``amplitude``: channel -> "amplitude_low" / "amplitude_high" (still scored); ``median_uv``: channel
    -> median window standard deviation (µV) over minutes; ``[low_uv, high_uv]`` the model's range;
    ``max_std_uv`` the implausibility bound; ``n_channels`` the channels scored when all are usable;
    ``scaled``: channel -> the factor its window was multiplied by, its background being above
    ``background_limit_uv`` (or its delta above ``background_delta_limit_uv``; :mod:`realtime.scaling`).
    """
    if flagged:
        detail = "channels left out: " + ", ".join(f"{name} ({why})" for name, why in sorted(flagged.items()))
    else:
        detail = "every channel usable"
    detail += f" ({n_channels - len(flagged)} of {n_channels} scored)"
    if any(why == "implausible" for why in flagged.values()):
        detail += (
            f"; an implausible channel varies by more than {max_std_uv:g} uV: check the "
            f"stream's units and gain (a channel without a unit is read as uV)"
        )
    if amplitude:
        detail += (
            "; amplitude outside the model's training range (median window std over minutes, "
            f"expected {low_uv:g}-{high_uv:g} uV): "
            + ", ".join(
                f"{name} ({median_uv[name]:.1f} uV, {why.removeprefix('amplitude_')})"
                for name, why in sorted(amplitude.items())
            )
            + ": still scored, but check the device's gain and units"
        )
    if scaled:
        detail += (
            f"; background above {background_limit_uv:g} uV (1.5-40 Hz, over minutes)"
            + (f" or {background_delta_limit_uv:g} uV (1.5-4 Hz)" if background_delta_limit_uv else "")
            + ", scaled down to it: "
            + ", ".join(f"{name} (x{factor:.2f})" for name, factor in sorted(scaled.items()))
        )
    return detail


SCALED_REPORT_BELOW = 0.9  # a channel's scaling is reported once its factor is below this (scaled by over 10 %)


def scaled_to_report(reported: frozenset[str], scaled: Mapping[str, float]) -> frozenset[str]:
    """The channels a quality report calls scaled, with hysteresis: a channel enters once its factor (``scaled``:
    name -> factor < 1) is below :data:`SCALED_REPORT_BELOW` and leaves once it is not scaled at all. A background
    hovering at the limit (factors just under 1, then 1) would otherwise make a new report every few windows."""
    return frozenset(name for name, factor in scaled.items() if factor < SCALED_REPORT_BELOW or name in reported)


def quality_key(flagged: Mapping[str, str], amplitude: Mapping[str, str], scaled: Iterable[str]) -> tuple:
    """What a new quality report is made for: the channels left out and why, those of atypical amplitude,
    and which are reported scaled down (:func:`scaled_to_report`; not by how much: their factor follows the
    background window by window)."""
    return tuple(sorted(flagged.items())) + tuple(sorted(amplitude.items())) + tuple(sorted(scaled))


class Sequencer:
    """Strictly increasing ``seq`` and this run's id: the first stamped message gets ``start + 1``.

    ``start`` is the last sequence number that may already have been used (the publisher passes the
    larger of the alert log's last ``seq`` and its durable high-water mark), so a restarted daemon
    continues above every number it ever sent. ``run`` is a random id made once per sequencer
    (``uuid4().hex`` unless given), stamped into every message beside ``seq``: together they name a
    message even if numbers were ever reused.

    ``reserve(mark)``, when given, is called before the first number above the current reservation
    is used, with the new high-water mark (numbers are reserved ``block`` at a time); the publisher
    makes it durable there. It must not raise.
    """

    def __init__(
        self,
        start: int = 0,
        *,
        run: str | None = None,
        reserve: Callable[[int], None] | None = None,
        block: int = 1000,
    ):
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ValueError(f"sequence start must be an integer >= 0, got {start!r}")
        if not isinstance(block, int) or isinstance(block, bool) or block < 1:
            raise ValueError(f"sequence block must be an integer >= 1, got {block!r}")
        self.last = start
        self.run = uuid.uuid4().hex if run is None else str(run)
        self.reserved = start  # every number up to this may be used without calling reserve
        self._reserve = reserve
        self.block = block

    def stamp(self, message: Mapping[str, Any], wall_time: float | None = None) -> dict[str, Any]:
        """A copy of ``message`` with the next ``seq``, ``run`` and ``wall_time`` (Unix seconds, default now).

        A message of :data:`UNSEQUENCED_TOPICS` is refused (:class:`MessageError`), no number used: :meth:`mark`."""
        if message.get("type") in UNSEQUENCED_TOPICS:
            raise MessageError(
                f"a {message.get('type')} message is outside the sequence: it gets no seq (Sequencer.mark, "
                "Publisher.publish_unlogged)"
            )
        nxt = self.last + 1
        if self._reserve is not None and nxt > self.reserved:
            self._reserve(nxt - 1 + self.block)
            self.reserved = nxt - 1 + self.block
        self.last = nxt
        out = dict(message)
        out["seq"] = nxt
        out["run"] = self.run
        out["wall_time"] = float(_time.time() if wall_time is None else wall_time)
        return out

    def mark(self, message: Mapping[str, Any], wall_time: float | None = None) -> dict[str, Any]:
        """A copy of a message of :data:`UNSEQUENCED_TOPICS` with this run's ``run`` and ``wall_time`` (Unix
        seconds, default now), and no ``seq``: no number of the sequence is used."""
        if message.get("type") not in UNSEQUENCED_TOPICS:
            raise MessageError(
                f"only {UNSEQUENCED_TOPICS} messages go without a seq, got type {message.get('type')!r}: stamp it"
            )
        out = dict(message)
        out.pop("seq", None)
        out["run"] = self.run
        out["wall_time"] = float(_time.time() if wall_time is None else wall_time)
        return out


def _check_type(where: str, value: Any, kind: Any) -> None:
    ok = isinstance(value, kind) and not (kind in (int, _NUMBER) and isinstance(value, bool))
    if kind is _NUMBER and ok and not math.isfinite(value):
        ok = False
    if not ok:
        want = "a number" if kind is _NUMBER else getattr(kind, "__name__", str(kind))
        raise MessageError(f"field {where!r}: expected {want}, got {value!r}")


def validate(message: Mapping[str, Any]) -> None:
    """Raise :class:`MessageError` unless ``message`` is a complete, stamped message of a known type."""
    if not isinstance(message, Mapping):
        raise MessageError(f"a message must be a JSON object, got {message!r}")
    if message.get("schema") != SCHEMA:
        raise MessageError(f"field 'schema': expected {SCHEMA!r}, got {message.get('schema')!r}")
    topic = message.get("type")
    if topic not in TOPICS:
        raise MessageError(f"field 'type': expected one of {TOPICS}, got {topic!r}")
    if topic in UNSEQUENCED_TOPICS and "seq" in message:
        raise MessageError(
            f"field 'seq': a {topic} message is outside the alarm sequence and carries no seq, "
            f"got {message['seq']!r:.50}"
        )
    for name, kind in required_fields(topic).items():
        if name not in message:
            raise MessageError(f"{topic} message lacks required field {name!r}")
        _check_type(name, message[name], kind)
    for name in _NULLABLE_NUMBERS.get(topic, ()):
        if name not in message:
            raise MessageError(f"{topic} message lacks required field {name!r}")
        if message[name] is not None:
            _check_type(name, message[name], _NUMBER)
    stream = message["stream"]
    for key in ("name", "type", "source_id"):
        if not isinstance(stream.get(key), str):
            raise MessageError(f"field 'stream.{key}': expected a string, got {stream.get(key)!r}")
    bed = message.get("bed")  # optional: the bed's label in a daemon of several beds
    if bed is not None and not (isinstance(bed, str) and bed):
        raise MessageError(f"field 'bed': expected the bed's label, a non-empty string, got {bed!r:.100}")
    run = message.get("run")  # optional: a daemon before run ids did not send it
    if run is not None and not (isinstance(run, str) and 0 < len(run) <= RUN_MAX_CHARS):
        raise MessageError(
            f"field 'run': expected a non-empty string of at most {RUN_MAX_CHARS} characters, got {run!r:.100}"
        )
    if topic == TOPIC_ONSET and not all(isinstance(c, str) for c in message["channels"]):
        raise MessageError(f"field 'channels': expected a list of channel names, got {message['channels']!r}")
    if topic == TOPIC_HEARTBEAT and message["state"] not in HEARTBEAT_STATES:
        raise MessageError(f"field 'state': expected one of {HEARTBEAT_STATES}, got {message['state']!r}")
    if topic == TOPIC_SIGNAL and message["state"] not in SIGNAL_STATES:
        raise MessageError(f"field 'state': expected one of {SIGNAL_STATES}, got {message['state']!r}")
    for field, on in (("background_learned", TOPIC_OFFSET), ("background_unknown", TOPIC_ONSET)):
        names = message.get(field)
        if names is not None and (
            topic != on or not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names)
        ):
            raise MessageError(
                f"field {field!r}: a non-empty list of channel names on {on!r} only, got {names!r} on {topic!r}"
            )
    if topic == TOPIC_OFFSET and "reason" in message and message["reason"] not in OFFSET_REASONS:
        raise MessageError(f"field 'reason': expected one of {OFFSET_REASONS}, got {message['reason']!r}")
    if topic == TOPIC_HEARTBEAT and "alarm_acknowledged" in message:
        _check_type("alarm_acknowledged", message["alarm_acknowledged"], bool)
    if topic in (TOPIC_ONSET, TOPIC_OFFSET, TOPIC_ACK, TOPIC_REANNOUNCE) and message["event_id"] < 1:
        raise MessageError(f"field 'event_id': expected an integer >= 1, got {message['event_id']!r}")
    if topic == TOPIC_REANNOUNCE and message["count"] < 1:
        raise MessageError(f"field 'count': expected an integer >= 1, got {message['count']!r}")
    if topic == TOPIC_WINDOW and message["windows_total"] < 1:
        raise MessageError(f"field 'windows_total': expected an integer >= 1, got {message['windows_total']!r}")
    if topic == TOPIC_WINDOW and message["channels_scored"] < 0:
        raise MessageError(f"field 'channels_scored': expected an integer >= 0, got {message['channels_scored']!r}")


def to_json(message: Mapping[str, Any]) -> str:
    """Compact JSON; raises :class:`MessageError` for NaN/inf or non-JSON values."""
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:
        bad = {k: v for k, v in message.items() if isinstance(v, float) and not math.isfinite(v)}
        raise MessageError(f"message has non-finite numbers (JSON allows none): {bad or exc}") from None
    except TypeError as exc:
        raise MessageError(f"message has a value JSON cannot encode: {exc}") from None


def encode(message: Mapping[str, Any]) -> list[bytes]:
    """``[topic, json]`` frames (UTF-8) of a stamped, valid message."""
    validate(message)
    return [message["type"].encode("utf-8"), to_json(message).encode("utf-8")]


def decode(frames: Sequence[bytes]) -> dict[str, Any]:
    """Parse and validate ``[topic, json]`` frames; raises :class:`MessageError` quoting the bad value."""
    if not isinstance(frames, (list, tuple)) or len(frames) != 2:
        raise MessageError(f"expected 2 frames [topic, json], got {frames!r:.200}")
    try:
        topic = bytes(frames[0]).decode("utf-8")
        text = bytes(frames[1]).decode("utf-8")
    except (UnicodeDecodeError, TypeError) as exc:
        raise MessageError(f"frames are not UTF-8 bytes: {frames!r:.200} ({exc})") from None
    if topic not in TOPICS:
        raise MessageError(f"unknown topic {topic!r}: expected one of {TOPICS}")
    try:
        message = json.loads(
            text,
            parse_constant=lambda c: (_ for _ in ()).throw(
                MessageError(f"JSON contains {c!r}, which is not valid JSON")
            ),
        )
    except MessageError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer of over 4300 digits, deep nesting
        raise MessageError(f"payload is not valid JSON ({type(exc).__name__}: {exc}): {text!r:.200}") from None
    validate(message)
    if message["type"] != topic:
        raise MessageError(f"topic frame {topic!r} does not match the message type {message['type']!r}")
    return message
