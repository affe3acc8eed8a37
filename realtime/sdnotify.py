"""sd_notify(3) without libsystemd: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.

A no-op outside systemd (``$NOTIFY_SOCKET`` unset) and never raises: a notification that cannot be
delivered is logged at debug level and dropped, as gunicorn's ``systemd.sd_notify`` does.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"`` or ``"STATUS=waiting"``) to ``$NOTIFY_SOCKET``.

    A leading ``@`` in the socket name means a Linux abstract socket. Returns True if sent.
    """
    addr = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not addr:
        return False
    try:
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(state.encode("utf-8", errors="replace"))
        return True
    except Exception as exc:  # never raise: notification is best effort
        log.debug("sd_notify(%r) to %r failed: %s", state, addr, exc)
        return False


def watchdog_interval_s(env: dict[str, str] | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, or None when no watchdog is configured.

    ``$WATCHDOG_PID``, when set, must be this process; otherwise the watchdog is someone else's.
    """
    env = env if env is not None else dict(os.environ)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2e6
