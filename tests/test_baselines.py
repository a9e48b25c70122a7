"""Baselines: shapes for any input, the ResNet-20 parameter count, seeded initialisation."""

from __future__ import annotations

import pytest
import torch
from parawire.errors import ParawireError
from parawire.training.baselines import build_baseline, count_params


@pytest.mark.parametrize("name", ["cifarnet", "resnet"])
@pytest.mark.parametrize("shape, classes", [((1, 16, 16), 10), ((3, 32, 32), 10), ((3, 24, 20), 102)])
def test_logits_shape(name, shape, classes):
    model = build_baseline(name, shape, classes, width=8).eval()
    assert model(torch.zeros(2, *shape)).shape == (2, classes)


def test_resnet_defaults_are_resnet20():
    # ResNet-20 for CIFAR-10 has 0.27 M parameters (He et al. 2016, Table 6): 272,474 exactly
    assert count_params(build_baseline("resnet", (3, 32, 32), 10)) == 272_474


def test_seeded_initialisation_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = build_baseline("cifarnet", (3, 32, 32), 10, seed=3)
    b = build_baseline("cifarnet", (3, 32, 32), 10, seed=3)
    c = build_baseline("cifarnet", (3, 32, 32), 10, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_unknown_baseline():
    with pytest.raises(ParawireError, match="got 'vgg'; use one of cifarnet, resnet"):
        build_baseline("vgg", (3, 32, 32), 10)
