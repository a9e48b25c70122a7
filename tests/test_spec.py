"""The spec: round trips through JSON and TOML, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
from parawire.errors import SpecError
from parawire.graph.spec import ArchitectureSpec


def test_json_and_toml_round_trip(tmp_path):
    spec = ArchitectureSpec(generator="ws", params={"k": 4, "p": 0.5}, nodes=32, seed=7)
    for name in ("a.json", "a.toml"):
        path = spec.save(tmp_path / name)
        assert ArchitectureSpec.load(path) == spec


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"nodes": -3}, "nodes: got -3; Input should be greater than or equal to 2"),
        ({"seed": "x"}, "seed: got 'x'; Input should be a valid integer"),
        ({"nodez": 4}, "nodez: got 4; Extra inputs are not permitted"),
        ({"input_shape": [3, 0, 32]}, "input_shape: got [3, 0, 32]; every dimension"),
        ({"input_shape": [3, 10**20, 32]}, "between 1 and 65536"),  # was an OverflowError deep in `score`
        ({"aggregation": "max"}, "aggregation: got 'max'; Input should be 'sigmoid-inputs' or 'sigmoid-weights'"),
        ({"base_channels": 64, "channel_cap": 32}, "channel_cap: got 32; must be at least base_channels (64)"),
    ],
)
def test_invalid_spec_is_one_line_naming_field_value_and_rule(tmp_path, data, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        ArchitectureSpec.load(path)
    assert expected in str(err.value)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec"):
        ArchitectureSpec.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("nodes = = 3")
    with pytest.raises(SpecError, match="not valid TOML"):
        ArchitectureSpec.load(bad)


def test_generator_params_validated_against_the_plugin_model():
    from parawire.pipeline.build import generator_params

    with pytest.raises(SpecError) as err:
        generator_params(ArchitectureSpec(generator="er", params={"p": 1.5}))
    assert str(err.value).startswith("params[er].p: got 1.5;")
    with pytest.raises(SpecError, match=r"params\[er\].q: got 1; Extra inputs are not permitted"):
        generator_params(ArchitectureSpec(generator="er", params={"q": 1}))


@pytest.mark.parametrize("text", ["", "  \n"])
def test_a_blank_spec_is_refused_not_read_as_the_default(text):
    with pytest.raises(SpecError, match=r"^stdin: empty; give a spec"):
        ArchitectureSpec.from_text(text, "toml", "stdin")
