"""Dataset loaders; every loader returns a list of :class:`train.datasets.records.Record`."""

from train.datasets.records import Record, load_sources, split_records, training_examples, windows

__all__ = ["Record", "load_sources", "split_records", "training_examples", "windows"]
