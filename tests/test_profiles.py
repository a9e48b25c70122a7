"""Device profiles: the calibration fit, the cache, and names."""

from __future__ import annotations

import numpy as np
import pytest
from parawire.errors import ParawireError
from parawire.latency import DeviceProfile
from parawire.profiles import CALIBRATION_VERSION, cache_path, fit_compute, get_profile


def features(n: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(1e6, 1e7, n), rng.integers(0, 5, n), rng.uniform(0, 1e6, n), np.ones(n)])


def test_fit_recovers_the_terms_of_exact_data():
    a = features()
    seconds = a[:, 0] / 1e10 + a[:, 1] * 5e-5 + a[:, 2] / 2e9 + 1e-4
    rate, per_vertex, per_input, memory = fit_compute(a, seconds)
    assert (rate, per_vertex, per_input, memory) == pytest.approx((1e10, 1e-4, 5e-5, 2e9), rel=1e-6)


def test_fit_drops_a_term_that_would_be_negative():
    a = features()
    seconds = a[:, 0] / 1e10 - a[:, 2] / 1e12 + 1e-4  # reading bytes cannot save time
    rate, per_vertex, per_input, memory = fit_compute(a, seconds)
    assert memory is None
    assert rate > 0 and per_vertex >= 0 and per_input >= 0


def test_fit_rejects_times_that_do_not_grow_with_macs():
    a = features()
    with pytest.raises(ParawireError, match="^calibration: compute time does not grow with MACs"):
        fit_compute(a, 1e-3 - a[:, 0] / 1e12)
    with pytest.raises(ParawireError, match=r"^fit_compute: need an \(n, 4\) feature matrix"):
        fit_compute(a[:, :3], np.ones(30))


def test_local_comes_from_the_cache_without_measuring(tmp_path):
    cached = DeviceProfile(name="local", flops_per_s=1e10, bandwidth_bytes_per_s=1e9, message_latency_s=3e-5,
                           vertex_overhead_s=1e-4, input_overhead_s=5e-5, network="switched")
    path = tmp_path / "p.json"
    path.write_text(cached.model_dump_json())
    assert get_profile("local", path) == cached
    path.write_text("{")
    with pytest.raises(ParawireError, match=f"^profile cache {path}: unreadable"):
        get_profile("local", path)


def test_names_and_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_path() == tmp_path / "parawire" / f"profile-local-onnxruntime-v{CALIBRATION_VERSION}.json"
    assert get_profile("edge").vertex_overhead_s == 0 and get_profile("lan").memory_bytes_per_s is None
    with pytest.raises(ParawireError, match="^profile: got 'x'; known profiles: edge, lan, local$"):
        get_profile("x")
