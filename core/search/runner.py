"""The search itself: an Optuna study whose trials are scored by :mod:`~parawire.search.objective`.

One process owns the study (ask → submit → tell); evaluations run on whatever
:mod:`~parawire.search.executors` gives, so the storage sees a single writer even on a
Dask cluster, and a seeded search in one process is reproducible trial for trial.

Resumable: every told trial is in the storage (SQLite under ``--out`` by default, any
SQLAlchemy URL for many machines). A rerun counts the completed trials and asks only for
the rest. Trials in flight at Ctrl-C are marked failed; after a hard kill they stay
"running" in the storage. Neither counts, and a new run does not touch them: on a
shared storage a running trial may be another machine's work in progress (several
coordinators may overshoot the budget by what they have in flight). The study records
the settings' fingerprint; reopening it with other settings is refused.

Sampler: TPE (multivariate, grouped for the generator-dependent dimensions), with the
targets as constraints, so infeasible trials teach it where not to look. A candidate its
generator refuses (WS's ``k`` odd or above the vertex count…) is *pruned*: it costs
milliseconds, gives no values and does not count against the budget, which is the
number of candidates scored (the random baseline scores as many).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from parawire.errors import ParawireError
from parawire.search.executors import open_executor
from parawire.search.objective import evaluate
from parawire.search.settings import SearchSettings
from parawire.search.space import Candidate, SearchSpace
from parawire.study.store import differences

STUDY_FILE = "search.db"
#: Refused candidates allowed per trial of the budget before a search gives up.
REFUSALS = 10


def default_storage(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / STUDY_FILE}"


def open_search(settings: SearchSettings, storage: str, name: str):
    """The study ``name`` in ``storage``, created or reopened with the same settings."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError  # optuna's storage layer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sampler = optuna.samplers.TPESampler(seed=settings.seed, multivariate=True, group=True)
    try:
        exists = name in optuna.study.get_all_study_names(storage)
    except (ValueError, ImportError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ParawireError(f"--storage {storage}: not a usable Optuna storage ({reason}); give a "
                            "database URL such as sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if not exists:
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                    directions=[d for _, d in settings.objectives()])
        study.set_user_attr("settings", settings.fingerprint())
        return study
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    recorded = study.user_attrs.get("settings", {})
    if recorded != settings.fingerprint():
        raise ParawireError(
            f"search {name!r} in {storage}: made with other settings "
            f"({'; '.join(differences(recorded, settings.fingerprint()))}); resuming would mix two "
            "searches: choose another --out or the same settings")
    return study


def _count(study, state) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))


def finished(study) -> int:
    """Trials that count against the budget: the completed ones (scored candidates)."""
    from optuna.trial import TrialState

    return _count(study, TrialState.COMPLETE)


def run_search(study, settings: SearchSettings, workers: int | None = None, scheduler: str | None = None,
               on_trial: Callable[[dict], None] | None = None) -> None:
    """Ask, evaluate and tell until ``settings.trials`` trials are completed, or until the
    generators have refused :data:`REFUSALS` × that many candidates (a space almost
    nothing in is valid; the search then ends with what it has)."""
    from optuna.trial import TrialState

    space = settings.space()
    settings_json = settings.model_dump_json()
    warm_start(study, settings, space)
    complete, refused = finished(study), _count(study, TrialState.PRUNED)
    running: dict = {}
    with open_executor(workers, scheduler) as (executor, slots):
        try:
            while True:
                while (len(running) < slots and complete + len(running) < settings.trials
                       and refused < REFUSALS * settings.trials):
                    trial = study.ask()
                    try:
                        future = executor.submit(evaluate, space.suggest(trial).to_json(), settings_json)
                    except BaseException:  # interrupted while sampling or evaluating in-process
                        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                        raise
                    running[future] = trial
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    record = future.result()
                    _tell(study, running.pop(future), record, settings, TrialState)
                    refused += bool(record["invalid"])
                    complete += not record["invalid"]
                    if on_trial is not None:
                        on_trial(record)
        except BaseException:
            for trial in running.values():
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise


def warm_start(study, settings: SearchSettings, space: SearchSpace) -> int:
    """On a new study, enqueue the paper's configuration of each searched grid generator
    (the random baseline's first sample of it: 40 vertices, its default parameters, the
    study's widths and staging) as the first trials; the number enqueued.

    Why: TPE learns only from feasible trials, and under an accuracy target few random
    draws of the whole space are feasible (a 60-trial t2.micro search with
    ``--min-accuracy 0.9 --max-params 100000`` found one, at 60× the random baseline's
    latency), while the paper's configurations are the ones known to train. Starting
    there costs one trial per generator of the budget and makes the search begin where
    the baseline is, instead of hoping to stumble on it."""
    from parawire.search.baseline import candidates
    from parawire.study.config import StudyConfig

    if study.get_trials(deepcopy=False):
        return 0
    firsts = (space.params_of(_with_defaults(c)) for _, c in candidates(settings, len(StudyConfig().generators)))
    queued = [params for params in firsts if "generator" in params][: settings.trials]  # searched generators only
    for params in queued:
        study.enqueue_trial(params, skip_if_exists=True)
    return len(queued)


def _with_defaults(candidate: Candidate) -> Candidate:
    """``candidate`` with its generator's and staging policy's parameters spelt out: a
    spec leaves defaults implicit, an enqueued trial must fix them or TPE draws them."""
    from parawire.registry.manager import get_plugins

    plugins, spec = get_plugins(), dict(candidate.spec)
    for kind, name, key in (("generators", "generator", "params"), ("staging", "staging", "staging_params")):
        spec[key] = getattr(plugins, kind).get(spec[name]).resolve(spec[key]).model_dump(mode="json")
    return Candidate(spec, candidate.options)


def _tell(study, trial, record: dict, settings: SearchSettings, states) -> None:
    trial.set_user_attr("record", record)
    if record["invalid"]:
        study.tell(trial, state=states.PRUNED)
        return
    for name, value in settings.violations(record).items():
        trial.set_constraint(name, value)
    values = {"predicted_ms": record["predicted_ms"], "accuracy": record["accuracy"] or 0.0,
              "params": record["params"]}
    study.tell(trial, [values[name] for name, _ in settings.objectives()])


def trial_records(study) -> list[dict]:
    """The record of every completed or pruned trial, in trial order, with its number."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return [{"trial": t.number, **t.user_attrs["record"]} for t in sorted(trials, key=lambda t: t.number)]
