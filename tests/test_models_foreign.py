"""Models written as a user writes them: helpers beside the file, forwards that change their input."""

import subprocess
import sys
import textwrap

import pytest

MODEL = """
import torch.nn as nn, torch.nn.functional as F
from helper_blocks import block

class Prep(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.b = block(), nn.Conv2d(4, 4, 3, padding=1)

    def forward(s, x):
        x.mul_(0.5)  # in-place preprocessing of the input
        return s.b(F.relu(s.a(x))).mean((2, 3))

def build():
    return Prep().eval()
"""


def _files(tmp_path):
    (tmp_path / "helper_blocks.py").write_text("import torch.nn as nn\ndef block(): return nn.Conv2d(3, 4, 3, padding=1)\n")
    (tmp_path / "prep.py").write_text(textwrap.dedent(MODEL))
    return tmp_path / "prep.py"


def test_a_model_file_imports_the_helpers_beside_it(tmp_path):
    from parawire.models.factory import load_factory

    model = load_factory(f"{_files(tmp_path)}:build")()  # as `python prep.py` would find helper_blocks
    assert type(model).__name__ == "Prep"


def test_a_forward_that_changes_its_input_in_place_is_compared_on_the_same_input(tmp_path):
    # the reference call halved the image the workers were then sent: a false mismatch
    ref = f"{_files(tmp_path)}:build"
    done = subprocess.run([sys.executable, "-m", "parawire", "-q", "run", "--model", ref, "--local", "-u", "2",
                           "-r", "2", "--check-inputs", "4", "--baseline-engine", "torch"],
                          capture_output=True, text=True, timeout=600, cwd="/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "max |diff| 0" in done.stdout.replace("\n", " ")


def test_a_lazy_module_exports_to_onnx_runtime(tmp_path):
    # its parameters, made in the first call, were inference tensors the exporter refused
    from parawire.models.imported import import_model
    from parawire.models.imported import ModelSpec

    (tmp_path / "lazy.py").write_text(textwrap.dedent("""
        import torch.nn as nn, torch.nn.functional as F
        class Lazy(nn.Module):
            def __init__(s):
                super().__init__()
                s.a, s.fc = nn.LazyConv2d(4, 3, padding=1), nn.LazyLinear(5)
            def forward(s, x):
                return s.fc(F.relu(s.a(x)).mean((2, 3)))
        def build():
            return Lazy().eval()
    """))
    imported = import_model(ModelSpec(factory=f"{tmp_path / 'lazy.py'}:build", input_shape=(3, 16, 16)))
    assert not any(t.is_inference() for t in imported.model.state_dict().values())


def test_a_model_file_that_exits_at_import_is_a_one_line_error(tmp_path):
    from parawire.errors import ParawireError
    from parawire.models.factory import load_factory

    (tmp_path / "exits.py").write_text("raise SystemExit(3)\n")
    with pytest.raises(ParawireError, match="importing .*exits.py.* failed"):
        load_factory(f"{tmp_path / 'exits.py'}:build")
