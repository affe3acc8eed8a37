"""The request loop of a replay (REP) socket, shared by the daemon's (:class:`realtime.alerts.Publisher`)
and the fan-in's (:class:`realtime.fanin.Fanin`).

:class:`ReplayServer` reads each request whole (every part), then refuses up front, with one error
reply, a request beyond the rate limit, a multipart request and (where a limit is given) a request over
the size limit, in that order; each kind of refusal is logged at most once per 10 s (the owner's
throttles). Any other request goes to the owner's ``answer``; its error replies are logged the same
way. An exception in ``answer`` is logged with its traceback and answered ``{"error": "internal error:
..."}``; a socket error is logged and the loop goes on. The loop runs on the thread that owns the
socket, until ``stop`` is set.

:func:`parse_json_object` is the first check of every request: a JSON object, or an error text quoting
what was received (and no traceback for a request nested too deeply).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import zmq

OK, REFUSED, ERROR = "ok", "refused", "error"  # a request's outcome, as :class:`ReplayServer` reports it


class RateLimit(Protocol):
    """A token bucket (:class:`realtime.alerts._RateLimit`)."""

    rate_per_s: float

    def take(self) -> bool: ...


class Throttle(Protocol):
    """A rate-limited warning (:class:`realtime.alerts._Throttle`)."""

    def warn(self, fmt: str, *args: Any) -> None: ...


def parse_json_object(raw: bytes, *, example: str, too_deep: str) -> tuple[dict[str, Any] | None, str]:
    """``(request, "")`` for bytes holding a JSON object, else ``(None, error text)``: ``too_deep`` for a
    request nested beyond the JSON parser's recursion limit, otherwise a text quoting what was received
    and showing ``example``."""
    try:
        req = json.loads(raw)
    except RecursionError:
        return None, too_deep
    except (ValueError, UnicodeDecodeError):
        return None, f"expected a JSON object like {example}, got {raw[:200]!r}"
    if not isinstance(req, dict):
        return None, f"expected a JSON object like {example}, got {req!r:.200}"
    return req, ""


class ReplayServer:
    """Serves one REP socket: :meth:`serve` on the thread that owns ``rep``.

    ``answer(frame)`` -> ``(reply, log_error)``: the reply to a single-frame request that passed the
    up-front checks; ``log_error`` False when an error reply was already logged by ``answer`` itself.

    ``rate`` and ``refusals`` (a ``defaultdict`` of throttles, shared with the owner) are the owner's.
    Refusals are throttled per kind (``rate``, ``multipart``, ``size``), or all under ``refusal_key``
    when given; error replies under ``request``. Log lines: ``prefix`` before refusals and bad requests
    (``"replay: "``), ``failure_prefix`` before "replay request failed" and "replay socket: ...", on
    ``log``. ``max_request_bytes``: refuse larger requests (None: no check beyond the socket's
    ``ZMQ_MAXMSGSIZE``). ``multipart_says_size``: the multipart refusal also gives the request's size.
    ``on_failure()``: called for an internal error or a socket error. ``on_request(outcome, seconds)``:
    called for each request just before its reply is sent (``seconds``: from its arrival), ``outcome``
    one of :data:`OK`, :data:`REFUSED`, :data:`ERROR`.
    ``ensure_ascii`` / ``allow_nan``: :func:`json.dumps` of the replies.
    """

    def __init__(
        self,
        rep: zmq.Socket,
        answer: Callable[[zmq.Frame], tuple[dict, bool]],
        *,
        stop: threading.Event,
        rate: RateLimit,
        refusals: Mapping[str, Throttle],
        log: logging.Logger,
        prefix: str,
        failure_prefix: str = "",
        refusal_key: str | None = None,
        max_request_bytes: int | None = None,
        multipart_says_size: bool = False,
        on_failure: Callable[[], None] | None = None,
        on_request: Callable[[str, float], None] | None = None,
        ensure_ascii: bool = True,
        allow_nan: bool = False,
    ):
        self.rep = rep
        self._answer = answer
        self._stop = stop
        self._rate = rate
        self._refusals = refusals
        self._log = log
        self._prefix = prefix
        self._failure_prefix = failure_prefix
        self._refusal_key = refusal_key
        self.max_request_bytes = max_request_bytes
        self._multipart_says_size = multipart_says_size
        self._on_failure = on_failure or (lambda: None)
        self._on_request = on_request
        self._json_options: dict[str, Any] = {
            "separators": (",", ":"),
            "ensure_ascii": ensure_ascii,
            "allow_nan": allow_nan,
        }

    def receive(self) -> tuple[dict, str]:
        """Read one whole request (every part) from the socket; the reply to send and its outcome."""
        rep = self.rep
        first = rep.recv(copy=False, flags=zmq.NOBLOCK)
        parts, size, frame = 1, len(first.bytes), first
        while frame.more:  # the parts of one message arrive together: draining them does not wait
            frame = rep.recv(copy=False, flags=zmq.NOBLOCK)
            parts += 1
            size += len(frame.bytes)
        if not self._rate.take():
            kind, error = "rate", f"rate limited: at most {self._rate.rate_per_s:g} requests per second; try again"
        elif parts > 1:
            sized = f" ({size} bytes)" if self._multipart_says_size else ""
            kind, error = (
                "multipart",
                f"expected one frame holding a JSON object, got a multipart request of {parts} parts{sized}; refused",
            )
        elif self.max_request_bytes is not None and size > self.max_request_bytes:
            kind, error = (
                "size",
                f"request of {size} bytes is over the limit of {self.max_request_bytes} bytes; refused",
            )
        else:
            reply, log_error = self._answer(first)
            if "error" in reply:
                if log_error:
                    self._refusals["request"].warn(
                        self._prefix + "answered a bad request with an error: %s", reply["error"]
                    )
                return reply, ERROR
            return reply, OK
        self._refusals[self._refusal_key or kind].warn(self._prefix + "%s", error)
        return {"error": error}, REFUSED

    def _encode(self, reply: dict) -> tuple[bytes, bool]:
        """The reply as JSON bytes, and False where it could not be encoded (an internal error is sent)."""
        try:
            return json.dumps(reply, **self._json_options).encode("utf-8"), True
        except (TypeError, ValueError) as exc:  # e.g. an answer from the daemon that is not JSON
            self._log.error(self._prefix + "reply %.200r cannot be sent as JSON: %s", reply, exc)
            return json.dumps({"error": f"internal error: the reply is not JSON ({exc})"}).encode("utf-8"), False

    def serve(self) -> None:
        """Answer requests until ``stop`` is set (polling every 0.1 s)."""
        poller = zmq.Poller()
        poller.register(self.rep, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(100):
                    continue
                t0 = time.monotonic()
                try:
                    reply, outcome = self.receive()
                except zmq.ZMQError:
                    raise
                except Exception as exc:  # nothing a request does may kill the replay thread
                    self._log.exception(self._failure_prefix + "replay request failed")
                    self._on_failure()
                    reply, outcome = {"error": f"internal error: {exc}"}, ERROR
                body, encoded = self._encode(reply)
                if self._on_request is not None:  # before the reply leaves: a client sees it counted
                    try:
                        self._on_request(outcome if encoded else ERROR, time.monotonic() - t0)
                    except Exception:  # counting must not stop the replay thread
                        self._log.exception(self._failure_prefix + "replay: counting the request failed")
                self.rep.send(body)
            except zmq.ZMQError as exc:
                if self._stop.is_set():
                    break
                self._log.error(self._failure_prefix + "replay socket: %s", exc)
                self._on_failure()
                time.sleep(0.1)
