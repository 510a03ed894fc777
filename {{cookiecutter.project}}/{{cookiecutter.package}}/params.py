"""Read params.yaml once, check the keys the template declares, and give the stages typed values.

The template's keys are the fields of the dataclasses below, one per section: a misspelt, missing or
wrongly typed one fails here, naming the key, instead of as a KeyError deep in a stage.

Your own params need no change to this file. Add a key to any section of params.yaml, or a section of
your own (a new stage's), list it under the stage's `params:` in dvc.yaml, and read it as an attribute:

    p = params.load()
    p.prepare.min_rows    # a key you added to a template section: its value as params.yaml writes it
    p.featurize.window    # a key of a section you added

An unknown key that closely resembles a template key which is absent ('test_sise' while 'test_size' is
missing) is a typo and fails with "did you mean"; any other unknown key is yours, and your code checks it.
A key the template added after a release has a default here (fields with `= ...`), so a project made
before it keeps loading after `cruft update`; params.yaml of a new project lists it with that value.
The keys of a model's section (train.random_forest, ...) are the estimator's own: the train stage checks
them against the estimator. Under train:, a mapping is a model's section; any other key is yours.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing a template key, misspells one, or holds a value of the wrong type."""


@dataclass(frozen=True)
class Paths:  # the pipeline's files, relative to the project's root; dvc.yaml uses the same keys
    raw: Path  # the raw CSV
    schema: Path  # the data contract
    validation: Path
    train_data: Path
    test_data: Path
    model: Path
    model_info: Path
    metrics: Path
    plots: Path  # a directory
    drift_report: Path
    report: Path


@dataclass(frozen=True)
class Data:
    target: str  # the column to predict
    drop_columns: list[str]  # columns never used as features (IDs, leaks)


@dataclass(frozen=True)
class Prepare:
    test_size: float  # fraction of rows held out for evaluation
    seed: int


@dataclass(frozen=True)
class Train:
    model: str  # a key of ESTIMATORS in stages/train.py, with its own section train.<model> in params.yaml
    seed: int
    hyperparams: dict[str, Any]  # that section, train.<model>: passed to the estimator as keyword arguments


@dataclass(frozen=True)
class Evaluate:
    primary_metric: str  # the evaluate stage checks it against GATE_METRICS in stages/evaluate.py
    min_primary_metric: float
    max_latency_ms_per_1000_rows: float
    max_regression: float  # CI gate: largest drop of primary_metric against the base branch that still passes
    promote_margin: float  # `make promote`: how much the candidate must beat the champion by
    # Permutation importance (evaluate stage): shuffles per column, and the most test rows it scores.
    # Arrived after 0.2.0 was first declared: the defaults serve projects made before.
    importance_repeats: int = 5
    importance_rows: int = 5000


@dataclass(frozen=True)
class Drift:  # arrived after 0.2.0 was first declared: the defaults serve projects made before
    psi_threshold: float = 0.2  # `make drift`: a column whose PSI exceeds this has drifted
    bins: int = 10  # quantile bins for number columns


{%- if cookiecutter.engine == 'spark' %}


@dataclass(frozen=True)
class Spark:  # where the stages' Spark jobs run (spark_session.py)
    master: str = "local[2]"  # the environment variable SPARK_MASTER overrides it; a cluster: spark://host:7077
    driver_memory: str = "2g"  # the driver JVM's heap (local mode: all of Spark's)
    shuffle_partitions: int = 4  # spark.sql.shuffle.partitions; a cluster wants more (2-3 per core)
{%- endif %}
{%- if cookiecutter.docker == 'yes' %}


@dataclass(frozen=True)
class Monitoring:  # arrived after 0.2.0: the defaults serve projects made before (`make alerts` reads it)
    p99_latency_ms: float = 250.0  # alert: /predict's 99th percentile latency above this
    max_error_rate: float = 0.01  # alert: share of 5xx answers above this
    max_prediction_shift: float = 0.15  # alert: a predicted class's share this far from the test set's
    min_predictions: int = 200  # ... once at least this many records were predicted in the hour
{%- endif %}


@dataclass(frozen=True)
class Params:
    data: Data
    prepare: Prepare
    train: Train
    evaluate: Evaluate
    paths: Paths  # no default: a project made before 0.4.0 adds the section (the template's CHANGELOG)
    drift: Drift = dataclasses.field(default_factory=Drift)
{%- if cookiecutter.engine == 'spark' %}
    spark: Spark = dataclasses.field(default_factory=Spark)
{%- endif %}
{%- if cookiecutter.docker == 'yes' %}
    monitoring: Monitoring = dataclasses.field(default_factory=Monitoring)
{%- endif %}


def load(path: Path = PARAMS_FILE) -> Params:
    """Load and check params.yaml; raise ParamsError naming the first bad key."""
    with open(path, encoding="utf-8") as file:
        raw = yaml.safe_load(file) or {}
    params = _build(Params, _select_model_section(raw, path), prefix="", source=path)
    if not 0 < params.prepare.test_size < 1:
        raise ParamsError(f"{path}: prepare.test_size must be between 0 and 1, got {params.prepare.test_size}")
    for key in ("max_regression", "promote_margin"):
        if getattr(params.evaluate, key) < 0:
            raise ParamsError(f"{path}: evaluate.{key} must be 0 or more, got {getattr(params.evaluate, key)}")
    for key in ("importance_repeats", "importance_rows"):
        if getattr(params.evaluate, key) < 1:
            raise ParamsError(f"{path}: evaluate.{key} must be 1 or more, got {getattr(params.evaluate, key)}")
    if params.drift.psi_threshold <= 0 or params.drift.bins < 2:
        raise ParamsError(
            f"{path}: drift.psi_threshold must be above 0 and drift.bins at least 2, "
            f"got {params.drift.psi_threshold} and {params.drift.bins}"
        )
{%- if cookiecutter.docker == 'yes' %}
    m = params.monitoring
    if m.p99_latency_ms <= 0 or not 0 <= m.max_error_rate <= 1 or not 0 < m.max_prediction_shift <= 1:
        raise ParamsError(
            f"{path}: monitoring.p99_latency_ms must be above 0, max_error_rate between 0 and 1 and "
            f"max_prediction_shift above 0 and at most 1, got {m.p99_latency_ms}, {m.max_error_rate} "
            f"and {m.max_prediction_shift}"
        )
{%- endif %}
    return params


def as_flat_dict(params: Params) -> dict[str, Any]:
    """{'train.random_forest.max_depth': 8, ...}: the form MLflow wants, named as in params.yaml, your
    own keys included.

    Of the model sections only the selected one is there: the others played no part in this model.
    """
    tree = _as_dict(params)
    tree["train"][params.train.model] = tree["train"].pop("hyperparams")
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = value

    walk(tree, "")
    return flat


def _as_dict(value: Any) -> Any:
    """Sections (the dataclasses, with your keys; your own sections) as dicts, all the way down."""
    if dataclasses.is_dataclass(value) or isinstance(value, SimpleNamespace):
        value = vars(value)
    if isinstance(value, dict):
        return {str(key): _as_dict(item) for key, item in value.items()}
    return value


def _reject_typo(key: Any, absent: list[str], prefix: str, source: Path) -> None:
    """An unknown key that closely resembles a template key which is absent is a typo of it."""
    close = difflib.get_close_matches(str(key), absent, n=1)
    if close:
        raise ParamsError(f"{source}: unknown key '{prefix}{key}'; did you mean '{prefix}{close[0]}'?")


def _select_model_section(raw: Any, source: Path) -> Any:
    """params.yaml's train: holds model, seed and one section per model; keep the one train.model names.

    Which models exist is declared once, by ESTIMATORS in stages/train.py (importing it here would cost
    every command that reads params, `make report` included, the seconds scikit-learn takes): here
    train.model only has to name a section, and the train stage checks the name and the section's keys
    against ESTIMATORS. A key under train: that is not a mapping is the team's (or a typo of model, seed).
    """
    train = raw.get("train") if isinstance(raw, dict) else None
    if not isinstance(train, dict):
        return raw  # _build names what is wrong
    if "hyperparams" in train:
        raise ParamsError(
            f"{source}: train.hyperparams is now one section per model: rename it to train.{train.get('model')} "
            "and add the other models' sections (see the template's CHANGELOG)"
        )
    # A model's section is a mapping, or None when it has no keys (`linear:`).
    sections = {key: value for key, value in train.items() if key not in ("model", "seed") and _is_section(value)}
    own = {key: value for key, value in train.items() if key not in sections}  # model, seed and the team's keys
    if "model" not in train:
        for key in own:
            _reject_typo(key, ["model"], "train.", source)
        raise ParamsError(f"{source}: missing key 'train.model'")
    model = train["model"]
    if not isinstance(model, str) or model not in sections:
        raise ParamsError(
            f"{source}: train.model must name one of the model sections under train: "
            f"{', '.join(sections) or '(none)'}; got {model!r}"
        )
    return {**raw, "train": {**own, "hyperparams": sections[model] or {}}}


def _is_section(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _build(cls: type, raw: Any, prefix: str, source: Path) -> Any:
    """An instance of the section's dataclass from its mapping: the template's keys checked, the team's kept."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {where} must be a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = [field.name for field in fields]
    own = [key for key in raw if key not in names]
    for key in own:
        _reject_typo(key, [name for name in names if name not in raw], prefix, source)
    values = {}
    for field in fields:
        name = field.name
        if name not in raw:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ParamsError(f"{source}: missing key '{prefix}{name}'")
            continue  # the dataclass default applies
        expected = hints[name]
        if dataclasses.is_dataclass(expected):
            values[name] = _build(expected, raw[name], f"{prefix}{name}.", source)
        else:
            values[name] = _check_type(raw[name], expected, f"{prefix}{name}", source)
    section = cls(**values)
    for key in own:  # the team's keys, as attributes; a section of its own gets attributes too
        value = raw[key]
        if cls is Params and isinstance(value, dict):
            value = SimpleNamespace(**{str(name): item for name, item in value.items()})
        # The dataclasses are frozen, so that no stage changes a param; this is where the team's keys arrive.
        object.__setattr__(section, str(key), value)
    return section


def _check_type(value: Any, expected: Any, key: str, source: Path) -> Any:
    kind = typing.get_origin(expected) or expected
    if kind is Any:
        return value
    if kind is Path and isinstance(value, str) and value:
        return Path(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (list, dict) and value is None:  # an empty YAML section
        return kind()
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ParamsError(f"{source}: '{key}' must be of type {kind.__name__}, got {value!r}")
    return value
