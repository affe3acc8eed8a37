"""Logging set-up for the daemon: plain lines on a terminal, journald's form under systemd.

Under systemd, stderr is a stream into the journal and systemd sets ``$JOURNAL_STREAM`` to
``<device>:<inode>`` of that stream (systemd.exec(5)); a line starting with ``<N>`` then gets the syslog
priority N (``SyslogLevelPrefix=yes``, the default; sd-daemon(3)), so that ``journalctl -p warning``
finds warnings, and the journal stamps each line itself. :func:`configure_logging` checks whether
stderr is that stream (a child process that inherited the variable but not the stream is not) and
then writes ``<N>LEVEL name: message`` with no timestamp of its own, every line of a multi-line
record (a traceback) prefixed, so that the whole of it keeps its priority. Elsewhere:
``TIME LEVEL name: message`` (:data:`LOG_FORMAT`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"  # journald adds the time
# logging level -> syslog priority (sd-daemon(3) SD_CRIT ... SD_DEBUG); a level between two takes the lower's
SYSLOG_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
DEBUG_PRIORITY = 7


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: CRITICAL 2, ERROR 3, WARNING 4, INFO 6, DEBUG (and below) 7."""
    for level, priority in SYSLOG_PRIORITIES:
        if levelno >= level:
            return priority
    return DEBUG_PRIORITY


def journal_stream(fd: int, env: Mapping[str, str] | None = None) -> bool:
    """True when ``fd`` is the journal stream systemd named in ``$JOURNAL_STREAM`` (``"<st_dev>:<st_ino>"``,
    decimal). False when the variable is unset or malformed, or ``fd`` is another file (or closed)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class JournalFormatter(logging.Formatter):
    """``<N>LEVEL name: message`` on every line of the record (N: :func:`syslog_priority`), no timestamp."""

    def __init__(self, fmt: str = JOURNAL_FORMAT):
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def configure_logging(level: str, *, stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> None:
    """Log to ``stream`` (default ``sys.stderr``) at ``level``, in journald's form when ``stream`` is the
    journal stream (:func:`journal_stream`), else with :data:`LOG_FORMAT`. A root logger that already
    has handlers (an embedding program, pytest) keeps them; only its level is set."""
    root = logging.getLogger()
    if not root.handlers:
        stream = sys.stderr if stream is None else stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.StringIO and the like: no descriptor
            fd = -1
        handler = logging.StreamHandler(stream)
        journal = fd >= 0 and journal_stream(fd, env)
        handler.setFormatter(JournalFormatter() if journal else logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level.upper())


def for_stderr(text: str, levelno: int = logging.ERROR, env: Mapping[str, str] | None = None) -> str:
    """``text`` as written to stderr outside logging (an error before logging is set up): every line
    prefixed with ``<N>`` when stderr is the journal stream, else unchanged."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return text
    if not journal_stream(fd, env):
        return text
    prefix = f"<{syslog_priority(levelno)}>"
    return "\n".join(prefix + line for line in text.split("\n"))
