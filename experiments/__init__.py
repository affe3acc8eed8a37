"""One-off studies (not installed; run from the repository root as ``python -m experiments.NAME``).

Each module is runnable and documented in docs/training.md; they may use anything in the project.
"""
