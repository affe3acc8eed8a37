"""Publishing alerts: the append-only alert log, the ZeroMQ PUB socket, the replay (REP) socket.

Order of operations for every message (:meth:`Publisher.publish`):

1. stamp it (``seq``, ``run``, ``wall_time``) with the :class:`realtime.messages.Sequencer`. Numbers
   never repeat: the sequence starts above both the log's last ``seq`` and the durable high-water
   mark in ``<log>.seq``, which is written (fsync, atomic replace) before any number of a new block
   of :data:`SEQ_BLOCK` is used, and set to the last number used on a clean close. Lines lost from
   the log's end (a power cut: heartbeats are not fsync-ed; a full disk) cannot make a restarted
   daemon hand out numbers again. ``run`` is a random id made at each start;
2. append it to the JSONL alert log and flush; ``seizure.*`` and ``status.signal`` messages are
   also ``fsync``-ed, so a message a subscriber may have seen is on disk first. Every write is
   checked (a short write is an error); a message that could not be written whole is counted
   (``on_error("alert_log")``, once per message) and the next write starts on a new line, so a torn
   line is never glued to the next record;
3. send ``[topic, json]`` on the PUB socket.

Heartbeats are logged too (flushed, not fsync-ed). At one heartbeat every 5 s that is about 5 MB a
day; rotate the log with the daemon stopped (keep ``<log>.seq``: it carries the numbering).

``status.window`` (one per bed per scored window, only with ``alerts.publish_windows``) is outside all of
this (:data:`realtime.messages.UNSEQUENCED_TOPICS`): :meth:`Publisher.publish_unlogged` marks it with ``run`` and
``wall_time`` but no ``seq``, validates it and sends it, and neither logs nor keeps it, so it is never
replayed. The log, the numbering and its high-water mark stay those of the alarm messages alone: "every
message a subscriber saw is in the log, in the same order" holds for every message that has a ``seq``.

The replay socket (REP, served by a background thread that owns it, with the request loop of
:class:`realtime.replay_server.ReplayServer`, shared with the fan-in) answers
``{"since_seq": N[, "topics": [prefix, ...]][, "limit": M]}`` with
``{"messages": [...], "more": bool, "last_seq": S}`` (every logged message with ``seq > N``,
oldest first, at most ``limit``; ``more`` says a further request is needed). Bad requests get
``{"error": "..."}`` quoting what was received; multipart requests, requests over
:data:`MAX_REQUEST_BYTES` and requests beyond ``replay_rate_per_s`` are refused up front with one
error reply (and one log line, at most one per 10 s). With CURVE, ``{"ack": EVENT_ID[, "note":
TEXT]}`` acknowledges an open event as the authenticated client (:class:`AckRequest`).

CurveZMQ (``curve_secret_key`` + ``curve_clients_dir``): the PUB and replay sockets are CURVE
servers, and a ZAP authenticator (pyzmq's :class:`zmq.auth.thread.ThreadAuthenticator`) lets in only
the client public keys in the directory (``NAME.key``, made by ``realtime-keys``; the directory is
read again at each handshake). Without CURVE only loopback endpoints may be bound unless
``allow_plaintext_remote``.

:class:`Subscriber` is the client side (``realtime-alerts``): it asks for replay first when given
a sequence number, then follows the live stream, de-duplicating by ``(run, seq)`` and filling gaps
in the sequence from the replay socket; numbering that goes back or a new run is reported and the
messages are kept. It subscribes to every sequenced topic (gaps must be seen whatever it prints) and to
``status.window`` only when its topics ask for it; those pass straight through (no ``seq``: no gap check,
nothing to fill, no de-duplication).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ipaddress
import json
import logging
import os
import queue
import random
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from realtime.messages import SEQUENCED_TOPICS, UNSEQUENCED_TOPICS, Sequencer, decode, encode
from realtime.replay_server import ReplayServer, parse_json_object

log = logging.getLogger(__name__)

DURABLE_PREFIXES = ("seizure.", "status.signal")
REPLAY_LIMIT = 10_000  # messages per replay answer
MAX_REQUEST_BYTES = 4096  # a replay/ack request larger than this is refused with an error reply
MAX_FRAME_BYTES = 64 * 1024  # ZMQ_MAXMSGSIZE of the replay socket: a peer sending more is disconnected
REPLAY_RATE_PER_S = 20.0  # replay/ack requests answered per second (a burst of as many), the rest refused
BISECT_BYTES = 8 << 20  # a replay from a log larger than this enters it where its numbering passes the asked seq
BISECT_PROBE_BYTES = 64 << 10  # how far one bisection probe reads for a whole message line
REPLAY_TRIES = 5  # a subscriber asks a page refused with "try again" this many times in all
REPLAY_RETRY_S = 0.2  # before its second try; doubled before each further one, times 1-2 (jitter): 0.2-6 s in all
ACK_WAIT_S = 2.0  # how long the replay thread waits for the daemon loop to answer an acknowledgement
NOTE_MAX_CHARS = 200  # an acknowledgement's note
SEQ_BLOCK = 1000  # sequence numbers reserved per write of the high-water mark
WARN_INTERVAL_S = 10.0  # repeated warnings of one kind (bad requests, refused keys) at most this often
RECENT_BYTES = 2 * 1024 * 1024  # message text kept in memory for replay: ~5,000 messages, 7 h of 5 s heartbeats
_TAIL_BLOCK = 64 * 1024
_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
)


class PublisherConfigError(ValueError):
    """A configuration the publisher refuses (plaintext off loopback, unusable CURVE keys)."""


def default_log_path(env: dict[str, str] | None = None) -> Path:
    """Where the alert log goes when ``alerts.log_path`` is empty; never the working directory.

    ``$STATE_DIRECTORY/alerts.jsonl`` (its first directory, as systemd sets it), else
    ``$XDG_STATE_HOME/realtime-detect/alerts.jsonl`` (an absolute ``XDG_STATE_HOME`` only, as the XDG
    spec says), else ``~/.local/state/realtime-detect/alerts.jsonl`` (``$HOME``, else the user's
    home from the password database).
    """
    env = env if env is not None else dict(os.environ)
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state) / "alerts.jsonl"
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    else:
        home = env.get("HOME") or str(Path.home())
        base = Path(home) / ".local" / "state"
    return base / "realtime-detect" / "alerts.jsonl"


def is_local_endpoint(endpoint: str) -> bool:
    """True for endpoints only this machine can reach: ``ipc://``, ``inproc://``, and ``tcp://`` (or
    ``ws://``) on ``localhost``, ``127.x.x.x`` or ``[::1]``. Wildcards, interface names and other
    addresses are not local."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        return False
    if scheme in ("ipc", "inproc"):
        return True
    if scheme not in ("tcp", "ws", "wss"):
        return False
    host, colon, _port = rest.split("/", 1)[0].rpartition(":")
    if not colon or not host:
        return False
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_line(line: bytes) -> dict | None:
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    seq = msg.get("seq") if isinstance(msg, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:  # JSON true is no sequence number
        return None
    return msg


def _topic_ok(msg: dict, topics: tuple[str, ...]) -> bool:
    return not topics or any(str(msg.get("type", "")).startswith(t) for t in topics)


class RecentMessages:
    """The newest published messages, as the JSON lines they were logged as, for replay without reading the log.

    Bounded by the bytes of text kept (``max_bytes``; the oldest go first), not by a count, so the daemon's
    memory stops growing at a known size whatever the message rate (plus about 100 bytes per message for
    the entry itself). A line is parsed again only when a replay answer takes it. Not thread-safe: the
    publisher calls it under its log lock.
    """

    def __init__(self, max_bytes: int = RECENT_BYTES):
        if max_bytes < 1:
            raise ValueError(f"max_bytes: expected a positive byte count, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: collections.deque[tuple[int, str, bytes]] = collections.deque()  # (seq, topic, line)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, seq: int, topic: str, line: bytes) -> None:
        """Keep ``line`` (one message's JSON text), published with ``seq`` (increasing) under ``topic``."""
        self._entries.append((seq, topic, line))
        self.bytes += len(line)
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            self.bytes -= len(self._entries.popleft()[2])

    def since(self, since_seq: int, topics: tuple[str, ...], limit: int) -> list[bytes] | None:
        """The lines with ``seq > since_seq`` whose topic starts with one of ``topics`` (none: every topic),
        oldest first, at most ``limit + 1`` (one more says there are more); None when messages older than
        the oldest kept are asked for (they are in the log)."""
        if not self._entries or self._entries[0][0] > since_seq + 1:
            return None
        out: list[bytes] = []
        for seq, topic, line in self._entries:
            if seq > since_seq and (not topics or topic.startswith(topics)):
                out.append(line)
                if len(out) > limit:
                    break
        return out


def subscriptions(topics: tuple[str, ...]) -> list[str]:
    """The SUB prefixes of a :class:`Subscriber` of ``topics`` (prefixes; none: every topic): every sequenced
    topic, so that a gap in ``seq`` is seen whatever is printed (a family no unsequenced topic shares by its
    prefix, ``seizure.``, so that a later daemon's new ``seizure.*`` topic is received too), and each
    unsequenced topic (``status.window``) that one of ``topics`` matches."""
    out: list[str] = []
    for topic in SEQUENCED_TOPICS:
        family = topic.split(".", 1)[0] + "."
        prefix = topic if any(u.startswith(family) for u in UNSEQUENCED_TOPICS) else family
        if prefix not in out:
            out.append(prefix)
    out += [t for t in UNSEQUENCED_TOPICS if not topics or any(t.startswith(p) for p in topics)]
    return out


class _Throttle:
    """Log one warning of a kind at once, then at most one per ``interval_s``, counting the rest."""

    def __init__(self, interval_s: float = WARN_INTERVAL_S):
        self.interval_s = interval_s
        self._last = -float("inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def warn(self, fmt: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval_s:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            log.warning(fmt + " (and %d more like it in the last %.0f s)", *args, suppressed, self.interval_s)
        else:
            log.warning(fmt, *args)


class _RateLimit:
    """A token bucket: ``rate_per_s`` tokens a second, at most ``max(1, rate_per_s)`` saved up."""

    def __init__(self, rate_per_s: float):
        if not rate_per_s > 0:
            raise ValueError(f"replay rate must be > 0 requests per second, got {rate_per_s!r}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = max(1.0, self.rate_per_s)
        self._tokens = self.capacity
        self._then = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._then) * self.rate_per_s)
        self._then = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SequenceMark:
    """The durable high-water mark ``<log>.seq``: no sequence number above it has ever been used.

    One decimal integer and a newline, replaced atomically (written to ``.tmp``, fsync-ed, renamed,
    directory fsync-ed).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> int:
        """The mark, 0 if there is none; an unreadable mark is logged and read as 0."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("sequence mark %s cannot be read (%s); numbering continues from the log only", self.path, exc)
            return 0
        if not text.isdigit():
            log.warning(
                "sequence mark %s holds %r, not a number; numbering continues from the log only", self.path, text[:80]
            )
            return 0
        return int(text)

    def write(self, mark: int) -> None:
        """Replace the mark durably. Raises OSError."""
        replace_durably(self.path, f"{int(mark)}\n".encode("ascii"))


def replace_durably(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data`` atomically and durably: written to ``<path>.tmp``, fsync-ed, renamed,
    the directory fsync-ed (a crash leaves the old file or the new one). Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(f"short write of {tmp}")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class AlertLog:
    """The append-only JSONL log; one message per line, every line flushed when written.

    Every write is checked: a message not written whole raises OSError, and the next message starts
    on a new line (the torn bytes stay on a line of their own, which readers skip).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.last_seq, needs_newline = self._scan_tail()
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - open for the log's lifetime, closed by close()
        # A torn last line (power cut mid-write) stays as it is; the next message starts on its own line.
        self._torn = needs_newline
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
        """Write one JSON text (no newline) as a line and flush it (``durable``: also fsync).

        Raises OSError when the line was not written whole (a short write, ENOSPC, EFBIG) or the fsync
        failed; a partly written line is ended by the next write's leading newline.
        """
        with self.lock:
            data = (b"\n" if self._torn else b"") + line + b"\n"
            written, error = self._write_all(data)
            if written:
                self._torn = data[written - 1 : written] != b"\n"
            if error is not None:
                raise error
            if durable:
                os.fsync(self._fh.fileno())
            self.last_seq = max(self.last_seq, seq)

    def _write_all(self, data: bytes) -> tuple[int, OSError | None]:
        """Write ``data``, retrying short writes; (bytes written, the error that stopped it or None)."""
        view, done = memoryview(data), 0
        while done < len(data):
            try:
                n = self._fh.write(view[done:])
            except OSError as exc:
                return done, exc
            if not n:  # nothing written and no error: treat as a full device rather than loop
                return done, OSError(f"short write: {done} of {len(data)} bytes written, then none")
            done += n
        return done, None

    def size(self) -> int:
        with self.lock:
            return self._fh.tell()

    def read_since(
        self, since_seq: int, topics: tuple[str, ...] = (), limit: int = REPLAY_LIMIT, upto_bytes: int | None = None
    ) -> tuple[list[dict], bool]:
        """Messages with ``seq > since_seq`` (oldest first, at most ``limit``) and whether more exist. A log over
        :data:`BISECT_BYTES` is entered where its numbering passes ``since_seq`` (:meth:`_start_before`), not read
        from its first line: a page costs the same in a log of a month as in one of a day."""
        out: list[dict] = []
        upto = self.size() if upto_bytes is None else upto_bytes
        with open(self.path, "rb") as fh:
            read = self._start_before(fh, since_seq, upto) if upto > BISECT_BYTES else 0
            fh.seek(read)
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

    @staticmethod
    def _start_before(fh: Any, since_seq: int, upto: int) -> int:
        """A line start in the log (``fh``, binary) before which every message has ``seq <= since_seq``: a bisection
        over byte offsets on the first whole message line after each probe. The numbering only grows down the log (a
        restart continues above its last ``seq``), so nothing after ``since_seq`` is passed over; a probe that finds
        no message within :data:`BISECT_PROBE_BYTES` (torn or foreign lines) ends the bisection where it stands."""
        lo, hi = 0, upto  # invariant: the messages before offset lo have seq <= since_seq
        while hi - lo > BISECT_PROBE_BYTES:
            mid = (lo + hi) // 2
            fh.seek(mid)
            fh.readline()  # the rest of the line the probe fell in
            start, seq = fh.tell(), None
            while seq is None and fh.tell() < min(upto, start + BISECT_PROBE_BYTES):
                at = fh.tell()
                msg = _parse_line(fh.readline())
                if msg is not None:
                    seq, start = msg["seq"], at
            if seq is None:
                break
            if seq <= since_seq:
                lo = start
            else:
                hi = mid
        return lo

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()


# -- CurveZMQ -------------------------------------------------------------------------------------------
def _load_key_file(path: str | Path, *, secret: bool, what: str) -> tuple[bytes, bytes | None]:
    """(public, secret) z85 keys of a zmq.auth key file; PublisherConfigError quoting the path."""
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise PublisherConfigError(f"{what} {str(path)!r}: not a readable zmq key file ({exc})") from None
    if len(public) != 40 or (secret and (secret_key is None or len(secret_key) != 40)):
        raise PublisherConfigError(
            f"{what} {str(path)!r}: expected a {'secret' if secret else 'public'} key file made by "
            f"realtime-keys (NAME.key_secret / NAME.key)"
        )
    for key in (public, secret_key):  # 40 characters that are not Z85 (a mistyped one): libzmq refuses the socket
        try:
            if key is not None and len(z85.decode(key)) != 32:
                raise ValueError("not 32 bytes")
        except (ValueError, KeyError, TypeError) as exc:
            raise PublisherConfigError(
                f"{what} {str(path)!r}: a key in it is not a Z85-encoded CURVE key ({exc or type(exc).__name__}); "
                "make a new pair with realtime-keys"
            ) from None
    return public, secret_key


class ClientAllowList:
    """The CURVE allow-list: every ``NAME.key`` in a directory, a public key each; ``NAME`` names it.

    A credentials provider for :meth:`zmq.auth.Authenticator.configure_curve_callback`: the directory
    is read again at each handshake, so adding or removing a key file takes effect for the next
    connection. Refused keys are logged (WARNING, at most one line per 10 s).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise PublisherConfigError(f"curve_clients_dir {str(directory)!r} is not a directory")
        self._names: dict[bytes, str] = {}
        self._refused = _Throttle()
        self._unreadable = _Throttle()
        self.scan()

    def scan(self) -> dict[bytes, str]:
        """Public key (z85) -> name, read from the directory now."""
        names: dict[bytes, str] = {}
        try:
            files = sorted(self.directory.glob("*.key"))
        except OSError as exc:
            self._unreadable.warn(
                "CURVE clients directory %s cannot be read: %s; refusing every client", self.directory, exc
            )
            files = []
        for path in files:
            try:
                public, _ = zmq.auth.load_certificate(str(path))
            except (OSError, ValueError) as exc:
                self._unreadable.warn("CURVE client key %s ignored: %s", path, exc)
                continue
            names[public] = path.stem
        self._names = names
        return names

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: is this client key (z85) allowed? Logs a refusal. Never raises (the ZAP thread must live)."""
        try:
            if key in self.scan():
                return True
        except Exception:  # an unexpected failure refuses the client rather than stopping every handshake
            log.exception("alerts: CURVE allow-list check failed; refusing the client")
            return False
        self._refused.warn(
            "alerts: refused a CURVE client: its public key %s is not in %s",
            key.decode("ascii", "replace"),
            self.directory,
        )
        return False

    def name_of(self, key: bytes) -> str:
        """The name of an allowed key (z85); the key itself if no file names it (any more)."""
        return self._names.get(key, key.decode("ascii", "replace"))


class _Authenticator(ThreadAuthenticator):
    """pyzmq's ZAP thread, whose User-Id for a CURVE client is its key file's name (``nurse-3``)."""

    def __init__(self, context: zmq.Context, allow: ClientAllowList):
        super().__init__(context, log=logging.getLogger("realtime.alerts.zap"))
        self.allow_list = allow

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.allow_list.name_of(z85.encode(client_public_key))


@dataclass(frozen=True)
class ClientKeys:
    """A subscriber's CURVE keys (z85): its own pair, and the server's public key it insists on."""

    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def load(cls, server_key: str | Path, client_key: str | Path) -> ClientKeys:
        """From the server's public key file and this client's secret key file (``realtime-keys``).

        Raises :class:`PublisherConfigError` quoting a file that is missing or not a key file.
        """
        server, _ = _load_key_file(server_key, secret=False, what="server key")
        public, secret = _load_key_file(client_key, secret=True, what="client secret key")
        assert secret is not None  # _load_key_file(secret=True) checked it
        return cls(public=public, secret=secret, server=server)

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client pinned to the server's key (before connecting)."""
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server


@dataclass
class AckRequest:
    """An acknowledgement received on the replay socket, for the daemon loop to decide.

    ``by``: the authenticated client's name (its key file's stem in ``curve_clients_dir``). The daemon
    answers with ``reply.set_result({"ok": True, ...})`` or ``reply.set_result({"error": "..."})``;
    the dict is sent to the client as it is.
    """

    event_id: int
    by: str
    note: str
    reply: concurrent.futures.Future[dict]


class Publisher:
    """PUB + replay REP + alert log. ``publish`` is called from one thread (the daemon loop).

    ``endpoint`` / ``replay_endpoint`` may use ``tcp://127.0.0.1:*``; the bound addresses are
    ``self.endpoint`` / ``self.replay_endpoint`` afterwards. ``on_error(kind)`` is called for errors
    handled without raising (``alert_log`` once per message not written whole, ``publish``,
    ``replay``), e.g. to count them.

    ``curve_secret_key`` (a ``.key_secret`` file) and ``curve_clients_dir`` (allowed ``NAME.key``
    files) together make both sockets CURVE servers behind a ZAP allow-list (one authenticator per
    context: without ``context`` a private one is made). Without them, binding an endpoint that is
    not local (:func:`is_local_endpoint`) raises :class:`PublisherConfigError` unless
    ``allow_plaintext_remote`` (then a WARNING).

    Raises :class:`PublisherConfigError` for such configuration problems (before anything is opened),
    ``zmq.ZMQError`` / ``OSError`` at construction if a socket cannot be bound or the log cannot be
    opened.
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
        curve_secret_key: str = "",
        curve_clients_dir: str = "",
        allow_plaintext_remote: bool = False,
        replay_rate_per_s: float = REPLAY_RATE_PER_S,
        ack_wait_s: float = ACK_WAIT_S,
    ):
        self._on_error = on_error or (lambda kind: None)
        self._on_published = on_published or (lambda topic: None)
        # -- configuration checks first: nothing is opened for a configuration that is refused
        if bool(curve_secret_key) != bool(curve_clients_dir):
            raise PublisherConfigError(
                "CURVE needs both alerts.curve_secret_key and alerts.curve_clients_dir, got "
                f"curve_secret_key={curve_secret_key!r}, curve_clients_dir={curve_clients_dir!r}"
            )
        self.curve = bool(curve_secret_key)
        for name, ep in (("alerts.endpoint", endpoint), ("alerts.replay_endpoint", replay_endpoint)):
            if ep and not self.curve and not is_local_endpoint(ep):
                if not allow_plaintext_remote:
                    raise PublisherConfigError(
                        f"{name} {ep!r} is not a loopback address and CURVE is off: anyone who can reach it "
                        "could read the alerts, and a process holding the port could forge them. Set "
                        "alerts.curve_secret_key and alerts.curve_clients_dir (keys from realtime-keys), "
                        "bind 127.0.0.1, or set alerts.allow_plaintext_remote = true"
                    )
                log.warning(
                    "alerts: %s %s is not loopback and CURVE is off (allow_plaintext_remote): alerts travel "
                    "unauthenticated and unencrypted",
                    name,
                    ep,
                )
        self._rate = _RateLimit(replay_rate_per_s)
        if not ack_wait_s > 0:
            raise PublisherConfigError(f"ack_wait_s must be > 0, got {ack_wait_s!r}")
        self.ack_wait_s = float(ack_wait_s)
        server_secret = b""
        self.allow_list: ClientAllowList | None = None
        if self.curve:
            _public, secret = _load_key_file(curve_secret_key, secret=True, what="alerts.curve_secret_key")
            assert secret is not None
            server_secret = secret
            with contextlib.suppress(OSError):
                mode = os.stat(curve_secret_key).st_mode
                if mode & (stat.S_IRWXG | stat.S_IRWXO):
                    log.warning(
                        "alerts: the server secret key %s can be read by others (mode %o); chmod 600 it",
                        curve_secret_key,
                        stat.S_IMODE(mode),
                    )
            self.allow_list = ClientAllowList(curve_clients_dir)
            if not self.allow_list.scan():
                log.warning(
                    "alerts: no client keys (*.key) in %s: no subscriber can connect until one is added",
                    curve_clients_dir,
                )
        # -- state
        self.log = AlertLog(log_path)
        self.mark = SequenceMark(Path(str(self.log.path) + ".seq"))
        start = max(self.log.last_seq, self.mark.read())
        self._own_ctx = self.curve and context is None  # a private context for a private ZAP handler
        self._ctx = zmq.Context() if self._own_ctx else (context or zmq.Context.instance())
        self.sequencer = Sequencer(start=start, reserve=self._reserve, block=SEQ_BLOCK)
        self.run = self.sequencer.run
        self.recent = RecentMessages()
        self._acks: queue.SimpleQueue[AckRequest] = queue.SimpleQueue()
        self._refusals: collections.defaultdict[str, _Throttle] = collections.defaultdict(_Throttle)
        self._auth: _Authenticator | None = None
        self._pub: zmq.Socket | None = None
        self._rep: zmq.Socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        try:
            if self.curve:
                assert self.allow_list is not None
                self._auth = _Authenticator(self._ctx, self.allow_list)
                self._auth.start()
                self._auth.configure_curve_callback("*", credentials_provider=self.allow_list)
            self._pub = self._socket(zmq.PUB, server_secret)
            self._pub.bind(endpoint)
            self.endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
            self.replay_endpoint = ""
            if replay_endpoint:
                self._rep = self._socket(zmq.REP, server_secret)
                self._rep.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
                self._rep.bind(replay_endpoint)
                self.replay_endpoint = self._rep.getsockopt_string(zmq.LAST_ENDPOINT)
        except Exception:
            self._close_sockets()
            self.log.close()
            raise
        if self._rep is not None:
            server = ReplayServer(
                self._rep,
                self._answer_frame,
                stop=self._stop,
                rate=self._rate,
                refusals=self._refusals,
                log=log,
                prefix="replay: ",
                max_request_bytes=MAX_REQUEST_BYTES,
                multipart_says_size=True,
                on_failure=lambda: self._on_error("replay"),
            )
            self._thread = threading.Thread(target=server.serve, name="alerts-replay", daemon=True)
            self._thread.start()
        log.info(
            "alerts: PUB %s, replay %s, log %s (continuing after seq %d, run %s), %s",
            self.endpoint,
            self.replay_endpoint or "off",
            self.log.path,
            start,
            self.run,
            f"CURVE on (clients: {curve_clients_dir})" if self.curve else "CURVE off",
        )

    def _socket(self, kind: int, server_secret: bytes) -> zmq.Socket:
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            if server_secret:
                sock.curve_server = True
                sock.curve_secretkey = server_secret
        except zmq.ZMQError:
            sock.close(0)  # not yet kept anywhere: left open, the context could never terminate
            raise
        return sock

    def _reserve(self, mark: int) -> None:
        """The Sequencer's reservation: make ``mark`` durable before numbers up to it are used."""
        try:
            self.mark.write(mark)
        except OSError as exc:
            self._on_error("alert_log")
            log.error(
                "could not write the sequence mark %s (%s): a restart after lost log lines could reuse "
                "numbers (the run id in every message still tells them apart)",
                self.mark.path,
                exc,
            )

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, message: dict) -> dict:
        """Stamp, validate, log (flush, fsync for seizure/signal), then send. Returns the stamped message.

        A message the schema refuses raises :class:`realtime.messages.MessageError` before anything
        is logged or sent (and its sequence number is not used).

        A message not written whole to the log is counted (``alert_log``, once) and logged, and is
        still sent: an alarm nobody hears is worse than a gap in the log.
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
            self.recent.append(int(stamped["seq"]), topic, frames[1])
        self._send(frames, topic, f"seq {stamped.get('seq')} ({topic})")
        return stamped

    def publish_unlogged(self, message: dict) -> dict:
        """Mark (``run``, ``wall_time``; no ``seq``), validate and send a message of
        :data:`realtime.messages.UNSEQUENCED_TOPICS` (``status.window``); it is neither logged nor kept for
        replay, and uses no sequence number. Returns the marked message.

        A message of another topic, or one the schema refuses, raises :class:`realtime.messages.MessageError`
        before anything is sent. A send that fails is counted (``publish``) and logged, not raised.
        """
        marked = self.sequencer.mark(message)
        frames = encode(marked)  # validates
        topic = str(marked["type"])
        self._send(frames, topic, f"a {topic} message")
        return marked

    def _send(self, frames: list[bytes], topic: str, what: str) -> None:
        """Send without blocking; a failure is counted (``publish``) and logged, not raised."""
        assert self._pub is not None
        try:
            self._pub.send_multipart(frames, flags=zmq.NOBLOCK)
            self._on_published(topic)
        except zmq.ZMQError as exc:
            self._on_error("publish")
            log.error("could not send %s: %s", what, exc)

    @property
    def last_seq(self) -> int:
        """The last sequence number used (or, before the first message, the one the numbering continues after)."""
        return self.sequencer.last

    # -- acknowledgements ---------------------------------------------------------------------------
    def pending_acks(self) -> list[AckRequest]:
        """Acknowledgements received since the last call (non-blocking; the daemon loop calls it once per
        iteration and answers each ``req.reply``). Requests whose client gave up are left out."""
        out: list[AckRequest] = []
        while True:
            try:
                req = self._acks.get_nowait()
            except queue.Empty:
                return out
            if req.reply.set_running_or_notify_cancel():
                out.append(req)

    def _ack(self, req: dict, user: str | None) -> dict:
        """The reply to ``{"ack": EVENT_ID[, "note": TEXT]}``: the daemon loop's answer, or an error."""
        if not self.curve:
            return {
                "error": "acknowledgement needs CURVE authentication (the daemon has no alerts.curve_secret_key / "
                "alerts.curve_clients_dir), so it cannot tell who acknowledges"
            }
        event_id, note = req.get("ack"), req.get("note", "")
        if not isinstance(event_id, int) or isinstance(event_id, bool) or event_id < 1:
            return {"error": f"ack: expected an event id (an integer >= 1), got {event_id!r:.100}"}
        if not isinstance(note, str) or len(note) > NOTE_MAX_CHARS:
            return {"error": f"note: expected a string of at most {NOTE_MAX_CHARS} characters, got {note!r:.100}"}
        if any(ord(c) < 32 or ord(c) == 127 for c in note):
            return {"error": f"note: control characters (newlines, tabs) are not allowed, got {note!r:.100}"}
        if any(0xD800 <= ord(c) <= 0xDFFF for c in note):  # valid JSON ("\\ud800"), no UTF-8: it could not be logged
            return {"error": f"note: not Unicode text (a lone surrogate: another encoding?), got {note!r:.100}"}
        unknown = set(req) - {"ack", "note"}
        if unknown:
            return {"error": f"unknown acknowledgement fields {sorted(unknown)!r} (known: ack, note)"}
        if not user:
            return {"error": "acknowledgement from a client without a CURVE identity"}
        fut: concurrent.futures.Future[dict] = concurrent.futures.Future()
        self._acks.put(AckRequest(event_id=event_id, by=user, note=note, reply=fut))
        answer = self._wait(fut, self.ack_wait_s)
        if answer is None and not fut.cancel():  # the daemon took it: give it as long again to answer
            answer = self._wait(fut, self.ack_wait_s)
        if answer is None:
            answer = {"error": "daemon busy, try again"}
        log.info("alerts: acknowledgement of event %d by %s (note %r): %s", event_id, user, note, answer)
        return answer

    def _wait(self, fut: concurrent.futures.Future[dict], timeout_s: float) -> dict | None:
        deadline = time.monotonic() + timeout_s
        while not self._stop.is_set():
            try:
                result = fut.result(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            except concurrent.futures.TimeoutError:
                if time.monotonic() >= deadline:
                    return None
                continue
            except concurrent.futures.CancelledError:
                return None
            except Exception as exc:  # the daemon set an exception instead of an answer
                return {"error": f"acknowledgement failed: {exc}"}
            if not isinstance(result, dict):
                return {"error": f"internal error: the daemon answered {result!r:.100}"}
            return result
        return {"error": "daemon stopping"}

    # -- replay -------------------------------------------------------------------------------------
    def answer(self, raw: bytes, user: str | None = None) -> dict:
        """The reply to one request (replay: pure apart from reading the log; ack: waits for the daemon).

        ``user``: the client's CURVE identity (its key's name), None without CURVE.
        """
        parsed = self._parse(raw)
        if "error" in parsed:
            return parsed["error"]
        if "ack" in parsed["request"]:
            return self._ack(parsed["request"], user)
        return self._replay(parsed["request"])

    @staticmethod
    def _parse(raw: bytes) -> dict:
        """``{"request": dict}`` or ``{"error": reply}`` for bytes that are not a JSON object."""
        req, error = parse_json_object(
            raw,
            example='{"since_seq": 0}',
            too_deep='request is nested too deeply to be a request; expected a JSON object like {"since_seq": 0}',
        )
        if req is None:
            return {"error": {"error": error}}
        return {"request": req}

    def _replay(self, req: dict) -> dict:
        """The reply to a parsed replay request."""
        since = req.get("since_seq")
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            return {"error": f"since_seq: expected an integer >= 0, got {since!r:.100}"}
        topics = req.get("topics", [])
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            return {"error": f"topics: expected a list of topic prefixes, got {topics!r:.200}"}
        limit = req.get("limit", REPLAY_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= REPLAY_LIMIT:
            return {"error": f"limit: expected an integer in 1..{REPLAY_LIMIT}, got {limit!r:.100}"}
        unknown = set(req) - {"since_seq", "topics", "limit"}
        if unknown:
            return {
                "error": f"unknown request fields {sorted(unknown)!r:.200} "
                "(known: since_seq, topics, limit; or ack, note)"
            }
        topics_t = tuple(topics)
        with self.log.lock:
            lines = self.recent.since(since, topics_t, limit)
            upto = self.log._fh.tell()
            last = self.sequencer.last
        if lines is not None:
            more = len(lines) > limit
            msgs = [json.loads(line) for line in lines[:limit]]
        else:
            msgs, more = self.log.read_since(since, topics_t, limit, upto_bytes=upto)
        return {"messages": msgs, "more": more, "last_seq": last}

    def _answer_frame(self, frame: zmq.Frame) -> tuple[dict, bool]:
        """:class:`realtime.replay_server.ReplayServer`'s ``answer``: the reply to one single-frame request
        and whether an error reply is still to be logged (an acknowledgement is logged by :meth:`_ack`)."""
        user = None
        if self.curve:
            with contextlib.suppress(zmq.ZMQError):
                user = str(frame.get("User-Id"))
        parsed = self._parse(frame.bytes)
        if "error" in parsed:
            return parsed["error"], True
        if "ack" in parsed["request"]:
            return self._ack(parsed["request"], user), False  # logged there
        return self._replay(parsed["request"]), True

    # -- shutdown -----------------------------------------------------------------------------------
    def _close_sockets(self) -> None:
        for sock in (self._pub, self._rep):
            if sock is not None and not sock.closed:
                sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_ctx and not self._ctx.closed:
            self._ctx.term()

    def close(self, flush_s: float = 0.2) -> None:
        """Give queued messages ``flush_s`` to leave, then close everything (linger 0).

        The sequence mark is set to the last number used, so a clean restart continues right after it.
        """
        if flush_s > 0:
            time.sleep(flush_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0 * self.ack_wait_s + 2.0)
        while True:  # acknowledgements nobody will answer
            try:
                self._acks.get_nowait().reply.cancel()
            except queue.Empty:
                break
        self._close_sockets()
        with contextlib.suppress(OSError):
            with self.log.lock:
                os.fsync(self.log._fh.fileno())
            self.mark.write(self.sequencer.last)
        self.log.close()


class Subscriber:
    """Client for ``realtime-alerts``: replay since a sequence number, then live, no duplicates.

    ``topics`` are prefixes (``seizure`` matches ``seizure.onset`` and ``seizure.offset``); the
    SUB socket takes every sequenced topic so gaps in ``seq`` are noticed and filled from the replay socket,
    and ``status.window`` (no ``seq``, never logged) only when ``topics`` ask for it (none given: everything):
    a station of ``seizure`` does not receive a message a second per bed it would drop.
    Messages are told apart by ``(run, seq)``: numbering that goes back, or a new ``run`` (a
    restarted daemon), is reported through ``warn`` and the messages are kept.

    ``keys``: CURVE client keys (:meth:`ClientKeys.load`); the daemon must then present the pinned
    server key. Handshake failures (a forged or re-keyed server, a client key the daemon refuses) and
    no connection within ``connect_warn_s`` are reported through ``warn``, once until connected.
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
        keys: ClientKeys | None = None,
        connect_warn_s: float = 5.0,
    ):
        self._ctx = context or zmq.Context.instance()
        self.endpoint, self.replay_endpoint = endpoint, replay_endpoint
        self.topics = tuple(topics)
        self.last_seq = since
        self.last_run: str | None = None
        self.replay_timeout_s = replay_timeout_s
        self.keys = keys
        self._warn = warn or (lambda text: log.warning("%s", text))
        self._seen: collections.deque[tuple[str | None, int]] = collections.deque(maxlen=10_000)
        self._seen_set: set[tuple[str | None, int]] = set()
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        for prefix in subscriptions(self.topics):
            self._sub.setsockopt(zmq.SUBSCRIBE, prefix.encode("utf-8"))
        if keys is not None:
            keys.apply(self._sub)
        self._mon = self._sub.get_monitor_socket(_HANDSHAKE_EVENTS)
        self._poller = zmq.Poller()
        self._poller.register(self._sub, zmq.POLLIN)
        self._poller.register(self._mon, zmq.POLLIN)
        self.connected = False  # a handshake with the daemon succeeded (with CURVE: it proved its key)
        self._reported: set[str] = set()
        self._connect_deadline = time.monotonic() + connect_warn_s
        self._sub.connect(endpoint)
        self._pending: collections.deque[dict] = collections.deque()
        if since is not None and replay_endpoint:
            self._fill(since)

    def _remember(self, key: tuple[str | None, int]) -> None:
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(key)
        self._seen_set.add(key)

    def _report(self, kind: str, text: str) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            self._warn(text)

    def _on_monitor(self) -> None:
        while self._mon.poll(0):
            event = recv_monitor_message(self._mon)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if self._reported:
                    self._warn(f"connected to {self.endpoint}" + (" (server key verified)" if self.keys else ""))
                self.connected, self._reported = True, set()
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._report(
                    "auth",
                    f"the daemon at {self.endpoint} refused this client's key: its public key is not in the "
                    "daemon's alerts.curve_clients_dir; receiving nothing",
                )
            elif self.keys is not None:
                self._report(
                    "server",
                    f"cannot authenticate the daemon at {self.endpoint}: the CURVE handshake failed (its key is "
                    "not the one in --server-key: a forged or re-keyed server, or it does not use CURVE); "
                    "nothing from it is accepted",
                )
            else:
                self._report(
                    "server",
                    f"the handshake with {self.endpoint} failed (a daemon with CURVE needs --server-key and "
                    "--client-key); receiving nothing",
                )

    def replay(self, since_seq: int) -> list[dict]:
        """Every logged message after ``since_seq`` (all pages); what it got, with a warning, if unreachable. A page
        refused with "try again" (the replay socket's rate limit, a busy daemon: a ward's stations reconnecting at
        once) is asked again up to :data:`REPLAY_TRIES` times, waiting longer each time with jitter: a gap left
        unfilled here is never asked for again."""
        out: list[dict] = []
        while True:
            reply: Any = None
            for attempt in range(REPLAY_TRIES):
                if attempt:
                    time.sleep(REPLAY_RETRY_S * 2 ** (attempt - 1) * (1.0 + random.random()))
                try:
                    reply = self._replay_page(since_seq)
                except (zmq.ZMQError, ValueError) as exc:
                    self._warn(
                        f"no answer from the replay socket {self.replay_endpoint} within {self.replay_timeout_s:g} s "
                        f"({exc}: not running, or a CURVE key mismatch); continuing with live messages"
                    )
                    return out
                if not (isinstance(reply, dict) and "try again" in str(reply.get("error", ""))):
                    break
            if not isinstance(reply, dict) or "error" in reply:
                self._warn(f"replay refused: {reply.get('error') if isinstance(reply, dict) else reply!r:.200}")
                return out
            msgs = reply.get("messages", [])
            out.extend(msgs)
            if not reply.get("more") or not msgs:
                return out
            since_seq = msgs[-1]["seq"]

    def _replay_page(self, since_seq: int) -> Any:
        """One replay request's decoded reply; ``zmq.ZMQError`` (no answer in time) or ``ValueError`` (not JSON)."""
        req = self._ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, int(self.replay_timeout_s * 1000))
        req.setsockopt(zmq.SNDTIMEO, int(self.replay_timeout_s * 1000))
        if self.keys is not None:
            self.keys.apply(req)
        try:
            req.connect(self.replay_endpoint)
            req.send(json.dumps({"since_seq": since_seq}).encode())
            return json.loads(req.recv())
        finally:
            req.close(linger=0)

    def _fill(self, since_seq: int) -> None:
        for msg in self.replay(since_seq):
            if isinstance(msg, dict):
                self._accept(msg, live=False)

    def _accept(self, msg: dict, *, live: bool) -> None:
        seq, run = msg.get("seq"), msg.get("run")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return
        run = run if isinstance(run, str) else None
        key = (run, seq)
        if key in self._seen_set:
            return
        if self.last_seq is not None and seq <= self.last_seq:
            self._warn(
                f"numbering went back from {self.last_seq} to {seq}"
                + (f" (run {self.last_run} -> {run})" if run != self.last_run else "")
                + ": a restarted daemon or another alert log; keeping the messages"
            )
        elif live and self.last_run is not None and run != self.last_run:
            self._warn(f"the daemon restarted (run {self.last_run} -> {run}); numbering continues at {seq}")
        self._remember(key)
        self.last_seq, self.last_run = seq, run
        if _topic_ok(msg, self.topics):
            self._pending.append(msg)

    def receive(self, timeout_s: float | None) -> dict | None:
        """The next message for the chosen topics, or None after ``timeout_s`` (None = wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._pending:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            wait = None if deadline is None else deadline - now
            if not self.connected and "connect" not in self._reported:
                if now >= self._connect_deadline:
                    if not self._reported:
                        self._report("connect", f"no connection to {self.endpoint} yet (is the daemon running?)")
                    self._reported.add("connect")
                else:
                    wait = self._connect_deadline - now if wait is None else min(wait, self._connect_deadline - now)
            events = dict(self._poller.poll(None if wait is None else max(1, int(wait * 1000))))
            if self._mon in events:
                self._on_monitor()
            if self._sub not in events:
                continue
            frames = self._sub.recv_multipart()
            try:
                msg = decode(frames)
            except Exception as exc:
                self._warn(f"ignored an undecodable message: {exc}")
                continue
            if msg["type"] in UNSEQUENCED_TOPICS:  # outside the sequence: nothing to check, fill or de-duplicate
                if _topic_ok(msg, self.topics):
                    self._pending.append(msg)
                continue
            seq = msg.get("seq")
            if isinstance(seq, int) and self.last_seq is not None and seq > self.last_seq + 1 and self.replay_endpoint:
                self._fill(self.last_seq)  # missed something: fetch it before the live message
            self._accept(msg, live=True)
        return self._pending.popleft()

    def __iter__(self) -> Iterator[dict]:
        while True:
            msg = self.receive(None)
            if msg is not None:
                yield msg

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self._sub.disable_monitor()
        self._mon.close(linger=0)
        self._sub.close(linger=0)


def replay_request(
    endpoint: str,
    request: Any,
    timeout_s: float = 2.0,
    context: zmq.Context | None = None,
    keys: ClientKeys | None = None,
) -> dict:
    """Send one raw request (a JSON-able object, or bytes as they are); return the reply.

    Raises ``zmq.Again`` when no reply comes within ``timeout_s``.
    """
    ctx = context or zmq.Context.instance()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
    req.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))
    if keys is not None:
        keys.apply(req)
    try:
        req.connect(endpoint)
        req.send(request if isinstance(request, bytes) else json.dumps(request).encode())
        return json.loads(req.recv())
    finally:
        req.close(linger=0)


def ack_request(
    endpoint: str,
    event_id: int,
    note: str = "",
    *,
    keys: ClientKeys | None = None,
    timeout_s: float = 10.0,
    context: zmq.Context | None = None,
) -> dict:
    """Acknowledge event ``event_id`` on the daemon's replay socket; the reply, or ``{"error": ...}``
    when none comes within ``timeout_s``."""
    request: dict[str, Any] = {"ack": event_id}
    if note:
        request["note"] = note
    try:
        reply = replay_request(endpoint, request, timeout_s=timeout_s, context=context, keys=keys)
    except zmq.ZMQError as exc:
        return {
            "error": f"no reply from {endpoint} within {timeout_s:g} s ({exc}): the daemon is not running, "
            "or the CURVE keys do not match (--server-key must be the daemon's public key, and this client's "
            "public key must be in its curve_clients_dir)"
        }
    except ValueError as exc:
        return {"error": f"the reply from {endpoint} is not JSON: {exc}"}
    return reply if isinstance(reply, dict) else {"error": f"unexpected reply {reply!r:.200}"}
