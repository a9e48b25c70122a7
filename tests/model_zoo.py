"""Small models that exercise the import's hard cases (tests/test_models*.py).

Referenced as ``<this file>:FACTORY`` so worker processes can import them by path.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


class Shared(nn.Module):
    """A conv called three times (twice in a row, once on a parallel branch), functional
    calls, a parameter read by two blocks, a plain tensor attribute, chunk/cat/add, view
    with a traced size, and an
    in-place ReLU on a tensor that a later block reads again (eager semantics: it sees
    the rectified values)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.shared = nn.Conv2d(8, 8, 3, padding=1)
        self.other = nn.Conv2d(8, 8, 1)
        self.relu = nn.ReLU(inplace=True)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1))
        self.fc = nn.Linear(8 * 8 * 8, 5)
        self.offset = torch.full((1, 8, 1, 1), 0.1)  # a plain tensor attribute, not a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x) + self.offset
        a = self.shared(self.shared(s))  # shared weights, called twice in a row
        b = self.other(s)
        self.relu(s)  # in place: s is rectified from here on
        c = self.shared(s) * self.scale  # third call of the shared conv, reads the rectified s
        d = F.relu(torch.add(a, b)) + c * self.scale
        left, right = d.chunk(2, dim=1)
        e = torch.cat([right.sigmoid(), left.relu_()], dim=1)
        e = F.max_pool2d(e, 2)
        return self.fc(e.view(e.size(0), -1))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:  # data-dependent control flow: fx cannot trace it
            return x
        return -x


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.body = nn.Sequential(nn.ReLU(), Gate())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.conv(x))


class IndexedWrite(nn.Module):
    """``y[:, :2] = 0``: fx's proxies take no item assignment (not control flow)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y[:, :2] = 0
        return y


class Constant(nn.Module):
    """Returns a parameter's function, whatever the image."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * 2


class Labels(nn.Module):
    """Returns the class index (int64), or with ``scalar`` a 0-d mean: results the
    coordinator does not take."""

    def __init__(self, scalar: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scalar = scalar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).mean((2, 3))
        return y.mean() if self.scalar else y.argmax(1)


class Augmented(nn.Module):
    """``z += 1`` on a tensor read again later: fx records ``z + 1``, eager mutates y."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y
        z += 1
        return self.conv2(y) + z


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor):
        y = self.conv(x)
        return y, y.relu()


class Buffered(nn.Module):
    """A persistent buffer, a non-persistent one (like Hugging Face ``position_ids``) and
    a plain tensor attribute, the last two drawn at random: unseeded, every process
    that builds it gets other values, so only values that travel give the right output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1))
        self.register_buffer("position", torch.randn(1, 8, 16, 16), persistent=False)
        self.noise = torch.randn(1, 8, 1, 1)  # neither parameter nor buffer
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x) * self.scale + self.position
        return self.head(y + self.noise)


class Encoder(nn.Module):
    """Patch embedding, a two-layer ``nn.TransformerEncoder`` (norm on), mean, linear."""

    def __init__(self, dim: int = 32, heads: int = 4, ff: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.fc = nn.Linear(dim, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.fc(self.encoder(tokens).mean(1))


class SequenceFirstAttention(nn.Module):
    """``nn.MultiheadAttention`` called directly, sequence first (``batch_first=False``,
    as the module defaults), separate key and value widths, no weights asked for."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        self.attn = nn.MultiheadAttention(dim, heads, kdim=8, vdim=12)
        self.key, self.value = nn.Linear(dim, 8), nn.Linear(dim, 12)
        self.fc = nn.Linear(dim, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).permute(2, 0, 1)  # (L, 1, dim)
        out = self.attn(t, self.key(t), self.value(t), need_weights=False)[0]
        return self.fc(out.mean(0))


class Attention(nn.Module):
    """Single-head attention three ways: ``matmul``, ``scaled_dot_product_attention``
    and ``einsum``; and a ``bmm``."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)  # (1, L, dim)
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        a = torch.matmul(q, k.transpose(-2, -1)).softmax(-1) @ v
        b = F.scaled_dot_product_attention(q, k, v)
        c = torch.einsum("nls,nsd->nld", torch.einsum("nld,nsd->nls", q, k).softmax(-1), v)
        return torch.bmm(a + b + c, k.transpose(1, 2)).mean(-1)


class Recurrent(nn.Module):
    """Rows of the image as a sequence: a 2-layer bidirectional LSTM and a GRU, both
    returning tuples read by two blocks (output and final state)."""

    def __init__(self, hidden: int = 12) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3 * 8, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 5)
        self.state = nn.Linear(hidden, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.permute(0, 2, 1, 3).flatten(2)  # (1, 8 rows, 3·8)
        out, (h, _) = self.lstm(rows)
        seq, last = self.gru(out)
        return self.fc(seq[:, -1]) + self.state(last[0]) + h.sum(0).mean(-1, keepdim=True)


class Unexportable(nn.Module):
    """A ``cummax`` (no ONNX form in opset 17) between two convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(torch.cummax(self.conv2(y), dim=-1)[0] + y)


class Products(nn.Module):
    """Contractions PyTorch's FLOP counter has no formula for: ``nn.Bilinear``,
    ``F.bilinear``, ``mv``, ``dot``, ``addmv``, ``addbmm``."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, dim)
        self.bilinear = nn.Bilinear(dim, dim, 4)
        self.weight = nn.Parameter(torch.randn(4, dim, dim))
        self.matrix = nn.Parameter(torch.randn(dim, dim))
        self.batch = nn.Parameter(torch.randn(3, dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x.flatten(1))  # (1, dim)
        v = h[0]
        a = self.bilinear(h, h.tanh()) + F.bilinear(h, h, self.weight)
        b = torch.mv(self.matrix, v) + self.matrix.mv(v) + torch.addmv(v, self.matrix, v)
        c = torch.addbmm(self.matrix, self.batch, self.batch * v)
        return (a.sum() + torch.dot(b, v) + v.dot(v) + c.sum(0) @ v).reshape(1, 1)


class Defaults(nn.Module):
    """A forward with optional parameters (a mask, a scale, ``*args``/``**kwargs``), as
    Hugging Face and detection models have; called with the image alone."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 2.0,
                *args, flip: bool = False, size: tuple[int, int] = (1, 2), **kwargs) -> torch.Tensor:
        y = self.conv(x) * scale
        if mask is not None:
            y = y * mask
        return -y if flip else y


class TwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


def _seeded(cls):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return cls()


def shared() -> nn.Module:
    return _seeded(Shared)


def untraceable() -> nn.Module:
    return _seeded(Untraceable)


def indexed_write() -> nn.Module:
    return _seeded(IndexedWrite)


def constant() -> nn.Module:
    return Constant()


def labels() -> nn.Module:
    return _seeded(Labels)


def scalar() -> nn.Module:
    return Labels(scalar=True)


def augmented() -> nn.Module:
    return _seeded(Augmented)


def two_outputs() -> nn.Module:
    return _seeded(TwoOutputs)


def buffered() -> nn.Module:
    return Buffered()  # unseeded on purpose


def encoder() -> nn.Module:
    return _seeded(Encoder)


def attention() -> nn.Module:
    return _seeded(Attention)


def sequence_first_attention() -> nn.Module:
    return _seeded(SequenceFirstAttention)


def recurrent() -> nn.Module:
    return _seeded(Recurrent)


def unexportable() -> nn.Module:
    return _seeded(Unexportable)


def products() -> nn.Module:
    return _seeded(Products)


def defaults() -> nn.Module:
    return _seeded(Defaults)


def two_inputs() -> nn.Module:
    return TwoInputs()


def compiled() -> nn.Module:
    return torch.compile(_seeded(Augmented).conv)


def scripted() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated: that is the point
        return torch.jit.script(_seeded(Augmented).conv)


def double() -> nn.Module:
    return _seeded(Augmented).conv.double()


def not_a_module() -> int:
    return 3
