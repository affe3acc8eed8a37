"""Real-time EEG seizure detection: the daemon (``realtime-detect``), its alert tools and the pipeline.

``__version__`` is the installed distribution's version (``realtime-seizure-detector``, pyproject.toml),
``"0+unknown"`` when the package runs from a checkout that was never installed. Importing this package
imports nothing else (the commands' ``--version`` stays fast).
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "realtime-seizure-detector"
try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - a checkout on sys.path without `pip install`
    __version__ = "0+unknown"
