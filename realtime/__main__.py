"""``python -m realtime {detect,alerts,fanin,keys,replay,demo} ...``: the console scripts without installing."""

from __future__ import annotations

import sys

COMMANDS = {
    "detect": ("realtime.cli", "detect_main"),
    "alerts": ("realtime.cli", "alerts_main"),
    "fanin": ("realtime.fanin", "main"),
    "keys": ("realtime.keys", "main"),
    "replay": ("realtime.replay", "main"),
    "demo": ("realtime.demo", "main"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python -m realtime {{{','.join(COMMANDS)}}} [options]  (-h after a command for its help)",
            file=sys.stderr,
        )
        return 2
    module, func = COMMANDS[argv[0]]
    import importlib

    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
