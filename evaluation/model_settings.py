"""Model-specific settings written into an export's card: ``model_card.json["settings"]``.

Decision thresholds and amplitude bounds belong to one model, so they travel with its export
instead of being pasted into ``realtime/config.py``. The daemon reads them with the precedence
built-in default < card < config file < flags. Schema (every section optional)::

    "settings": {
      "decision": {"on_threshold", "off_threshold", "smoothing_windows", "min_duration_s", "derived_by"},
      "signal":   {"amplitude_low_uv", "amplitude_high_uv", "derived_by"}
                 (+ optional "background_limit_uv", "background_delta_limit_uv", "resample_filter")
    }

``derived_by`` is the command that wrote the section, with its UTC date and time.

Writers: ``train-detector evaluate --tune-only --write-card`` (``decision``, the network's chosen
settings) and ``python -m experiments.amplitude RUN --write-card EXPORT`` (``signal``).

:func:`decision_settings`, :func:`signal_settings` and :func:`with_settings` are pure (they validate
and build dicts, quoting any bad value); :func:`write_card_settings` is the one function with I/O:
it reads the card through ``realtime.model.read_card`` (so only a valid export, whose files match
their sha256, is written to), replaces one section and writes the card atomically (temporary file
in the same folder, fsync, ``os.replace``), keeping every other key, their order and the file's mode.
The card's ``files`` list covers the model files, never the card itself, so the export stays valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CARD_NAME = "model_card.json"
DECISION_KEYS = ("on_threshold", "off_threshold", "smoothing_windows", "min_duration_s")
SIGNAL_KEYS = ("amplitude_low_uv", "amplitude_high_uv")
SECTIONS = {"decision": DECISION_KEYS, "signal": SIGNAL_KEYS}
# keys a section may carry, written by another command than the section's own (their derived_by is
# appended to the section's: "...; channel_false_rate: COMMAND (time)")
OPTIONAL_KEYS = {
    "decision": ("channel_false_rate", "channel_correlation", "bed_false_rate"),
    "signal": ("background_limit_uv", "background_delta_limit_uv", "resample_filter"),
}


class SettingsError(ValueError):
    """A setting that cannot go into a card; the message quotes the value received."""


def derived_by(command: str, now: _dt.datetime | None = None) -> str:
    """``"COMMAND (YYYY-MM-DD HH:MM UTC)"``: what the ``derived_by`` field of a section holds."""
    if not isinstance(command, str) or not command.strip():
        raise SettingsError(f"derived_by needs the command that derived the settings, got {command!r}")
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{command.strip()} ({now.astimezone(_dt.UTC):%Y-%m-%d %H:%M} UTC)"


def _number(section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise SettingsError(f"{section}.{key} must be a finite number, got {value!r}")
    return float(value)


def _check_derived_by(section: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{section}.derived_by must name the command that derived the settings, got {value!r}")
    return value


def _check_keys(section: str, values: Mapping[str, Any]) -> None:
    if not isinstance(values, Mapping):
        raise SettingsError(f"{section} settings must be a mapping, got {values!r}")
    missing = [k for k in SECTIONS[section] if k not in values]
    if missing:
        raise SettingsError(f"{section} settings lack {', '.join(map(repr, missing))}: got keys {sorted(values)!r}")


def decision_settings(chosen: Mapping[str, Any], derived_by: str) -> dict:
    """The card's ``settings.decision`` from a tuning result (extra keys of ``chosen`` are ignored).

    Same bounds as the daemon's ``[decision]`` (realtime/config.py): on_threshold in (0, 1],
    off_threshold in [0, on_threshold], smoothing_windows an integer >= 1, min_duration_s >= 0.
    """
    _check_keys("decision", chosen)
    on = _number("decision", "on_threshold", chosen["on_threshold"])
    off = _number("decision", "off_threshold", chosen["off_threshold"])
    md = _number("decision", "min_duration_s", chosen["min_duration_s"])
    sm = chosen["smoothing_windows"]
    if isinstance(sm, bool) or not isinstance(sm, numbers.Integral):
        raise SettingsError(f"decision.smoothing_windows must be an integer, got {sm!r}")
    if not 0 < on <= 1:
        raise SettingsError(f"decision.on_threshold must be in (0, 1], got {chosen['on_threshold']!r}")
    if not 0 <= off <= on:
        raise SettingsError(
            f"decision.off_threshold must be in [0, on_threshold={on!r}], got {chosen['off_threshold']!r}"
        )
    if int(sm) < 1:
        raise SettingsError(f"decision.smoothing_windows must be >= 1, got {sm!r}")
    if md < 0:
        raise SettingsError(f"decision.min_duration_s must be >= 0, got {chosen['min_duration_s']!r}")
    out = {"on_threshold": on, "off_threshold": off, "smoothing_windows": int(sm), "min_duration_s": md}
    for key in OPTIONAL_KEYS["decision"]:  # the bed rule's, each optional: rates in (0, 1), the correlation [0, 1)
        if key in chosen:
            value = _number("decision", key, chosen[key])
            zero_ok = key == "channel_correlation"
            if not ((value >= 0 if zero_ok else value > 0) and value < 1):
                raise SettingsError(
                    f"decision.{key} must be in {'[0, 1)' if zero_ok else '(0, 1)'}, got {chosen[key]!r}"
                )
            out[key] = value
    return {**out, "derived_by": _check_derived_by("decision", derived_by)}


def signal_settings(
    amplitude_low_uv: Any,
    amplitude_high_uv: Any,
    derived_by: str,
    background_limit_uv: Any = None,
    background_delta_limit_uv: Any = None,
    resample_filter: Any = None,
) -> dict:
    """The card's ``settings.signal``: window-std bounds in µV, 0 < low < high (as the daemon's ``[signal]``), and
    optionally the background scaler's limits in µV, >= 0 (0: off; ``background_limit_uv`` measured by ``python -m
    experiments.scaling --limit-gains ... --write-card``, ``background_delta_limit_uv`` by docs/background.md "A
    limit for delta"), and the resampling filter a model needs (``resample_filter``, one of
    :data:`realtime.config.RESAMPLE_FILTERS`: written by the export of a model that reads above 40 Hz)."""
    from realtime.config import RESAMPLE_FILTERS

    low = _number("signal", "amplitude_low_uv", amplitude_low_uv)
    high = _number("signal", "amplitude_high_uv", amplitude_high_uv)
    if not 0 < low < high:
        raise SettingsError(
            f"signal.amplitude_low_uv / amplitude_high_uv: need 0 < low < high, "
            f"got {amplitude_low_uv!r} / {amplitude_high_uv!r}"
        )
    out = {"amplitude_low_uv": low, "amplitude_high_uv": high}
    for key, given in (
        ("background_limit_uv", background_limit_uv),
        ("background_delta_limit_uv", background_delta_limit_uv),
    ):
        if given is not None:
            limit = _number("signal", key, given)
            if limit < 0:
                raise SettingsError(f"signal.{key} must be >= 0 (0: off), got {given!r}")
            out[key] = limit
    if resample_filter is not None:
        if resample_filter not in RESAMPLE_FILTERS:
            known = ", ".join(map(repr, RESAMPLE_FILTERS))
            raise SettingsError(f"signal.resample_filter must be one of {known}, got {resample_filter!r}")
        out["resample_filter"] = resample_filter
    return {**out, "derived_by": _check_derived_by("signal", derived_by)}


def _checked_section(section: str, values: Mapping[str, Any]) -> dict:
    if section not in SECTIONS:
        raise SettingsError(f"settings section must be one of {sorted(SECTIONS)}, got {section!r}")
    _check_keys(section, values)
    unknown = sorted(set(values) - set(SECTIONS[section]) - set(OPTIONAL_KEYS[section]) - {"derived_by"})
    if unknown:
        raise SettingsError(
            f"{section} settings: unknown key(s) {unknown!r} (known: {list(SECTIONS[section])} and 'derived_by')"
        )
    if "derived_by" not in values:
        raise SettingsError(f"{section} settings lack 'derived_by': got keys {sorted(values)!r}")
    if section == "decision":
        return decision_settings(values, values["derived_by"])
    return signal_settings(
        values["amplitude_low_uv"],
        values["amplitude_high_uv"],
        values["derived_by"],
        values.get("background_limit_uv"),
        values.get("background_delta_limit_uv"),
        values.get("resample_filter"),
    )


def _notes(section: str, text: Any) -> list[str]:
    """A section's ``derived_by`` cut into the section's own command and one ``"KEY: COMMAND (time)"`` note per
    optional key: cut only before ``"; KEY:"``, so a command that itself holds ``"; "`` stays whole."""
    keys = "|".join(map(re.escape, OPTIONAL_KEYS.get(section, ())))
    return re.split(rf"; (?=(?:{keys}): )", str(text)) if keys else [str(text)]


def with_settings(card: Mapping[str, Any], section: str, values: Mapping[str, Any]) -> dict:
    """A copy of ``card`` whose ``settings[section]`` is ``values`` (checked); every other key unchanged.
    An optional key (:data:`OPTIONAL_KEYS`) the card has and ``values`` lacks is kept, with its part of
    ``derived_by`` (re-tuning the thresholds keeps a measured ``channel_false_rate``)."""
    settings = card.get("settings", {})
    if not isinstance(settings, Mapping):
        raise SettingsError(f"the card's 'settings' must be an object, got {settings!r}")
    old = settings.get(section) or {}
    kept = {k: old[k] for k in OPTIONAL_KEYS.get(section, ()) if k in old and k not in values}
    if kept and "derived_by" in values:  # without it the check below refuses the section
        notes = [p for p in _notes(section, old.get("derived_by", "")) if p.split(":")[0] in kept]
        values = {**values, **kept, "derived_by": "; ".join([str(values.get("derived_by", "")), *notes])}
    checked = _checked_section(section, values)
    out = json.loads(json.dumps(card))  # a deep copy with JSON's types, key order kept
    out["settings"] = {**out.get("settings", {}), section: checked}
    return out


def write_card_settings(export_dir: str | Path, section: str, values: Mapping[str, Any]) -> dict:
    """Set ``settings[section]`` in ``export_dir/model_card.json`` atomically; returns the section written.

    The export must load (``realtime.model.read_card``: required fields, sha256 of every listed
    file); on any error nothing is written.
    """
    from realtime.model import ModelLoadError, read_card

    export = Path(export_dir)
    try:
        card = read_card(export)
    except ModelLoadError as exc:
        raise SettingsError(f"cannot write settings into {str(export)!r}: {exc}") from None
    new = with_settings(card, section, values)
    card_path = export / CARD_NAME
    mode = card_path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=export, prefix=f".{CARD_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(new, indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, card_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(export, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return new["settings"][section]


def write_optional_setting(export_dir: str | Path, section: str, key: str, value: Any, derived_by: str) -> dict:
    """Set one of :data:`OPTIONAL_KEYS` (``settings.SECTION.KEY``) in an export's card, measured by another command
    than the section's own, keeping the section's other keys; ``derived_by`` is appended as ``"; KEY: COMMAND
    (time)"``. The card must already carry that section (written by its own command)."""
    from realtime.model import ModelLoadError, read_card

    if key not in OPTIONAL_KEYS.get(section, ()):
        raise SettingsError(f"{section}.{key} is not a setting written on its own (those: {OPTIONAL_KEYS!r})")
    try:
        card = read_card(Path(export_dir))
    except ModelLoadError as exc:
        raise SettingsError(f"cannot write settings into {str(export_dir)!r}: {exc}") from None
    old = dict((card.get("settings") or {}).get(section) or {})
    if not old:
        raise SettingsError(
            f"the card in {str(export_dir)!r} has no {section} settings to add {key} to: write them first "
            f"({_SECTION_WRITERS[section]})"
        )
    notes = [p for p in _notes(section, old.get("derived_by", "")) if not p.startswith(f"{key}:")]
    values = {**old, key: value, "derived_by": "; ".join([*notes, f"{key}: {derived_by}"])}
    return write_card_settings(export_dir, section, values)


_SECTION_WRITERS = {
    "decision": "train-detector evaluate --tune-only --write-card",
    "signal": "python -m experiments.amplitude RUN --write-card EXPORT",
}


def write_channel_false_rate(export_dir: str | Path, rate: float, derived_by: str) -> dict:
    """Set ``settings.decision.channel_false_rate`` in an export's card (the binomial bed rule's per-channel
    rate, measured by ``python -m evaluation.background --write-card``): :func:`write_optional_setting`."""
    return write_optional_setting(export_dir, "decision", "channel_false_rate", rate, derived_by)
