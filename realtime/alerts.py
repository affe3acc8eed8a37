"""Publishing alerts: the append-only alert log, the ZeroMQ PUB socket, the replay (REP) socket.

Order of operations for every message (:meth:`Publisher.publish`):

1. stamp it (``seq``, ``wall_time``) with the :class:`realtime.messages.Sequencer`, whose start is
   the last ``seq`` found in the log, so sequence numbers continue across restarts;
2. append it to the JSONL alert log and flush; ``seizure.*`` and ``status.signal`` messages are
   also ``fsync``-ed, so a message a subscriber may have seen is on disk first;
3. send ``[topic, json]`` on the PUB socket.

Heartbeats are logged too (flushed, not fsync-ed): they carry sequence numbers, and a log that
skipped them would hand the same numbers out again after a restart. At one heartbeat every 5 s
that is about 5 MB a day; rotate the log with the daemon stopped (or keep the last line).

The replay socket (REP, served by a background thread that owns it) answers
``{"since_seq": N[, "topics": [prefix, ...]][, "limit": M]}`` with
``{"messages": [...], "more": bool, "last_seq": S}`` (every logged message with ``seq > N``,
oldest first, at most ``limit``; ``more`` says a further request is needed). Bad requests get
``{"error": "..."}`` quoting what was received.

:class:`Subscriber` is the client side (``realtime-alerts``): it asks for replay first when given
a sequence number, then follows the live stream, de-duplicating by ``seq`` and filling gaps in
the sequence from the replay socket.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import zmq

from realtime.messages import Sequencer, decode, encode

log = logging.getLogger(__name__)

DURABLE_PREFIXES = ("seizure.", "status.signal")
REPLAY_LIMIT = 10_000  # messages per replay answer
_CACHE_SIZE = 20_000  # recent messages kept in memory for fast replay
_TAIL_BLOCK = 64 * 1024


def default_log_path(env: dict[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/alerts.jsonl`` (the first directory, as systemd sets it), else ``./alerts.jsonl``."""
    env = env if env is not None else dict(os.environ)
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) / "alerts.jsonl" if state else Path("alerts.jsonl")


def _parse_line(line: bytes) -> dict | None:
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("seq"), int):
        return None
    return msg


def _topic_ok(msg: dict, topics: tuple[str, ...]) -> bool:
    return not topics or any(str(msg.get("type", "")).startswith(t) for t in topics)


class AlertLog:
    """The append-only JSONL log; one message per line, every line flushed when written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.last_seq, needs_newline = self._scan_tail()
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - open for the log's lifetime, closed by close()
        if needs_newline:  # keep the torn line as it is, and start the next message on its own line
            self._fh.write(b"\n")
            os.fsync(self._fh.fileno())
        self.lock = threading.Lock()

    def _scan_tail(self) -> tuple[int, bool]:
        """The last ``seq`` in the log (0 if none) and whether the file lacks a final newline."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0, False
        if size == 0:
            return 0, False
        with open(self.path, "rb") as fh:
            fh.seek(size - 1)
            needs_newline = fh.read(1) != b"\n"
            end, carry = size, b""
            first = True
            while end > 0:
                start = max(0, end - _TAIL_BLOCK)
                fh.seek(start)
                block = fh.read(end - start) + carry
                lines = block.split(b"\n")
                carry = lines[0] if start > 0 else b""
                body = lines[1:] if start > 0 else lines
                for line in reversed(body):
                    if not line.strip():
                        continue
                    msg = _parse_line(line)
                    if msg is not None:
                        return msg["seq"], needs_newline
                    if first:
                        log.warning(
                            "alert log %s: last line is incomplete or invalid (%d bytes: %r...); "
                            "ignored, the log continues after it",
                            self.path,
                            len(line),
                            line[:80],
                        )
                    else:
                        log.warning("alert log %s: an invalid line (%r...) ignored", self.path, line[:80])
                    first = False
                end = start
        return 0, needs_newline

    def append(self, message: dict, *, durable: bool) -> None:
        """Write one message as a line and flush it (``durable``: also fsync). Raises OSError."""
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.append_line(text.encode("utf-8"), seq=int(message["seq"]), durable=durable)

    def append_line(self, line: bytes, *, seq: int, durable: bool) -> None:
        """Write one JSON text (no newline) as a line and flush it (``durable``: also fsync)."""
        with self.lock:
            self._fh.write(line + b"\n")
            if durable:
                os.fsync(self._fh.fileno())
            self.last_seq = max(self.last_seq, seq)

    def size(self) -> int:
        with self.lock:
            return self._fh.tell()

    def read_since(
        self, since_seq: int, topics: tuple[str, ...] = (), limit: int = REPLAY_LIMIT, upto_bytes: int | None = None
    ) -> tuple[list[dict], bool]:
        """Messages with ``seq > since_seq`` (oldest first, at most ``limit``) and whether more exist."""
        out: list[dict] = []
        upto = self.size() if upto_bytes is None else upto_bytes
        with open(self.path, "rb") as fh:
            read = 0
            for line in fh:
                read += len(line)
                if read > upto:
                    break
                msg = _parse_line(line)
                if msg is None or msg["seq"] <= since_seq or not _topic_ok(msg, topics):
                    continue
                if len(out) >= limit:
                    return out, True
                out.append(msg)
        return out, False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()


class Publisher:
    """PUB + replay REP + alert log. ``publish`` is called from one thread (the daemon loop).

    ``endpoint`` / ``replay_endpoint`` may use ``tcp://127.0.0.1:*``; the bound addresses are
    ``self.endpoint`` / ``self.replay_endpoint`` afterwards. ``on_error(kind)`` is called for errors
    handled without raising (``alert_log``, ``publish``, ``replay``), e.g. to count them.
    Raises ``zmq.ZMQError`` / ``OSError`` at construction if a socket cannot be bound or the log
    cannot be opened.
    """

    def __init__(
        self,
        endpoint: str,
        replay_endpoint: str,
        log_path: str | Path,
        *,
        on_error: Callable[[str], None] | None = None,
        on_published: Callable[[str], None] | None = None,
        context: zmq.Context | None = None,
    ):
        self._ctx = context or zmq.Context.instance()
        self._on_error = on_error or (lambda kind: None)
        self._on_published = on_published or (lambda topic: None)
        self.log = AlertLog(log_path)
        self.sequencer = Sequencer(start=self.log.last_seq)
        self._cache: collections.deque[dict] = collections.deque(maxlen=_CACHE_SIZE)
        self._pub = self._ctx.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._rep = None
        self._thread = None
        self._stop = threading.Event()
        try:
            self._pub.bind(endpoint)
            self.endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
            self.replay_endpoint = ""
            if replay_endpoint:
                self._rep = self._ctx.socket(zmq.REP)
                self._rep.setsockopt(zmq.LINGER, 0)
                self._rep.bind(replay_endpoint)
                self.replay_endpoint = self._rep.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception:
            self._close_sockets()
            self.log.close()
            raise
        if self._rep is not None:
            self._thread = threading.Thread(target=self._serve_replay, name="alerts-replay", daemon=True)
            self._thread.start()
        log.info(
            "alerts: PUB %s, replay %s, log %s (continuing after seq %d)",
            self.endpoint,
            self.replay_endpoint or "off",
            self.log.path,
            self.log.last_seq,
        )

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, message: dict) -> dict:
        """Stamp, validate, log (flush, fsync for seizure/signal), then send. Returns the stamped message.

        A message the schema refuses raises :class:`realtime.messages.MessageError` before anything
        is logged or sent (and its sequence number is not used).

        A log write failure is counted (``alert_log``) and logged, and the message is still sent:
        an alarm nobody hears is worse than a gap in the log.
        """
        stamped = self.sequencer.stamp(dict(message))
        try:
            frames = encode(stamped)  # validates: nothing invalid is logged or sent
        except Exception:
            self.sequencer.last -= 1  # the number was not used
            raise
        topic = str(stamped["type"])
        try:
            self.log.append_line(frames[1], seq=int(stamped["seq"]), durable=topic.startswith(DURABLE_PREFIXES))
        except (OSError, ValueError) as exc:
            self._on_error("alert_log")
            log.error("could not write seq %s to the alert log %s: %s", stamped.get("seq"), self.log.path, exc)
        with self.log.lock:
            self._cache.append(stamped)
        try:
            self._pub.send_multipart(frames, flags=zmq.NOBLOCK)
            self._on_published(topic)
        except zmq.ZMQError as exc:
            self._on_error("publish")
            log.error("could not send seq %s (%s): %s", stamped.get("seq"), topic, exc)
        return stamped

    @property
    def last_seq(self) -> int:
        return self.log.last_seq

    # -- replay -------------------------------------------------------------------------------------
    def answer(self, raw: bytes) -> dict:
        """The reply to one replay request (pure apart from reading the log)."""
        try:
            req = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return {"error": f'expected a JSON object like {{"since_seq": 0}}, got {raw[:200]!r}'}
        if not isinstance(req, dict):
            return {"error": f'expected a JSON object like {{"since_seq": 0}}, got {req!r}'[:300]}
        since = req.get("since_seq")
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            return {"error": f"since_seq: expected an integer >= 0, got {since!r}"}
        topics = req.get("topics", [])
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            return {"error": f"topics: expected a list of topic prefixes, got {topics!r}"}
        limit = req.get("limit", REPLAY_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= REPLAY_LIMIT:
            return {"error": f"limit: expected an integer in 1..{REPLAY_LIMIT}, got {limit!r}"}
        unknown = set(req) - {"since_seq", "topics", "limit"}
        if unknown:
            return {"error": f"unknown request fields {sorted(unknown)!r} (known: since_seq, topics, limit)"}
        topics_t = tuple(topics)
        with self.log.lock:
            cached = list(self._cache)
            upto = self.log._fh.tell()
            last = self.log.last_seq
        if cached and cached[0]["seq"] <= since + 1:
            msgs = [m for m in cached if m["seq"] > since and _topic_ok(m, topics_t)]
            more = len(msgs) > limit
            msgs = msgs[:limit]
        else:
            msgs, more = self.log.read_since(since, topics_t, limit, upto_bytes=upto)
        return {"messages": msgs, "more": more, "last_seq": last}

    def _serve_replay(self) -> None:
        rep = self._rep
        if rep is None:  # started only when a replay endpoint is bound
            return
        poller = zmq.Poller()
        poller.register(rep, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(100):
                    continue
                raw = rep.recv(flags=zmq.NOBLOCK)
                try:
                    reply = self.answer(raw)
                except Exception as exc:  # a broken log must not kill the replay thread
                    log.exception("replay request failed")
                    self._on_error("replay")
                    reply = {"error": f"internal error: {exc}"}
                rep.send(json.dumps(reply, separators=(",", ":")).encode("utf-8"))
            except zmq.ZMQError as exc:
                if self._stop.is_set():
                    break
                log.error("replay socket: %s", exc)
                self._on_error("replay")
                time.sleep(0.1)

    # -- shutdown -----------------------------------------------------------------------------------
    def _close_sockets(self) -> None:
        for sock in (self._pub, self._rep):
            if sock is not None and not sock.closed:
                sock.close(linger=0)

    def close(self, flush_s: float = 0.2) -> None:
        """Give queued messages ``flush_s`` to leave, then close everything (linger 0)."""
        if flush_s > 0:
            time.sleep(flush_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_sockets()
        self.log.close()


class Subscriber:
    """Client for ``realtime-alerts``: replay since a sequence number, then live, no duplicates.

    ``topics`` are prefixes (``seizure`` matches ``seizure.onset`` and ``seizure.offset``); the
    SUB socket takes everything so gaps in ``seq`` are noticed and filled from the replay socket.
    """

    def __init__(
        self,
        endpoint: str,
        replay_endpoint: str = "",
        topics: Iterable[str] = (),
        since: int | None = None,
        *,
        context: zmq.Context | None = None,
        replay_timeout_s: float = 2.0,
        warn: Callable[[str], None] | None = None,
    ):
        self._ctx = context or zmq.Context.instance()
        self.endpoint, self.replay_endpoint = endpoint, replay_endpoint
        self.topics = tuple(topics)
        self.last_seq = since
        self.replay_timeout_s = replay_timeout_s
        self._warn = warn or (lambda text: log.warning("%s", text))
        self._seen: collections.deque[int] = collections.deque(maxlen=10_000)
        self._seen_set: set[int] = set()
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(endpoint)
        self._pending: collections.deque[dict] = collections.deque()
        if since is not None and replay_endpoint:
            self._fill(since)

    def _remember(self, seq: int) -> None:
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(seq)
        self._seen_set.add(seq)

    def replay(self, since_seq: int) -> list[dict]:
        """Every logged message after ``since_seq`` (all pages); [] with a warning if unreachable."""
        out: list[dict] = []
        while True:
            req = self._ctx.socket(zmq.REQ)
            req.setsockopt(zmq.LINGER, 0)
            req.setsockopt(zmq.RCVTIMEO, int(self.replay_timeout_s * 1000))
            req.setsockopt(zmq.SNDTIMEO, int(self.replay_timeout_s * 1000))
            try:
                req.connect(self.replay_endpoint)
                req.send(json.dumps({"since_seq": since_seq}).encode())
                reply = json.loads(req.recv())
            except (zmq.ZMQError, ValueError) as exc:
                self._warn(f"replay from {self.replay_endpoint} failed ({exc}); continuing with live messages")
                return out
            finally:
                req.close(linger=0)
            if "error" in reply:
                self._warn(f"replay refused: {reply['error']}")
                return out
            msgs = reply.get("messages", [])
            out.extend(msgs)
            if not reply.get("more") or not msgs:
                return out
            since_seq = msgs[-1]["seq"]

    def _fill(self, since_seq: int) -> None:
        for msg in self.replay(since_seq):
            self._accept(msg)

    def _accept(self, msg: dict) -> None:
        seq = msg.get("seq")
        if not isinstance(seq, int) or seq in self._seen_set:
            return
        if self.last_seq is not None and seq <= self.last_seq:
            if seq in self._seen_set or not self._seen:
                return
            self._warn(f"sequence went back from {self.last_seq} to {seq} (a new alert log?); following it")
        self._remember(seq)
        self.last_seq = seq
        if _topic_ok(msg, self.topics):
            self._pending.append(msg)

    def receive(self, timeout_s: float | None) -> dict | None:
        """The next message for the chosen topics, or None after ``timeout_s`` (None = wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._pending:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if remaining is not None and remaining <= 0:
                return None
            if not self._sub.poll(None if remaining is None else int(remaining * 1000) or 1):
                continue
            frames = self._sub.recv_multipart()
            try:
                msg = decode(frames)
            except Exception as exc:
                self._warn(f"ignored an undecodable message: {exc}")
                continue
            seq = msg.get("seq")
            if isinstance(seq, int) and self.last_seq is not None and seq > self.last_seq + 1 and self.replay_endpoint:
                self._fill(self.last_seq)  # missed something: fetch it before the live message
            self._accept(msg)
        return self._pending.popleft()

    def __iter__(self) -> Iterator[dict]:
        while True:
            msg = self.receive(None)
            if msg is not None:
                yield msg

    def close(self) -> None:
        self._sub.close(linger=0)


def replay_request(endpoint: str, request: Any, timeout_s: float = 2.0, context: zmq.Context | None = None) -> dict:
    """Send one raw replay request (a JSON-able object, or bytes as they are); return the reply."""
    ctx = context or zmq.Context.instance()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
    try:
        req.connect(endpoint)
        req.send(request if isinstance(request, bytes) else json.dumps(request).encode())
        return json.loads(req.recv())
    finally:
        req.close(linger=0)
