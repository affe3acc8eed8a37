"""Write the decision settings chosen by ``train-detector evaluate --tune-only --write-defaults``.

The shipped defaults live in two places a user reads: ``realtime/config.py`` (``DecisionConfig``'s
field defaults, used when no config file is given) and ``config/realtime-detect.toml`` (the file the
systemd unit passes). Both are rewritten in place, keeping their comments; a line that is not found
exactly once is an error (nothing is written then).
"""

from __future__ import annotations

import re
from pathlib import Path

TUNED = {"smoothing_windows": int, "on_threshold": float, "off_threshold": float, "min_duration_s": float}


def _sub_once(text: str, pattern: str, repl, where: str, key: str) -> str:
    out, n = re.subn(pattern, repl, text, flags=re.M)
    if n != 1:
        raise ValueError(f"{where}: expected one line setting {key!r}, found {n}")
    return out


def write_decision_defaults(chosen: dict, config_py: Path | str, config_toml: Path | str) -> dict:
    """Set the :data:`TUNED` keys of ``chosen`` in both files; returns the values written."""
    values = {}
    for key, typ in TUNED.items():
        if key not in chosen:
            raise ValueError(f"tuned settings lack {key!r}: got keys {sorted(chosen)!r}")
        values[key] = typ(chosen[key])
    config_py, config_toml = Path(config_py), Path(config_toml)
    py, toml = config_py.read_text(), config_toml.read_text()
    for key, value in values.items():
        typ = TUNED[key].__name__
        py = _sub_once(py, rf"^(    {key}: {typ} = )[-+0-9.eE]+(\s+#.*)?$",
                       lambda m, v=value: f"{m.group(1)}{v!r}{m.group(2) or ''}", str(config_py), key)
        toml = _sub_once(toml, rf"^{key} = [-+0-9.eE]+( *)(#.*)?$",
                         lambda m, k=key, v=value: (f"{k} = {v!r}".ljust(29) + m.group(2)) if m.group(2)
                         else f"{k} = {v!r}", str(config_toml), key)
    config_py.write_text(py)
    config_toml.write_text(toml)
    return values
