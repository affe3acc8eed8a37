"""``realtime-keys``: make CurveZMQ key pairs for the alert sockets (pyzmq's ``zmq.auth`` format).

::

    realtime-keys server DIR          # DIR/server.key (public) + DIR/server.key_secret (mode 0600)
    realtime-keys client NAME DIR     # DIR/NAME.key + DIR/NAME.key_secret

The daemon gets ``alerts.curve_secret_key = "DIR/server.key_secret"`` and
``alerts.curve_clients_dir`` = a directory holding each allowed client's ``NAME.key``; a client
(``realtime-alerts --server-key server.key --client-key NAME.key_secret``) gets the server's public
key and its own secret key. ``NAME`` is who the daemon says acknowledged an alarm. Existing files
are never overwritten. Exit codes: 0 made, 1 could not (a file exists, a directory is not
writable), 2 usage.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from realtime import __version__

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class KeyPairError(Exception):
    """A key pair that cannot be made (the message says why)."""


def check_name(name: str) -> str:
    """``name`` if it is a usable key name (letters, digits, ``._-``, 1-64 characters), else ValueError."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(
            f"key name must be 1-64 letters, digits, '.', '_' or '-' and start with a letter or digit, got {name!r}"
        )
    return name


def make_key_pair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Make ``directory/NAME.key`` (public, mode 0644) and ``NAME.key_secret`` (mode 0600).

    The pair is written in a private temporary directory and linked into place, so the secret key is
    never readable by others, and an existing file is never replaced (:class:`KeyPairError`).
    """
    import zmq.auth

    check_name(name)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise KeyPairError(f"{path} exists; not overwriting it (remove it first to make a new pair)")
    tmp = Path(tempfile.mkdtemp(prefix=".realtime-keys-", dir=directory))  # mode 0700
    try:
        tmp_public, tmp_secret = (Path(p) for p in zmq.auth.create_certificates(tmp, name))
        os.chmod(tmp_secret, 0o600)
        os.chmod(tmp_public, 0o644)
        os.link(tmp_secret, secret)  # link: fails if the name exists meanwhile, never replaces it
        try:
            os.link(tmp_public, public)
        except OSError:
            secret.unlink()
            raise
    except FileExistsError as exc:
        raise KeyPairError(f"{exc.filename2 or exc.filename} exists; not overwriting it") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return public, secret


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="realtime-keys",
        description="Make CurveZMQ key pairs for the alert sockets: NAME.key (public) and NAME.key_secret "
        "(secret, mode 0600). Existing files are never overwritten.",
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="kind", required=True)
    s = sub.add_parser("server", help="the daemon's pair: DIR/NAME.key and DIR/NAME.key_secret (NAME: server)")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--name", default="server", help="file name stem (default: server)")
    c = sub.add_parser("client", help="a subscriber's pair; NAME is who it is (shown on acknowledgements)")
    c.add_argument("name", metavar="NAME")
    c.add_argument("dir", metavar="DIR")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        check_name(args.name)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        public, secret = make_key_pair(args.dir, args.name)
    except (KeyPairError, OSError) as exc:
        print(f"realtime-keys: {exc}", file=sys.stderr)
        return 1
    print(f"public key: {public}\nsecret key: {secret} (mode 0600: keep it on this machine)")
    if args.kind == "server":
        print(
            f"daemon: alerts.curve_secret_key = {str(secret)!r}; give {public} to every client "
            "(realtime-alerts --server-key)"
        )
    else:
        print(
            f"copy {public} into the daemon's alerts.curve_clients_dir; this client runs "
            f"realtime-alerts --server-key SERVER.key --client-key {secret}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
