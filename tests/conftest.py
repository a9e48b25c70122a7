"""Suite-wide settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests run tiny networks: one intra-op thread is faster on 2 cores and immune to
    OpenMP threads spinning against the worker processes that other tests start."""
    from parawire.network.threads import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def cli(capsys):
    """``cli(*argv)`` → (exit status, stdout, stderr) of ``parawire ARGV`` run in this process."""
    from parawire.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run
