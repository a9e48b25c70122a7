"""Trainer: learns digits, is deterministic, and resumes bit-exactly after an interrupt."""

from __future__ import annotations

import json

import pytest
import torch
from parawire.errors import ParawireError
from parawire.training.baselines import build_baseline
from parawire.training.datasets import load_dataset
from parawire.training.schedule import Phase, Schedule, default_schedule, parse_schedule
from parawire.training.trainer import train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_net(seed: int = 0) -> torch.nn.Module:
    return build_baseline("cifarnet", (1, 16, 16), 10, seed=seed, width=8)


def test_three_epochs_on_digits_are_far_above_chance(digits):
    """Bound: ≥ 80 % top-1 on the 360 test digits.

    An untrained or broken model is at chance, 10 %; P(Binomial(360, 0.1) ≥ 288) < 1e-150,
    so the bound cannot be met by luck, only by learning.
    """
    result = train(small_net(), digits, epochs=3, seed=0)
    assert result.accuracy >= 0.80
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert result.history[-1].loss < result.history[0].loss


def _stop_after(epoch: int):
    def on_epoch(stats):
        if stats.epoch == epoch:
            raise KeyboardInterrupt

    return on_epoch


def test_resume_after_interrupt_gives_bitwise_same_weights(digits, tmp_path):
    full = small_net()
    whole = train(full, digits, epochs=3, seed=5, checkpoint_dir=tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        train(small_net(), digits, epochs=3, seed=5, checkpoint_dir=tmp_path / "b", on_epoch=_stop_after(2))
    index = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert index["epoch"] == 2
    resumed_net = small_net()
    resumed = train(resumed_net, digits, epochs=3, seed=5, checkpoint_dir=tmp_path / "b", resume=True)
    assert resumed.resumed_from == 2
    a, b = full.state_dict(), resumed_net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h.accuracy for h in resumed.history] == [h.accuracy for h in whole.history]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "checkpoint.json", "model-0003.safetensors", "optimizer-0003.safetensors",
    ]


def test_same_seed_same_weights_other_seed_differs_and_resume_refuses_it(digits, tmp_path):
    one, two, again = small_net(), small_net(), small_net()
    train(one, digits, epochs=1, seed=1, checkpoint_dir=tmp_path)
    train(two, digits, epochs=1, seed=2)
    train(again, digits, epochs=1, seed=1)
    assert not torch.equal(one.state_dict()["features.0.weight"], two.state_dict()["features.0.weight"])
    assert all(torch.equal(a, b) for a, b in zip(one.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ParawireError, match="checkpoint in .* has seed 1, this run 2"):
        train(small_net(), digits, epochs=2, seed=2, checkpoint_dir=tmp_path, resume=True)


def test_schedule_phases_and_defaults():
    paper = parse_schedule("paper", 300)
    assert (paper.at(99).lr, paper.at(99).momentum) == (1e-3, 0.9)
    assert (paper.at(100).lr, paper.at(100).momentum) == (5e-4, 0.95)
    assert default_schedule(100) == paper and default_schedule(99) != paper
    assert default_schedule(8).phases == (Phase(0, 0.05, 0.9), Phase(6, 0.005, 0.9))
    assert default_schedule(1).phases == (Phase(0, 0.05, 0.9),)
    custom = parse_schedule("0:0.1:0.5,3:0.01:0.9", 5)
    assert custom == Schedule((Phase(0, 0.1, 0.5), Phase(3, 0.01, 0.9)))
    assert custom.describe() == "0:0.1:0.5,3:0.01:0.9"


@pytest.mark.parametrize(
    "text, message",
    [
        ("1:0.1:0.9", "first phase must start at epoch 0"),
        ("0:0.1:0.9,0:0.2:0.9", "must increase strictly"),
        ("0:0.1", "write EPOCH:LR:MOMENTUM"),
        ("0:-1:0.9", "need lr > 0"),
    ],
)
def test_bad_schedules_are_refused(text, message):
    with pytest.raises(ParawireError, match=message):
        parse_schedule(text, 10)


def test_cli_trains_checkpoints_and_resumes(tmp_path, capsys):
    from parawire.cli import main

    spec = tmp_path / "arch.json"
    spec.write_text('{"generator": "chain", "nodes": 3, "base_channels": 2, "channel_cap": 4}')
    args = ["train", str(spec), "--epochs", "1", "--checkpoint", str(tmp_path / "ck"), "--schedule", "0:0.05:0.9"]
    main(args)
    out = "".join(capsys.readouterr())
    assert "input_shape (3, 32, 32) → (1, 16, 16)" in out and "epoch   1/1" in out
    main([*args[:2], "--epochs", "2", *args[4:], "--resume"])
    out = "".join(capsys.readouterr())
    assert "resumed after epoch 1" in out and "epoch   2/2" in out and "epoch   1/2" not in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train"], "SPEC_FILE: missing; give an architecture file or --baseline"),
        (["train", "--baseline", "resnet", "--resume"], "--resume: needs --checkpoint DIR"),
        (["train", "--baseline", "resnet", "--dataset", "folder:/nonexistent"], "folder:/nonexistent: /nonexistent is not a folder"),
    ],
)
def test_cli_errors_are_one_line(args, message, capsys):
    from parawire.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.splitlines() == [err.strip()]  # checked before any progress
    assert message in err
