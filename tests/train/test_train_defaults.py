"""train/hparams.py is the one source of defaults: the TOML, the layers and the data functions agree with it."""

import inspect
import tomllib
from pathlib import Path

import pytest

from train.hparams import DataHP, FilterBankHP, FitHP, HParams, InceptionHP, ScalingHP, load
from train.layers import FilterBank, InceptionBlock, InputScaling
from train.tfrecords import make_dataset, write_split

DEFAULT_TOML = Path(__file__).resolve().parents[2] / "config" / "train" / "default.toml"

# Values of config/train/default.toml that differ from the dataclass defaults on purpose, with the reason.
DELIBERATE_OVERRIDES = {
    "fit.intra_op_threads": "the reference training host has 2 cores; thread counts change speed, not the model "
    "(hparams.SPEED_KEYS), so the dataclass keeps TensorFlow's own default (0)",
    "fit.inter_op_threads": "as fit.intra_op_threads",
}


def test_default_toml_states_only_dataclass_defaults_or_listed_overrides():
    toml = tomllib.loads(DEFAULT_TOML.read_text())
    defaults = HParams().to_dict()
    differing = {
        f"{s}.{k}": (v, defaults[s][k]) for s, sec in toml.items() for k, v in sec.items() if defaults[s][k] != v
    }
    assert set(differing) == set(DELIBERATE_OVERRIDES), differing
    # so the default config is the dataclass defaults up to those overrides
    hp = load(DEFAULT_TOML)
    assert hp.replace(**{k: defaults[k.split(".")[0]][k.split(".")[1]] for k in DELIBERATE_OVERRIDES}) == HParams()


def test_layer_defaults_come_from_hparams():
    s = InputScaling()
    assert (s.method, s.scale_uv) == (ScalingHP().method, ScalingHP().scale_uv)
    with pytest.raises(ValueError, match="fs_hz"):
        FilterBank()  # the rate at the bank depends on the architecture's up-sampling: no default
    fb, fbh = FilterBank(fs_hz=500.0), FilterBankHP()
    assert (fb.band_edges_hz, fb.taps, fb.window, fb.float64) == (fbh.band_edges_hz, fbh.taps, fbh.window, fbh.float64)
    ib, ih = InceptionBlock(), InceptionHP()
    assert (ib.filters, ib.kernel_sizes, ib.pool_size, ib.modules) == (
        ih.filters,
        ih.kernel_sizes,
        ih.pool_size,
        ih.modules_per_block,
    )


def test_data_function_defaults_come_from_hparams():
    ws = inspect.signature(write_split).parameters
    d = DataHP()
    assert ws["shard_examples"].default == d.shard_examples
    assert ws["balance_classes"].default == d.balance_classes
    assert ws["max_repeat"].default == d.max_repeat
    assert ws["source_share"].default is None  # None = DataHP().source_share (documented)
    assert inspect.signature(make_dataset).parameters["seed"].default == FitHP().seed
