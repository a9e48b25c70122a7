"""Test accuracy with each activation codec next to the exact network, on digits.

Trains a DP-40 and an FB network on scikit-learn's digits (the `parawire train`
pipeline: ``parawire.training``), partitions each over ``--units`` units, and evaluates
the test set with every crossing of that partition through each codec, in one process
exactly as the workers encode and decode (``parawire.calibration.codec_choice``). Prints
accuracy, the share of test images whose top-1 class changed, and Λ per codec.

    .venv/bin/python benchmarks/codec_accuracy.py --epochs 10 --units 4 [--json]
"""

from __future__ import annotations

import argparse
import json

import torch
from parawire.calibration.codec_choice import coded_logits, exact_logits
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture
from parawire.pipeline.wire import wire_of
from parawire.registry.codecs import CodecChoice, CodecPlan
from parawire.score.hypergraph import hypergraph_of
from parawire.score.metrics import km1
from parawire.training.datasets import fit_spec, load_dataset
from parawire.training.trainer import train

CODECS = (CodecChoice(), CodecChoice(name="fp16"), CodecChoice(name="bf16"), CodecChoice(name="int8"),
          CodecChoice(name="zstd", params={"inner": "int8"}))
NETWORKS = {
    "dp-40": ArchitectureSpec(generator="dp", nodes=40, seed=0),
    "fb": ArchitectureSpec(generator="fb", nodes=40, seed=0),
}


def normalised_test_set(test) -> tuple[torch.Tensor, torch.Tensor]:
    return test.batch(torch.arange(len(test)))


def rows(name: str, spec: ArchitectureSpec, epochs: int, units: int) -> list[dict]:
    dataset = load_dataset("digits")
    spec, _ = fit_spec(spec, dataset[2])
    arch = build_architecture(spec)
    net = build_network(arch)
    train(net, dataset, epochs, seed=0)
    net.eval()
    xs, labels = normalised_test_set(dataset[1])
    exact = exact_logits(net, xs)
    part = partition_architecture(arch, units)
    out = []
    for choice in CODECS:
        codecs = CodecPlan(default=choice)
        logits = exact if choice.raw else coded_logits(arch, net, part, codecs, xs)
        out.append({
            "network": name, "codec": choice.label, "units": units,
            "accuracy": float((logits.argmax(-1) == labels).double().mean()),
            "top1_changed": float((logits.argmax(-1) != exact.argmax(-1)).double().mean()),
            "max_abs_diff": float((logits - exact).abs().max()),
            "lambda_bytes": km1(hypergraph_of(arch, wire=wire_of(arch, codecs)), part, units),
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    table = [r for name, spec in NETWORKS.items() for r in rows(name, spec, args.epochs, args.units)]
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"{'network':8} {'codec':18} {'accuracy':>8} {'top-1 changed':>13} {'max |diff|':>10} {'Λ bytes':>9}")
    for r in table:
        print(f"{r['network']:8} {r['codec']:18} {r['accuracy']:8.4f} {r['top1_changed']:13.4%}"
              f" {r['max_abs_diff']:10.3g} {r['lambda_bytes']:9d}")


if __name__ == "__main__":
    main()
