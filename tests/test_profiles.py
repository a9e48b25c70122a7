"""Device profiles: the calibration fit, the cache, and names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from parawire.calibration.local import CALIBRATION_VERSION, cache_path, get_profile
from parawire.errors import ParawireError
from parawire.latency.model import DeviceProfile
from parawire.latency.profiles import FEATURES, fit_compute


def features(n: int = 30) -> np.ndarray:
    """Columns as ``FEATURES``: MACs, extra inputs, input bytes, weight bytes, 1."""
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(1e6, 1e7, n), rng.integers(0, 5, n), rng.uniform(0, 1e6, n),
                            rng.uniform(0, 4e6, n), np.ones(n)])


def test_fit_recovers_the_terms_of_exact_data():
    a = features()
    seconds = a[:, 0] / 1e10 + a[:, 1] * 5e-5 + a[:, 2] / 2e9 + a[:, 3] / 1.5e10 + 1e-4
    fitted = fit_compute(a, seconds)
    assert list(fitted) == list(FEATURES)
    assert fitted == pytest.approx({"flops_per_s": 1e10, "input_overhead_s": 5e-5, "memory_bytes_per_s": 2e9,
                                    "weight_bytes_per_s": 1.5e10, "vertex_overhead_s": 1e-4}, rel=1e-6)
    DeviceProfile(name="fit", bandwidth_bytes_per_s=1e9, message_latency_s=0, **fitted)  # the fields exist


def test_fit_drops_a_term_that_would_be_negative():
    a = features()
    seconds = a[:, 0] / 1e10 - a[:, 2] / 1e12 + 1e-4  # reading bytes cannot save time
    fitted = fit_compute(a, seconds)
    assert fitted["memory_bytes_per_s"] is None
    assert fitted["flops_per_s"] > 0 and fitted["vertex_overhead_s"] >= 0 and fitted["input_overhead_s"] >= 0


def test_fit_rejects_times_that_do_not_grow_with_macs():
    a = features()
    with pytest.raises(ParawireError, match="^calibration: compute time does not grow with MACs"):
        fit_compute(a, 1e-3 - a[:, 0] / 1e12)
    with pytest.raises(ParawireError, match=r"^fit_compute: need an \(n, 5\) feature matrix"):
        fit_compute(a[:, :4], np.ones(30))


def test_local_comes_from_the_cache_without_measuring(tmp_path):
    cached = DeviceProfile(name="local", flops_per_s=1e10, bandwidth_bytes_per_s=1e9, message_latency_s=3e-5,
                           vertex_overhead_s=1e-4, input_overhead_s=5e-5, network="switched")
    path = tmp_path / "p.json"
    path.write_text(cached.model_dump_json())
    assert get_profile("local", path) == cached
    # saved by an older parawire with a field this one dropped: the measurement still holds
    path.write_text(json.dumps({**cached.model_dump(), "split_slowdown": 1.0}))
    assert get_profile("local", path) == cached
    path.write_text(json.dumps({**cached.model_dump(), "flops_per_s": -1}))  # a wrong figure is not kept
    with pytest.raises(ParawireError, match=f"^profile cache {path}: unreadable"):
        get_profile("local", path)
    path.write_text("{")
    with pytest.raises(ParawireError, match=f"^profile cache {path}: unreadable"):
        get_profile("local", path)


def test_names_and_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_path() == tmp_path / "parawire" / f"profile-local-onnxruntime-v{CALIBRATION_VERSION}.json"
    assert get_profile("edge").vertex_overhead_s == 0 and get_profile("lan").memory_bytes_per_s is None
    with pytest.raises(ParawireError, match="^profile: got 'x'; known profiles: edge, lan, local$"):
        get_profile("x")


def test_an_engine_with_parameters_is_calibrated_and_cached_per_parameters(monkeypatch, tmp_path):
    """`run --engine E --engine-param …` calibrates E with those parameters: a profile
    measured with other parameters (another thread layout, another provider) is not reused."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    plain, fast, slow = cache_path("e"), cache_path("e", {"b": 1, "a": 2}), cache_path("e", {"a": 3})
    assert len({plain, fast, slow}) == 3
    assert fast == cache_path("e", {"a": 2, "b": 1})  # the same parameters in another order
    assert plain.name == f"profile-local-e-v{CALIBRATION_VERSION}.json"
