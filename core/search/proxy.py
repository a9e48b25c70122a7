"""The accuracy proxy: the first epochs of the accuracy study's own training.

"Full" training is the digits accuracy study's (docs/training.md): 6 epochs of SGD at lr
0.1, momentum 0.9, lr 0.01 for the last. The proxy is its first ``epochs`` epochs (lr
0.1 throughout). The trainer is deterministic and seeds each epoch from (seed, epoch),
so the proxy's accuracy *is* the full run's accuracy after that epoch — the validation
(``benchmarks/search_proxy.py``) trains each architecture once and reads both from its
history, and what it measures is exactly what the search uses.

Only digits: it is bundled (nothing to download) and cheap; the spec is fitted to its
1×16×16 images and 10 classes like ``parawire train`` does, so the proxy ranks the
*topology and widths* of a candidate, which is what the search varies.
"""

from __future__ import annotations

from functools import lru_cache

from parawire.graph.spec import ArchitectureSpec
from parawire.network.threads import torch_threads

FULL_EPOCHS = 6
FULL_SCHEDULE = "0:0.1:0.9,5:0.01:0.9"
PROXY_SCHEDULE = "0:0.1:0.9"
#: The study's batch size; a run is a function of it.
BATCH = 64
#: Kendall τ (tau-b) of the proxy after E epochs against full training, measured by
#: ``benchmarks/search_proxy.py`` on 30 architectures drawn from the default space
#: (docs/search.md). The search uses a proxy only where τ ≥ :data:`MIN_TAU`.
MEASURED_TAU = {1: -0.058, 2: 0.388, 3: 0.384, 4: 0.510, 5: 0.629}
MIN_TAU = 0.5
DEFAULT_EPOCHS = min(e for e, tau in MEASURED_TAU.items() if tau >= MIN_TAU)


@lru_cache(maxsize=2)
def _data(ref: str):
    from parawire.training.datasets import load_dataset

    return load_dataset(ref)


def _trained(spec: ArchitectureSpec, epochs: int, schedule: str, dataset: str):  # type: ignore[no-untyped-def]
    """(architecture fitted to the data, its trained network, the data, top-1 per epoch)."""
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.training.datasets import fit_spec
    from parawire.training.schedule import parse_schedule
    from parawire.training.trainer import train

    data = _data(dataset)
    fitted, _ = fit_spec(spec, data[2])
    with torch_threads(1):
        arch = build_architecture(fitted)
        model = build_network(arch)
        result = train(model, data, epochs, parse_schedule(schedule, epochs), seed=spec.seed, batch_size=BATCH)
    return arch, model, data, [h.accuracy for h in result.history]


def train_history(spec: ArchitectureSpec, epochs: int, schedule: str, dataset: str = "digits") -> list[float]:
    """Top-1 on the test split after each epoch of training ``spec``'s network (one thread)."""
    return _trained(spec, epochs, schedule, dataset)[3]


def proxy_accuracy(spec: ArchitectureSpec, epochs: int, dataset: str = "digits", codec: str | None = None) -> float:
    """Top-1 (a fraction) after the first ``epochs`` epochs of full training; with a lossy
    ``codec``, of the trained network with *every* vertex's output through the codec's
    round trip: the most any placement can send through it, so the figure holds for
    whichever placement the latency model picks (measured, not assumed: issue 23)."""
    arch, model, data, history = _trained(spec, epochs, PROXY_SCHEDULE, dataset)
    if codec is None:
        return history[-1]
    import numpy as np
    import torch
    from parawire.calibration.codec_choice import coded_logits
    from parawire.registry.codecs import CodecChoice, CodecPlan

    test = data[1]
    x, y = test.batch(torch.arange(len(test)))
    every = np.arange(arch.dag.graph.number_of_nodes())  # each vertex on a unit of its own: all cross
    with torch_threads(1):
        logits = coded_logits(arch, model.eval(), every, CodecPlan(default=CodecChoice(name=codec)), x)
    return float((logits.argmax(dim=1) == y).float().mean())


def validation_candidates(space, count: int, seed: int = 0) -> list[dict]:
    """``count`` specs drawn at random from ``space`` (Optuna's random sampler, seeded),
    refused draws skipped: the architectures the proxy is validated on are the kind the
    search proposes, not hand-picked ones."""
    import optuna
    from parawire.errors import ParawireError
    from parawire.pipeline.build import build_architecture

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs: list[dict] = []
    while len(specs) < count:
        trial = study.ask()
        spec = space.suggest(trial).spec
        try:
            build_architecture(ArchitectureSpec.parse(spec))
        except ParawireError:
            continue
        finally:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        specs.append(spec)
    return specs
