"""``realtime-fanin``: one subscription point for the alerts of many daemons (beds on several hosts).

::

    realtime-fanin --upstream bed1=tcp://host1:5556,tcp://host1:5557 \\
                   --upstream bed2=tcp://host2:5556,tcp://host2:5557 \\
                   --bind tcp://127.0.0.1:6556 --replay-bind tcp://127.0.0.1:6557

Live: a ZeroMQ XSUB/XPUB proxy (libzmq's ``zmq_proxy_steerable``, run by pyzmq). Its XSUB connects
to every daemon's PUB, its XPUB is bound for the nurses' stations; subscriptions travel upstream, so
a station that subscribes to ``seizure`` makes every daemon send it only ``seizure*``. Messages
pass through unchanged (``[topic, json]``, each with its daemon's ``run``, ``seq``, ``host`` and
``stream``).

Replay across daemons: ``seq`` is numbered per daemon (per alert log, never reused across its
restarts), so one ``since_seq`` cannot name a point in many daemons' streams. Each upstream has a
name (``NAME=`` in ``--upstream``; default ``HOST:PORT`` of its PUB) and the fan-in's replay socket
(REP) answers, as JSON:

- ``{"since": {"<upstream>": SEQ, ...}[, "others_since_seq": SEQ][, "topics": [prefix, ...]][, "limit": N]}``:
  asks each named upstream's replay socket for its messages after SEQ (``others_since_seq``: every
  upstream not named, after that SEQ; 0 = all they logged), all at once, and answers
  ``{"upstreams": {"<upstream>": {"messages": [...], "more": bool, "last_seq": S} or {"error": "..."}},
  "runs": {"<run>": "<upstream>"}}``. ``more``: that upstream has further messages (at most ``limit``
  per upstream per answer, default :data:`PAGE_LIMIT`): ask again from the last ``seq`` received.
- ``{"locate": {"<run>": SEQ, ...}}``: which upstream published the message ``(run, SEQ)``; the answer's
  ``runs`` maps each run found (a run the fan-in has not seen in a replay answer is looked up by asking
  every upstream for message SEQ). A daemon's ``run`` changes at each restart, its ``seq`` does not
  go back, so a subscriber keeps one cursor per upstream and learns each run's upstream once.

Bad requests get ``{"error": "..."}`` quoting what was received; multipart requests and requests
beyond ``replay_rate_per_s`` are refused up front (the request loop is
:class:`realtime.replay_server.ReplayServer`, shared with the daemon's replay socket).
Acknowledgements go to a daemon's own replay socket (``realtime-alerts --ack``), not through the
fan-in, which would be the one the daemon saw acknowledging.

Metrics (``--metrics-port`` / ``metrics_port``; 0 = a free port, logged; absent = none), served on
``metrics_host`` (default 127.0.0.1) by :class:`realtime.metrics.FaninMetrics`: upstreams configured
and connected (per ``upstream``), messages forwarded, replay requests by outcome and their duration,
stations' connections. Messages forwarded are counted on the proxy's capture socket, all upstreams
together: the XSUB fair-queues every daemon's connection into one socket and libzmq does not say
which connection a message came from (per-upstream counts would need a socket per daemon and a
forwarding loop in Python on the alarm path instead of libzmq's proxy). The capture socket is a PUB:
when the counting thread falls behind, captured copies are dropped (the count is then low), never
the alerts.

CurveZMQ where enabled, with realtime.alerts' set-up (pyzmq's ``zmq.auth``): towards the stations
the XPUB and replay sockets are CURVE servers (``--curve-secret-key`` and the stations'
allow-list ``--curve-clients-dir``); towards the daemons the fan-in is a CURVE client
(``--client-key``, its own secret key, whose public half is in every daemon's
``alerts.curve_clients_dir``) that trusts only each daemon's server key (``key=FILE`` in its
``--upstream``). Without CURVE only loopback endpoints may be used unless
``--allow-plaintext-remote``.

:class:`FaninSubscriber` (``realtime-alerts --fanin``) follows a fan-in: live messages, duplicates
dropped by ``(run, seq)``, gaps filled per upstream from the fan-in's replay socket.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import heapq
import logging
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from realtime import __version__
from realtime.alerts import (
    REPLAY_LIMIT,
    ClientAllowList,
    ClientKeys,
    PublisherConfigError,
    Subscriber,
    _Authenticator,
    _load_key_file,
    _RateLimit,
    _Throttle,
    _topic_ok,
    is_local_endpoint,
    replay_request,
)
from realtime.metrics import FaninMetrics
from realtime.replay_server import ReplayServer, parse_json_object

log = logging.getLogger("realtime.fanin")  # the same name under `python -m realtime.fanin`

PAGE_LIMIT = 1000  # messages per upstream per replay answer (a request may ask for 1..REPLAY_LIMIT)
ANSWER_LIMIT = 20_000  # messages per answer, all upstreams together: the per-upstream limit shrinks to fit
MAX_REQUEST_BYTES = 64 * 1024  # a fan-in request names many upstreams; larger ones are refused
MAX_UPSTREAMS = 1000
REPLAY_RATE_PER_S = 50.0  # fan-in requests answered per second (a station locates each daemon's run once)
LOCATE_RETRY_S = 10.0  # a station asks again this long after a run could not be located
UPSTREAM_TIMEOUT_S = 2.0  # how long the fan-in waits for one upstream's replay answer
RUNS_REMEMBERED = 100_000  # run -> upstream entries kept (oldest dropped first)
HEARTBEAT_IVL_MS = 5000  # ZMTP heartbeats: a dead peer on another host is noticed within the timeout
HEARTBEAT_TIMEOUT_MS = 15000
RECONNECT_IVL_MAX_MS = 5000
REBIND_WAIT_S = 2.0  # a port this process just released (a fan-in closed, then started again) is retried this long
CAPTURE_HWM = 10_000  # captured copies queued for the counting thread (metrics on); beyond: dropped, uncounted
EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_SOFTWARE, EX_CONFIG = 0, 2, 69, 70, 78
_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_DISCONNECTED
)


class FaninConfigError(ValueError):
    """A fan-in configuration that is refused (the message quotes the value)."""


# -- configuration (pure) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upstream:
    """One daemon: its PUB endpoint, its replay endpoint ('' = none) and its public key file ('' = no CURVE)."""

    name: str
    endpoint: str
    replay_endpoint: str = ""
    server_key: str = ""


def _bind(sock: zmq.Socket, endpoint: str, wait_s: float = REBIND_WAIT_S) -> None:
    """``sock.bind(endpoint)``, retried for ``wait_s`` while the address is in use: ZeroMQ closes a socket in
    its I/O thread, so a fan-in closed and started again in one process may find its own old listener still
    there for a moment. An address another process holds is still an error once ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def parse_upstream(spec: str) -> Upstream:
    """``[NAME=]PUB[,REPLAY][,key=SERVER_KEY_FILE]`` -> :class:`Upstream`; FaninConfigError quoting ``spec``.

    NAME defaults to the PUB endpoint's ``HOST:PORT``.
    """
    text = spec.strip()
    name = ""
    head, eq, rest = text.partition("=")
    if eq and "://" not in head and "," not in head and head != "key":
        name, text = head.strip(), rest
    parts = [p.strip() for p in text.split(",")]
    key = ""
    endpoints = []
    for part in parts:
        if part.startswith("key="):
            if key:
                raise FaninConfigError(f"upstream {spec!r}: key= given twice")
            key = part[4:]
        else:
            endpoints.append(part)
    if not 1 <= len(endpoints) <= 2 or not all("://" in e for e in endpoints):
        raise FaninConfigError(
            f"upstream {spec!r}: expected [NAME=]PUB_ENDPOINT[,REPLAY_ENDPOINT][,key=SERVER_KEY_FILE], "
            "e.g. bed1=tcp://host1:5556,tcp://host1:5557"
        )
    endpoint = endpoints[0]
    replay = endpoints[1] if len(endpoints) == 2 else ""
    if not name:
        name = endpoint.partition("://")[2] or endpoint
    if not name or any(c.isspace() or ord(c) < 32 for c in name) or len(name) > 200:
        raise FaninConfigError(f"upstream {spec!r}: the name {name!r} must be 1-200 characters without spaces")
    return Upstream(name=name, endpoint=endpoint, replay_endpoint=replay, server_key=key)


@dataclass(frozen=True)
class FaninConfig:
    """Everything ``realtime-fanin`` needs. See the module docstring for the CURVE fields."""

    upstreams: tuple[Upstream, ...]
    bind: str = "tcp://127.0.0.1:6556"
    replay_bind: str = "tcp://127.0.0.1:6557"
    curve_secret_key: str = ""  # the fan-in's server secret key (towards the stations)
    curve_clients_dir: str = ""  # the stations' public keys
    client_key: str = ""  # the fan-in's own client secret key (towards the daemons)
    allow_plaintext_remote: bool = False
    upstream_timeout_s: float = UPSTREAM_TIMEOUT_S
    replay_rate_per_s: float = REPLAY_RATE_PER_S
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"  # the metrics endpoint's address (loopback by default, as the daemon's)
    metrics_port: int | None = None  # None: no metrics; 0: a free port (logged)


def check_config(cfg: FaninConfig) -> list[str]:
    """Every problem of ``cfg`` as a sentence quoting the value (empty: usable). Reads no files."""
    errors: list[str] = []
    if not cfg.upstreams:
        errors.append("no upstream daemons (--upstream [NAME=]PUB[,REPLAY][,key=FILE], or [[upstream]] in the file)")
    if len(cfg.upstreams) > MAX_UPSTREAMS:
        errors.append(f"{len(cfg.upstreams)} upstreams: at most {MAX_UPSTREAMS}")
    names = [u.name for u in cfg.upstreams]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        errors.append(f"upstream names must be unique, got {dup!r} more than once (give NAME= to each)")
    if not cfg.bind:
        errors.append("bind: the stations' endpoint is empty")
    if bool(cfg.curve_secret_key) != bool(cfg.curve_clients_dir):
        errors.append(
            "CURVE towards the stations needs both curve_secret_key and curve_clients_dir, got "
            f"curve_secret_key={cfg.curve_secret_key!r}, curve_clients_dir={cfg.curve_clients_dir!r}"
        )
    server_curve = bool(cfg.curve_secret_key)
    for what, ep in (("bind", cfg.bind), ("replay_bind", cfg.replay_bind)):
        if ep and not server_curve and not is_local_endpoint(ep) and not cfg.allow_plaintext_remote:
            errors.append(
                f"{what} {ep!r} is not a loopback address and CURVE is off: set curve_secret_key and "
                "curve_clients_dir, bind 127.0.0.1, or allow_plaintext_remote"
            )
    keyed = [u.name for u in cfg.upstreams if u.server_key]
    if cfg.client_key and len(keyed) != len(cfg.upstreams):
        missing = [u.name for u in cfg.upstreams if not u.server_key]
        errors.append(f"client_key is set (CURVE towards the daemons) but upstreams {missing!r} have no key=FILE")
    if keyed and not cfg.client_key:
        errors.append(f"upstreams {keyed!r} have a server key but client_key (the fan-in's secret key) is not set")
    if not cfg.client_key and not cfg.allow_plaintext_remote:
        for u in cfg.upstreams:
            for ep in (u.endpoint, u.replay_endpoint):
                if ep and not is_local_endpoint(ep):
                    errors.append(
                        f"upstream {u.name!r}: {ep!r} is not loopback and CURVE is off: give client_key and "
                        "key=FILE for each upstream, or allow_plaintext_remote"
                    )
    if not cfg.upstream_timeout_s > 0:
        errors.append(f"upstream_timeout_s must be > 0, got {cfg.upstream_timeout_s!r}")
    if not cfg.replay_rate_per_s > 0:
        errors.append(f"replay_rate_per_s must be > 0, got {cfg.replay_rate_per_s!r}")
    port = cfg.metrics_port
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535):
        errors.append(
            f"metrics_port must be a port number in 0..65535 (0: any free port; leave it out for no metrics), "
            f"got {port!r}"
        )
    if not isinstance(cfg.metrics_host, str) or not cfg.metrics_host:
        errors.append(f"metrics_host must be an address such as 127.0.0.1, got {cfg.metrics_host!r}")
    return errors


_FILE_KEYS = {
    "bind",
    "replay_bind",
    "curve_secret_key",
    "curve_clients_dir",
    "client_key",
    "allow_plaintext_remote",
    "upstream_timeout_s",
    "replay_rate_per_s",
    "log_level",
    "metrics_host",
    "metrics_port",
}


def load_config_file(path: str | Path) -> tuple[dict[str, Any], list[Upstream]]:
    """A TOML file: ``[fanin]`` (the FaninConfig fields) and ``[[upstream]]`` tables (name, endpoint,
    replay_endpoint, server_key). FaninConfigError quoting the file and the bad value."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FaninConfigError(f"config {str(path)!r}: {exc}") from None
    unknown = set(data) - {"fanin", "upstream"}
    if unknown:
        raise FaninConfigError(f"config {str(path)!r}: unknown tables {sorted(unknown)!r} (known: fanin, upstream)")
    fanin = data.get("fanin", {})
    if not isinstance(fanin, dict) or set(fanin) - _FILE_KEYS:
        bad = sorted(set(fanin) - _FILE_KEYS) if isinstance(fanin, dict) else fanin
        raise FaninConfigError(f"config {str(path)!r}: [fanin] unknown keys {bad!r} (known: {sorted(_FILE_KEYS)})")
    ups: list[Upstream] = []
    for i, item in enumerate(data.get("upstream", [])):
        if not isinstance(item, dict) or set(item) - {"name", "endpoint", "replay_endpoint", "server_key"}:
            raise FaninConfigError(
                f"config {str(path)!r}: [[upstream]] #{i + 1} {item!r:.200}: known keys are name, endpoint, "
                "replay_endpoint, server_key"
            )
        if not all(isinstance(v, str) for v in item.values()) or not item.get("endpoint"):
            raise FaninConfigError(
                f"config {str(path)!r}: [[upstream]] #{i + 1} {item!r:.200}: values are strings, endpoint is required"
            )
        spec = item["endpoint"] + ("," + item["replay_endpoint"] if item.get("replay_endpoint") else "")
        up = parse_upstream((item["name"] + "=" if item.get("name") else "") + spec)
        ups.append(Upstream(up.name, up.endpoint, up.replay_endpoint, item.get("server_key", "")))
    return dict(fanin), ups


# -- replay requests (pure) ------------------------------------------------------------------------------
def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_request(raw: bytes, known: Iterable[str]) -> dict[str, Any]:
    """A fan-in request -> ``{"request": {...}}`` (validated, defaults filled) or ``{"error": text}``.

    The request: ``since`` (upstream -> seq), ``others_since_seq``, ``topics``, ``limit``, ``locate``
    (run -> seq); see the module docstring.
    """
    example = '{"since": {"bed1": 41}}'
    req, error = parse_json_object(
        raw, example=example, too_deep=f"request is nested too deeply; expected a JSON object like {example}"
    )
    if req is None:
        return {"error": error}
    if "ack" in req:
        return {
            "error": "acknowledge on the daemon's own replay socket (realtime-alerts --ack --replay-endpoint "
            "DAEMON), not through the fan-in: the daemon would see the fan-in acknowledging"
        }
    if "since_seq" in req:
        return {
            "error": f"since_seq {req['since_seq']!r:.50} names a point in one daemon's numbering; the fan-in "
            f'takes one per upstream: {{"since": {{"UPSTREAM": SEQ, ...}}}} or {{"others_since_seq": SEQ}}'
        }
    unknown = set(req) - {"since", "others_since_seq", "topics", "limit", "locate"}
    if unknown:
        return {
            "error": f"unknown request fields {sorted(unknown)!r:.200} (known: since, others_since_seq, topics, "
            "limit, locate)"
        }
    since = req.get("since", {})
    if not isinstance(since, dict) or not all(_is_seq(v) for v in since.values()):
        return {"error": f"since: expected an object of upstream name -> seq (an integer >= 0), got {since!r:.200}"}
    names = set(known)
    strangers = sorted(set(since) - names)
    if strangers:
        return {"error": f"since: unknown upstreams {strangers!r:.200}; this fan-in has {sorted(names)!r:.300}"}
    others = req.get("others_since_seq")
    if others is not None and not _is_seq(others):
        return {"error": f"others_since_seq: expected an integer >= 0, got {others!r:.100}"}
    topics = req.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return {"error": f"topics: expected a list of topic prefixes, got {topics!r:.200}"}
    limit = req.get("limit", PAGE_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= REPLAY_LIMIT:
        return {"error": f"limit: expected an integer in 1..{REPLAY_LIMIT}, got {limit!r:.100}"}
    locate = req.get("locate", {})
    if (
        not isinstance(locate, dict)
        or not all(isinstance(k, str) and k for k in locate)
        or not all(_is_seq(v) and v >= 1 for v in locate.values())
    ):
        return {"error": f"locate: expected an object of run -> seq (an integer >= 1), got {locate!r:.200}"}
    return {"request": {"since": since, "others_since_seq": others, "topics": topics, "limit": limit, "locate": locate}}


def upstream_cursors(request: Mapping[str, Any], names: Sequence[str]) -> dict[str, int]:
    """Which upstreams a parsed request asks, and from which seq: its ``since``, plus every other upstream
    from ``others_since_seq`` when given."""
    out = {name: int(request["since"][name]) for name in names if name in request["since"]}
    if request.get("others_since_seq") is not None:
        for name in names:
            out.setdefault(name, int(request["others_since_seq"]))
    return out


def merge_by_time(sections: Mapping[str, Sequence[dict]]) -> list[tuple[str, dict]]:
    """``(upstream, message)`` of every section, merged by ``wall_time``; each section keeps its own order."""
    streams = [[(m.get("wall_time", 0.0), name, m) for m in msgs] for name, msgs in sorted(sections.items())]
    merged = heapq.merge(*streams, key=lambda item: item[0] if isinstance(item[0], int | float) else 0.0)
    return [(name, msg) for _t, name, msg in merged]


class RunMap:
    """run -> upstream name, the oldest entries dropped beyond ``size``."""

    def __init__(self, size: int = RUNS_REMEMBERED):
        self.size = size
        self._map: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._lock = threading.Lock()

    def learn(self, run: Any, name: str) -> None:
        if not isinstance(run, str) or not run:
            return
        with self._lock:
            self._map[run] = name
            self._map.move_to_end(run)
            while len(self._map) > self.size:
                self._map.popitem(last=False)

    def get(self, run: str) -> str | None:
        with self._lock:
            return self._map.get(run)


# -- the fan-in ------------------------------------------------------------------------------------------
@dataclass
class UpstreamState:
    """What the fan-in knows about one upstream's connection (from the XSUB's monitor)."""

    connected: bool = False
    refused: str = ""  # the last handshake failure, '' after a success
    changes: int = 0


class Fanin:
    """The XSUB/XPUB proxy plus the replay REP socket. ``start()``, then ``close()``.

    ``self.endpoint`` / ``self.replay_endpoint`` are the bound addresses (``tcp://127.0.0.1:*`` works).
    ``self.metrics`` (:class:`realtime.metrics.FaninMetrics`) is served when ``config.metrics_port`` is
    not None (``self.metrics.port``: the bound port). Raises :class:`FaninConfigError` for a refused
    configuration (nothing opened), ``zmq.ZMQError`` if an endpoint cannot be bound, ``OSError`` if the
    metrics endpoint cannot be.
    """

    def __init__(self, config: FaninConfig, *, context: zmq.Context | None = None):
        errors = check_config(config)
        if errors:
            raise FaninConfigError("; ".join(errors))
        self.config = config
        self.upstreams = {u.name: u for u in config.upstreams}
        self.state = {u.name: UpstreamState() for u in config.upstreams}
        self.runs = RunMap()
        self._rate = _RateLimit(config.replay_rate_per_s)
        self._refusals: collections.defaultdict[str, _Throttle] = collections.defaultdict(_Throttle)
        self.metrics = FaninMetrics(self.upstreams)
        self._stations: set[int] = set()  # the XPUB's open connections (their file descriptors)
        # -- keys first: nothing opened for unusable keys
        server_secret = b""
        self.allow_list: ClientAllowList | None = None
        if config.curve_secret_key:
            _pub, secret = _load_key_file(config.curve_secret_key, secret=True, what="curve_secret_key")
            assert secret is not None
            server_secret = secret
            self.allow_list = ClientAllowList(config.curve_clients_dir)
            if not self.allow_list.scan():
                log.warning("fanin: no station keys (*.key) in %s: no station can connect", config.curve_clients_dir)
        self.keys: dict[str, ClientKeys | None] = {}
        for u in config.upstreams:
            self.keys[u.name] = ClientKeys.load(u.server_key, config.client_key) if config.client_key else None
        if config.allow_plaintext_remote:
            log.warning("fanin: allow_plaintext_remote: alerts may travel unauthenticated and unencrypted")
        self._own_ctx = bool(server_secret) and context is None  # a private context for a private ZAP handler
        self._ctx = zmq.Context() if self._own_ctx else (context or zmq.Context.instance())
        self._auth: _Authenticator | None = None
        self._socks: list[zmq.Socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._counter: threading.Thread | None = None  # counts forwarded messages (metrics on)
        self._capture: zmq.Socket | None = None  # the proxy's capture socket (metrics on)
        self._captured: zmq.Socket | None = None
        self._replay_server: ReplayServer | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(config.upstreams) + 1))
        try:
            if server_secret:
                assert self.allow_list is not None
                self._auth = _Authenticator(self._ctx, self.allow_list)
                self._auth.start()
                self._auth.configure_curve_callback("*", credentials_provider=self.allow_list)
            self._xsub = self._socket(zmq.XSUB)
            self._monitor = self._xsub.get_monitor_socket(_MONITOR_EVENTS)
            self._socks.append(self._monitor)
            self._by_endpoint: dict[str, str] = {}
            for u in config.upstreams:
                keys = self.keys[u.name]
                if keys is not None:
                    keys.apply(self._xsub)  # options are taken at connect: each connection its own server key
                self._xsub.connect(u.endpoint)
                self._by_endpoint[u.endpoint] = u.name
            self._xpub = self._socket(zmq.XPUB, server_secret)
            self._xpub_monitor = self._xpub.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
            self._socks.append(self._xpub_monitor)
            self._monitors = zmq.Poller()
            self._monitors.register(self._monitor, zmq.POLLIN)
            self._monitors.register(self._xpub_monitor, zmq.POLLIN)
            _bind(self._xpub, config.bind)
            self.endpoint = self._xpub.getsockopt_string(zmq.LAST_ENDPOINT)
            self._rep: zmq.Socket | None = None
            self.replay_endpoint = ""
            if config.replay_bind:
                self._rep = self._socket(zmq.REP, server_secret)
                self._rep.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
                _bind(self._rep, config.replay_bind)
                self.replay_endpoint = self._rep.getsockopt_string(zmq.LAST_ENDPOINT)
            control = f"inproc://fanin-control-{id(self)}"
            self._control_proxy = self._socket(zmq.PAIR)
            self._control_proxy.bind(control)
            self._control = self._socket(zmq.PAIR)
            self._control.connect(control)
            if config.metrics_port is not None:
                capture = f"inproc://fanin-capture-{id(self)}"
                self._capture = self._socket(zmq.PUB)  # never blocks the proxy: copies beyond the HWM are dropped
                self._capture.setsockopt(zmq.SNDHWM, CAPTURE_HWM)
                self._capture.bind(capture)
                self._captured = self._socket(zmq.SUB)
                self._captured.setsockopt(zmq.RCVHWM, CAPTURE_HWM)
                self._captured.setsockopt(zmq.SUBSCRIBE, b"")
                self._captured.connect(capture)
                self.metrics.serve(config.metrics_host, config.metrics_port)
        except Exception:
            self._close_sockets()
            self.metrics.close()
            raise
        if self._rep is not None:
            self._replay_server = ReplayServer(
                self._rep,
                lambda frame: (self.answer(frame.bytes), True),
                stop=self._stop,
                rate=self._rate,
                refusals=self._refusals,
                log=log,
                prefix="fanin: ",
                failure_prefix="fanin: ",
                refusal_key="refused",  # one warning per 10 s for every kind of refusal together
                max_request_bytes=None,  # the socket's ZMQ_MAXMSGSIZE (MAX_REQUEST_BYTES) disconnects larger ones
                on_request=self.metrics.replay_answered,
                ensure_ascii=False,
                allow_nan=True,
            )
        log.info(
            "fanin: %d upstreams (%s) -> XPUB %s, replay %s, metrics %s; stations: %s; daemons: %s",
            len(config.upstreams),
            ", ".join(f"{u.name}={u.endpoint}" for u in config.upstreams),
            self.endpoint,
            self.replay_endpoint or "off",
            f"http://{self.metrics.host}:{self.metrics.port}/metrics" if self.metrics.port is not None else "off",
            f"CURVE (clients: {config.curve_clients_dir})" if server_secret else "CURVE off",
            "CURVE" if config.client_key else "CURVE off",
        )

    def _socket(self, kind: int, server_secret: bytes = b"") -> zmq.Socket:
        sock = self._ctx.socket(kind)
        self._socks.append(sock)  # kept first: closed on any error below, else the context could never terminate
        sock.setsockopt(zmq.LINGER, 0)
        if kind in (zmq.XSUB, zmq.XPUB):
            sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
        if server_secret:
            sock.curve_server = True
            sock.curve_secretkey = server_secret
        return sock

    # -- threads ------------------------------------------------------------------------------------
    def start(self) -> Fanin:
        """Start the proxy and replay threads, and with metrics the counting thread (the monitors are read
        by :meth:`poll_monitor`)."""
        targets: list[tuple[str, Callable[[], None]]] = [("fanin-proxy", self._run_proxy)]
        if self._replay_server is not None:
            targets.append(("fanin-replay", self._replay_server.serve))
        for name, target in targets:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        if self._captured is not None:  # not in _threads: metrics stopping is no reason to restart the fan-in
            self._counter = threading.Thread(target=self._count_forwarded, name="fanin-count", daemon=True)
            self._counter.start()
        return self

    def _run_proxy(self) -> None:
        try:
            zmq.proxy_steerable(self._xsub, self._xpub, self._capture, self._control_proxy)
        except zmq.ZMQError as exc:
            if not self._stop.is_set():
                log.error("fanin: the proxy stopped: %s", exc)

    def _count_forwarded(self) -> None:
        """Count the daemons' messages on the capture socket (which also sees the stations' subscriptions,
        single frames starting with 0 or 1, going the other way: not counted)."""
        sock = self._captured
        assert sock is not None
        while not self._stop.is_set():
            try:
                if not sock.poll(100):
                    continue
                n = 0
                while n < 10_000:
                    try:
                        frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    if not (len(frames) == 1 and frames[0].bytes[:1] in (b"\x00", b"\x01")):
                        n += 1
                if n:
                    self.metrics.messages_forwarded.inc(n)
            except zmq.ZMQError as exc:
                if self._stop.is_set():
                    break
                log.error("fanin: counting forwarded messages: %s", exc)
                time.sleep(0.1)

    def poll_monitor(self, timeout_s: float) -> None:
        """Read the XSUB's and the XPUB's connection events for up to ``timeout_s``; log each upstream's
        changes; update the metrics of connections."""
        ready = dict(self._monitors.poll(int(timeout_s * 1000)))
        if self._xpub_monitor in ready:
            self._station_events()
        if self._monitor not in ready:
            return
        while self._monitor.poll(0):
            try:
                event = recv_monitor_message(self._monitor)
            except zmq.ZMQError:
                return
            raw_endpoint = event.get("endpoint", b"")
            endpoint = raw_endpoint.decode("utf-8", "replace") if isinstance(raw_endpoint, bytes) else str(raw_endpoint)
            name = self._by_endpoint.get(endpoint, endpoint)
            st = self.state.get(name)
            if st is None:
                continue
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if not st.connected:
                    log.info("fanin: upstream %s (%s) connected", name, endpoint)
                st.connected, st.refused = True, ""
            elif kind == zmq.EVENT_DISCONNECTED:
                if st.connected:
                    log.warning("fanin: upstream %s (%s) disconnected; reconnecting", name, endpoint)
                st.connected = False
            else:
                why = (
                    "it refused the fan-in's client key (add the fan-in's public key to its alerts.curve_clients_dir)"
                    if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                    else "the CURVE handshake failed (its server key is not the one given as key=, or CURVE is "
                    "off on one side)"
                )
                if st.refused != why:
                    log.error("fanin: upstream %s (%s): %s; receiving nothing from it", name, endpoint, why)
                st.connected, st.refused = False, why
            st.changes += 1
            self.metrics.upstream_connected.labels(upstream=name).set(1 if st.connected else 0)

    def _station_events(self) -> None:
        """The XPUB's connections accepted and closed (a station refused by CURVE: both)."""
        while self._xpub_monitor.poll(0):
            try:
                event = recv_monitor_message(self._xpub_monitor)
            except zmq.ZMQError:
                break
            if event["event"] == zmq.EVENT_ACCEPTED:
                self._stations.add(event["value"])
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self._stations.discard(event["value"])
        self.metrics.subscribers_connected.set(len(self._stations))

    def dead_threads(self) -> list[str]:
        """Names of the fan-in's threads (proxy, replay) that have stopped: it is broken if any."""
        return [t.name for t in self._threads if not t.is_alive()]

    def connected_count(self) -> int:
        return sum(1 for st in self.state.values() if st.connected)

    # -- replay -------------------------------------------------------------------------------------
    def _ask(self, name: str, request: dict) -> dict:
        """One upstream's replay answer, or ``{"error": ...}``."""
        u = self.upstreams[name]
        if not u.replay_endpoint:
            return {"error": f"upstream {name} has no replay endpoint configured"}
        try:
            reply = replay_request(
                u.replay_endpoint,
                request,
                timeout_s=self.config.upstream_timeout_s,
                context=self._ctx,
                keys=self.keys[name],
            )
        except zmq.ZMQError as exc:
            return {
                "error": f"no answer from {name}'s replay socket {u.replay_endpoint} within "
                f"{self.config.upstream_timeout_s:g} s ({exc})"
            }
        except ValueError as exc:
            return {"error": f"{name}'s replay answer is not JSON: {exc}"}
        if not isinstance(reply, dict):
            return {"error": f"{name}'s replay answer is not an object: {reply!r:.200}"}
        if "error" in reply:
            return {"error": f"{name} refused: {reply['error']!s:.300}"}
        msgs = reply.get("messages")
        if not isinstance(msgs, list):
            return {"error": f"{name}'s replay answer has no message list: {reply!r:.200}"}
        for m in msgs:
            if isinstance(m, dict):
                self.runs.learn(m.get("run"), name)
        return {"messages": msgs, "more": bool(reply.get("more")), "last_seq": reply.get("last_seq")}

    def locate(self, run: str, seq: int) -> str | None:
        """The upstream that published ``(run, seq)``: remembered, else found by asking each upstream for
        message ``seq`` (in parallel)."""
        name = self.runs.get(run)
        if name is not None:
            return name
        probe = {"since_seq": seq - 1, "limit": 1}
        futures = {self._pool.submit(self._ask, n, probe): n for n in self.upstreams}
        found = None
        for fut, n in futures.items():
            msgs = fut.result().get("messages") or []
            if msgs and isinstance(msgs[0], dict) and msgs[0].get("seq") == seq and msgs[0].get("run") == run:
                found = n
        if found is not None:
            self.runs.learn(run, found)
        return found

    def answer(self, raw: bytes) -> dict:
        """The reply to one request (pure apart from asking the upstreams)."""
        parsed = parse_request(raw, self.upstreams)
        if "error" in parsed:
            return {"error": parsed["error"]}
        req = parsed["request"]
        cursors = upstream_cursors(req, list(self.upstreams))
        limit = max(1, min(req["limit"], ANSWER_LIMIT // max(1, len(cursors))))  # "more" pages the rest
        futures = {
            name: self._pool.submit(self._ask, name, {"since_seq": since, "limit": limit, "topics": req["topics"]})
            for name, since in cursors.items()
        }
        runs: dict[str, str] = {}
        for run, seq in req["locate"].items():
            name = self.locate(run, seq)
            if name is not None:
                runs[run] = name
        sections = {name: fut.result() for name, fut in futures.items()}
        for name, sec in sections.items():
            for m in sec.get("messages", []):
                if isinstance(m, dict) and isinstance(m.get("run"), str):
                    runs[m["run"]] = name
            if "error" in sec:
                self._refusals[f"upstream-{name}"].warn("fanin: replay from %s failed: %s", name, sec["error"])
        return {"upstreams": sections, "runs": runs}

    # -- shutdown -----------------------------------------------------------------------------------
    def _close_sockets(self) -> None:
        with contextlib.suppress(zmq.ZMQError, AttributeError):
            self._xsub.disable_monitor()
        with contextlib.suppress(zmq.ZMQError, AttributeError):
            self._xpub.disable_monitor()
        for sock in self._socks:
            if not sock.closed:
                sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_ctx and not self._ctx.closed:
            self._ctx.term()

    def close(self) -> None:
        """Stop the proxy, the replay and counting threads and the metrics endpoint, close every socket."""
        self._stop.set()
        if self._threads:
            with contextlib.suppress(zmq.ZMQError):
                self._control.send(b"TERMINATE")
        for t in [*self._threads, *([self._counter] if self._counter is not None else [])]:
            t.join(timeout=5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close_sockets()
        self.metrics.close()


# -- the stations' side ----------------------------------------------------------------------------------
class FaninSubscriber(Subscriber):
    """A :class:`realtime.alerts.Subscriber` of a fan-in: one cursor (last ``seq``) per upstream.

    Live messages come through the fan-in's XPUB. A message of a run not seen before is located (which
    upstream published it) on the fan-in's replay socket; a ``seq`` beyond its upstream's cursor + 1
    fetches the missed messages of that upstream only, before the live message is passed on.
    Duplicates (same ``run`` and ``seq``) are dropped; numbering of one upstream that goes back is
    reported through ``warn`` and the messages kept. ``since``: first replay every upstream's logged
    messages after that seq (0: all). ``keys``: CURVE keys pinned to the fan-in's server key.
    """

    def __init__(
        self,
        endpoint: str,
        replay_endpoint: str = "",
        topics: Iterable[str] = (),
        since: int | None = None,
        *,
        context: zmq.Context | None = None,
        replay_timeout_s: float = 5.0,
        warn: Callable[[str], None] | None = None,
        keys: ClientKeys | None = None,
        connect_warn_s: float = 5.0,
    ):
        self.cursors: dict[str, int] = {}  # upstream -> last seq received
        # the cursor of an upstream nothing was received from yet: ``since`` (its start-up replay found nothing, or it
        # was down), so that its first messages, sent before the fan-in reconnected to it, are fetched as a gap
        self._since = since
        self.upstream_of: dict[str, str] = {}  # run -> upstream
        self._unlocated: dict[str, float] = {}  # run -> when to try locating it again (monotonic s)
        super().__init__(
            endpoint,
            replay_endpoint,
            topics,
            since,
            context=context,
            replay_timeout_s=replay_timeout_s,
            warn=warn,
            keys=keys,
            connect_warn_s=connect_warn_s,
        )
        self.last_seq = None  # per upstream instead (self.cursors): the base class's one-daemon gap check stays off

    def _request(self, request: dict) -> dict | None:
        try:
            reply = replay_request(
                self.replay_endpoint, request, timeout_s=self.replay_timeout_s, context=self._ctx, keys=self.keys
            )
        except (zmq.ZMQError, ValueError) as exc:
            self._warn(
                f"no answer from the fan-in's replay socket {self.replay_endpoint} within {self.replay_timeout_s:g} s "
                f"({exc}); continuing with live messages"
            )
            return None
        if not isinstance(reply, dict) or "error" in reply:
            self._warn(f"fan-in replay refused: {reply.get('error') if isinstance(reply, dict) else reply!r:.200}")
            return None
        return reply

    def fetch(self, since: Mapping[str, int], others_since_seq: int | None = None) -> list[tuple[str, dict]]:
        """Every message after each upstream's seq (all pages), as ``(upstream, message)`` merged by wall time."""
        request: dict[str, Any] = {"since": dict(since)}
        if others_since_seq is not None:
            request["others_since_seq"] = others_since_seq
        sections: dict[str, list[dict]] = collections.defaultdict(list)
        for _page in range(10_000):
            reply = self._request(request)
            if reply is None:
                break
            runs = reply.get("runs", {})
            if isinstance(runs, dict):
                self.upstream_of.update({r: n for r, n in runs.items() if isinstance(r, str) and isinstance(n, str)})
            again: dict[str, int] = {}
            for name, sec in (reply.get("upstreams") or {}).items():
                if not isinstance(sec, dict):
                    continue
                if "error" in sec:
                    self._warn(f"upstream {name}: {sec['error']!s:.300}; its missed messages were not fetched")
                    continue
                msgs = [m for m in sec.get("messages", []) if isinstance(m, dict) and _is_seq(m.get("seq"))]
                sections[name].extend(msgs)
                if sec.get("more") and msgs:
                    again[name] = msgs[-1]["seq"]
            if not again:
                break
            request = {"since": again}
        return merge_by_time(sections)

    def _fill(self, since_seq: int) -> None:  # the base class's start-up replay: every upstream after since_seq
        self._take_all(self.fetch({}, others_since_seq=since_seq))

    def _take_all(self, items: list[tuple[str, dict]]) -> None:
        for name, msg in items:
            run = msg.get("run")
            if isinstance(run, str):
                self.upstream_of[run] = name
            key = (run if isinstance(run, str) else None, msg["seq"])
            if key not in self._seen_set:
                self._take(msg, name)

    def _locate(self, run: str, seq: int) -> str | None:
        reply = self._request({"locate": {run: seq}})
        name = (reply or {}).get("runs", {}).get(run) if reply else None
        if isinstance(name, str):
            self.upstream_of[run] = name
            self._unlocated.pop(run, None)
            return name
        if run not in self._unlocated:
            self._warn(
                f"the fan-in cannot tell which upstream run {run} is from; gaps in it are not filled until it can "
                f"(asking again every {LOCATE_RETRY_S:g} s)"
            )
        self._unlocated[run] = time.monotonic() + LOCATE_RETRY_S
        return None

    def _accept(self, msg: dict, *, live: bool) -> None:
        seq, run = msg.get("seq"), msg.get("run")
        if not isinstance(seq, int) or not _is_seq(seq):
            return
        run = run if isinstance(run, str) else None
        if (run, seq) in self._seen_set:
            return
        name = self.upstream_of.get(run) if run is not None else None
        due = run is not None and time.monotonic() >= self._unlocated.get(run, 0.0)
        if name is None and run is not None and self.replay_endpoint and due:
            name = self._locate(run, seq)
        cursor = self.cursors.get(name, self._since) if name is not None else None
        if live and name is not None and cursor is not None and seq > cursor + 1:
            self._take_all(self.fetch({name: cursor}))  # the missed ones first
            if (run, seq) in self._seen_set:
                return
        self._take(msg, name)

    def _take(self, msg: dict, name: str | None) -> None:
        seq, run = msg["seq"], msg.get("run")
        self._remember((run if isinstance(run, str) else None, seq))
        if name is not None:
            last = self.cursors.get(name)
            if last is not None and seq <= last:
                self._warn(
                    f"upstream {name}: numbering went back from {last} to {seq} (run {run}): a replaced alert "
                    "log; keeping the messages"
                )
            self.cursors[name] = seq
        if _topic_ok(msg, self.topics):
            self._pending.append(msg)


# -- command line ----------------------------------------------------------------------------------------
_OFF = "off"


def _metrics_port_arg(text: str) -> int | str:
    """``--metrics-port``: a port number (0: any free port), or off / none / '' (no metrics)."""
    word = text.strip().lower()
    if word in ("", "off", "none"):
        return _OFF
    try:
        port = int(word, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number (0: any free port) or 'off', got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in 0..65535, got {text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="realtime-fanin",
        description="One subscription point for many realtime-detect daemons: an XSUB/XPUB proxy of their "
        "alerts, and a replay socket that asks each daemon's replay socket (one cursor per daemon). "
        "Stations follow it with realtime-alerts --fanin.",
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("--config", metavar="PATH", help="TOML file: [fanin] settings and [[upstream]] tables")
    ap.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="[NAME=]PUB[,REPLAY][,key=FILE]",
        help="a daemon's PUB and replay endpoints (and, with CURVE, its public key file); repeatable",
    )
    ap.add_argument("--bind", metavar="ZMQ", help="XPUB for the stations (default tcp://127.0.0.1:6556)")
    ap.add_argument("--replay-bind", metavar="ZMQ", help="replay REP for the stations, '' = off (default :6557)")
    g = ap.add_argument_group("CurveZMQ")
    g.add_argument("--curve-secret-key", metavar="FILE", help="the fan-in's server secret key (towards stations)")
    g.add_argument("--curve-clients-dir", metavar="DIR", help="the stations' allowed public keys (NAME.key)")
    g.add_argument("--client-key", metavar="FILE", help="the fan-in's client secret key (towards the daemons)")
    g.add_argument(
        "--allow-plaintext-remote", action="store_true", default=None, help="allow non-loopback endpoints without CURVE"
    )
    ap.add_argument("--upstream-timeout-s", type=float, metavar="S", help="wait for one daemon's replay answer")
    ap.add_argument(
        "--metrics-port",
        type=_metrics_port_arg,
        metavar="N",
        help="serve Prometheus metrics on this port (0: any free port, logged; 'off': none, overriding the "
        "file; default: none)",
    )
    ap.add_argument("--metrics-host", metavar="HOST", help="address of the metrics endpoint (default 127.0.0.1)")
    ap.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    ap.add_argument("--duration-s", type=float, metavar="S", help="stop by itself after S seconds (tests)")
    return ap


def config_from_args(args: argparse.Namespace) -> FaninConfig:
    """The file's settings (if any), overridden by the flags given; FaninConfigError quoting a bad value."""
    settings: dict[str, Any] = {}
    ups: list[Upstream] = []
    if args.config:
        settings, ups = load_config_file(args.config)
    ups += [parse_upstream(spec) for spec in args.upstream]
    for key in _FILE_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = None if value == _OFF and key == "metrics_port" else value
    try:
        return FaninConfig(upstreams=tuple(ups), **settings)
    except TypeError as exc:
        raise FaninConfigError(str(exc)) from None


def run(fanin: Fanin, stop: threading.Event, duration_s: float | None = None) -> bool:
    """Serve until ``stop`` (or ``duration_s``): log upstream connections, tell systemd how many are
    connected and ping its watchdog while the proxy and replay threads live. False if one stopped."""
    from realtime import sdnotify

    watchdog = sdnotify.watchdog_interval_s()
    sdnotify.notify(f"READY=1\nSTATUS=0/{len(fanin.upstreams)} upstreams connected")
    deadline = None if duration_s is None else time.monotonic() + duration_s
    last_ping = time.monotonic()
    shown = -1
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        fanin.poll_monitor(0.2)
        dead = fanin.dead_threads()
        if dead:
            log.critical("fanin: thread(s) %s stopped; exiting so that systemd restarts the fan-in", dead)
            return False
        n = fanin.connected_count()
        if n != shown:
            sdnotify.notify(f"STATUS={n}/{len(fanin.upstreams)} upstreams connected")
            shown = n
        if watchdog is not None and time.monotonic() - last_ping >= watchdog:
            sdnotify.notify("WATCHDOG=1")
            last_ping = time.monotonic()
    sdnotify.notify("STOPPING=1")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.duration_s is not None and not args.duration_s > 0:
        ap.error(f"--duration-s must be > 0, got {args.duration_s!r}")
    from realtime.logs import configure_logging, for_stderr

    try:
        config = config_from_args(args)
        errors = check_config(config)
        if errors:
            raise FaninConfigError("\n  ".join(["invalid configuration:", *errors]))
    except FaninConfigError as exc:
        print(for_stderr(f"realtime-fanin: {exc}"), file=sys.stderr)
        return EX_CONFIG
    configure_logging(config.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        fanin = Fanin(config)
    except (FaninConfigError, PublisherConfigError) as exc:
        log.error("%s", exc)
        return EX_CONFIG
    except zmq.ZMQError as exc:
        log.error("cannot open the fan-in's sockets: %s", exc)
        return EX_UNAVAILABLE
    except OSError as exc:
        log.error("cannot serve the fan-in's metrics on %s:%s: %s", config.metrics_host, config.metrics_port, exc)
        return EX_UNAVAILABLE
    try:
        fanin.start()
        if not run(fanin, stop, args.duration_s):
            return EX_SOFTWARE
    except Exception:
        log.critical("unexpected error; exiting with %d", EX_SOFTWARE, exc_info=True)
        return EX_SOFTWARE
    finally:
        fanin.close()
    log.info("fanin: stopped")
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
