"""Accuracy study: rows per generator × staging beside baselines, resume, summary, figure."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest
from parawire.cli import main
from parawire.errors import ParawireError
from parawire.training.accuracy_study import COLUMNS, StudyConfig, run_study, scatter, summarise
from parawire.training.data import ImageSet
from parawire.training.datasets import load_dataset

CONFIG = StudyConfig(
    generators=("dp", "chain"), stagings=("probabilistic",), baselines=("resnet",), samples=2,
    epochs=1, nodes=5, base_channels=4, channel_cap=8,
)


@pytest.fixture(scope="module")
def small_digits():
    """The first 256 training and 64 test digits: enough to exercise the pipeline fast."""
    train, test, info = load_dataset("digits")

    def head(s: ImageSet, n: int) -> ImageSet:
        return replace(s, images=s.images[:n], labels=s.labels[:n])

    return head(train, 256), head(test, 64), info


def _without_time(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_rows_for_each_generator_and_baseline(tmp_path, small_digits):
    rows = run_study(CONFIG, tmp_path / "acc.csv", data=small_digits)
    with open(tmp_path / "acc.csv", newline="") as fh:
        assert tuple(csv.DictReader(fh).fieldnames) == COLUMNS
    labels = [(r["generator"], r["sample"]) for r in rows]
    assert sorted(labels) == [("chain/probabilistic", "0"), ("chain/probabilistic", "1"),
                              ("dp/probabilistic", "0"), ("dp/probabilistic", "1"), ("resnet", "0")]
    for r in rows:
        assert 0 <= float(r["accuracy"]) <= 1 and int(r["params"]) > 0
        assert (r["cs"] == "") == (r["generator"] == "resnet")
    assert {r["seed"] for r in rows if r["family"] == "dp"} == {"0", "1"}


def test_interrupted_study_resumes_to_the_same_table(tmp_path, small_digits):
    whole = run_study(CONFIG, tmp_path / "whole.csv", data=small_digits)

    def stop_after_two(row, n, total):
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(CONFIG, tmp_path / "cut.csv", on_row=stop_after_two, data=small_digits)
    assert len(run_study(replace(CONFIG, samples=0, generators=()), tmp_path / "cut.csv")) == 2
    seen = []
    resumed = run_study(CONFIG, tmp_path / "cut.csv", data=small_digits,
                        on_row=lambda row, n, total: seen.append(total))
    assert seen == [3, 3, 3]  # only the three unfinished architectures were trained
    assert _without_time(resumed) == _without_time(whole)


def test_summary_means_bests_and_per_million():
    rows = [
        {"generator": "dp/p", "params": "500000", "accuracy": "0.9", "cs": "2"},
        {"generator": "dp/p", "params": "250000", "accuracy": "0.8", "cs": "4"},
        {"generator": "cifarnet", "params": "1000000", "accuracy": "0.95", "cs": ""},
    ]
    base, dp = summarise(rows)
    assert (base.label, base.n, base.mean_acc, base.mean_cs) == ("cifarnet", 1, 95.0, None)
    assert dp.n == 2 and dp.mean_acc == pytest.approx(85.0) and dp.best_acc == pytest.approx(90.0)
    assert dp.mean_params_m == pytest.approx(0.375) and dp.mean_cs == pytest.approx(3.0)
    # 90 % / 0.5 M = 180 and 80 % / 0.25 M = 320 per million parameters
    assert dp.mean_acc_per_mparam == pytest.approx(250.0) and dp.best_acc_per_mparam == pytest.approx(320.0)


def test_scatter_writes_a_png(tmp_path):
    rows = [
        {"generator": "dp/p", "family": "dp", "staging": "p", "accuracy": "0.9", "cs": "2"},
        {"generator": "dp/g", "family": "dp", "staging": "g", "accuracy": "0.8", "cs": "2"},
        {"generator": "er/p", "family": "er", "staging": "p", "accuracy": "0.7", "cs": "3"},
        {"generator": "resnet", "family": "resnet", "staging": "-", "accuracy": "0.95", "cs": ""},
    ]
    path = scatter(rows, tmp_path / "fig.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_cli_writes_csv_table_and_figure(tmp_path, capsys):
    out = tmp_path / "acc.csv"
    main(["study", "accuracy", "--samples", "1", "--generators", "chain", "--baselines", "",
          "--nodes", "3", "--units", "2", "--base-channels", "2", "--channel-cap", "4", "--epochs", "1",
          "--out", str(out)])
    text = capsys.readouterr().out
    assert "chain/probabilistic" in text and "acc/M" in text
    assert out.exists() and out.with_suffix(".png").stat().st_size > 0
    assert len(out.read_text().splitlines()) == 2


def test_rows_made_with_other_settings_are_refused_naming_them(tmp_path, small_digits):
    out = tmp_path / "acc.csv"
    config = replace(CONFIG, generators=(), samples=1)  # the resnet baseline only: fast
    run_study(config, out, data=small_digits)
    before = out.read_text()
    with pytest.raises(ParawireError, match=r"made with other settings \(epochs 1 → 2; nodes 5 → 6\)"):
        run_study(replace(config, epochs=2, nodes=6), out, data=small_digits)
    assert out.read_text() == before
    run_study(replace(config, generators=("chain",)), out, data=small_digits)  # more jobs: same rows
    assert len(out.read_text().splitlines()) == 3


def test_a_table_without_its_settings_record_is_refused(tmp_path):
    out = tmp_path / "acc.csv"
    out.write_text(",".join(COLUMNS) + "\nresnet,resnet,-,0,0,0,10,0.5,,3,1.0\n")
    with pytest.raises(ParawireError, match="has rows but no record of the settings"):
        run_study(CONFIG, out)
