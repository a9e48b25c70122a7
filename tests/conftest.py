"""Suite-wide settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests run tiny networks: one intra-op thread is faster on 2 cores and immune to
    OpenMP threads spinning against the worker processes that other tests start."""
    from parawire.network.threads import torch_threads

    with torch_threads(1):
        yield
