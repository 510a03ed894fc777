from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package }} import params
from {{ cookiecutter.package }}.stages import train

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, change) -> Path:
    """The project's own params.yaml, edited by `change`, saved in tmp_path."""
    with open(PROJECT_ROOT / "params.yaml", encoding="utf-8") as file:
        raw = yaml.safe_load(file)
    change(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def project_params() -> dict:
    with open(PROJECT_ROOT / "params.yaml", encoding="utf-8") as file:
        return yaml.safe_load(file)


def test_project_params_load():
    loaded = params.load(PROJECT_ROOT / "params.yaml")
    assert loaded.train.model in train.ESTIMATORS
    assert 0 < loaded.prepare.test_size < 1


def test_every_model_has_a_section_its_estimator_accepts():
    """The sections under train: are exactly the models of ESTIMATORS, and each estimator takes its keys:
    a typo in a section that is not selected fails here, not on the day someone selects it. (Under train:,
    a mapping is a model's section, or empty: `linear:`; any other key is the team's own.)"""
    train_params = project_params()["train"]
    sections = {key: value for key, value in train_params.items() if value is None or isinstance(value, dict)}
    assert sorted(sections) == sorted(train.ESTIMATORS)
    for model, hyperparams in sections.items():
{%- if cookiecutter.engine == 'spark' %}
        estimator = train.ESTIMATORS[model]
        assert set(hyperparams or {}) <= set(train.accepted_params(estimator)), f"train.{model}"
        for key, value in (hyperparams or {}).items():
            getattr(estimator, key).typeConverter(value)  # a value of the wrong type: TypeError (no JVM needed)
{%- else %}
        train.ESTIMATORS[model]().set_params(**(hyperparams or {}))  # a key the estimator lacks: ValueError
{%- endif %}


@pytest.mark.parametrize("model", train.ESTIMATORS)
def test_the_selected_section_is_the_one_used(tmp_path, model):
    path = write_params(tmp_path, lambda raw: raw["train"].update(model=model))
    loaded = params.load(path)
    assert (loaded.train.model, loaded.train.hyperparams) == (model, project_params()["train"][model] or {})


def rename(section: str, old: str, new: str):
    return lambda raw: raw[section].update({new: raw[section].pop(old)})


def test_a_misspelt_key_is_named_with_a_suggestion(tmp_path):
    path = write_params(tmp_path, rename("prepare", "test_size", "tset_size"))
    with pytest.raises(params.ParamsError, match=r"unknown key 'prepare.tset_size'; did you mean 'prepare.test_size'"):
        params.load(path)


def test_a_misspelt_key_that_has_a_default_is_named_too(tmp_path):
    path = write_params(tmp_path, rename("evaluate", "importance_rows", "importance_row"))
    message = r"unknown key 'evaluate.importance_row'; did you mean 'evaluate.importance_rows'"
    with pytest.raises(params.ParamsError, match=message):
        params.load(path)


def test_a_misspelt_section_is_named_with_a_suggestion(tmp_path):
    path = write_params(tmp_path, lambda raw: raw.update(evalute=raw.pop("evaluate")))
    with pytest.raises(params.ParamsError, match=r"unknown key 'evalute'; did you mean 'evaluate'"):
        params.load(path)


def test_the_teams_own_keys_and_sections_load_as_attributes(tmp_path):
    """A key added to a template section, or a section of the team's own, needs no change to params.py."""

    def add_own(raw):
        raw["prepare"]["min_rows"] = 50
        raw["prepare"]["test_sizes"] = [0.1, 0.2]  # close to test_size, which is there: not a typo
        raw["train"]["n_jobs"] = 2  # under train:, a key that is not a mapping is not a model's section
        raw["featurize"] = {"window": 7, "columns": ["a", "b"]}

    loaded = params.load(write_params(tmp_path, add_own))
    assert (loaded.prepare.min_rows, loaded.prepare.test_sizes, loaded.train.n_jobs) == (50, [0.1, 0.2], 2)
    assert (loaded.featurize.window, loaded.featurize.columns) == (7, ["a", "b"])
    assert loaded.prepare.test_size == project_params()["prepare"]["test_size"]  # the template's keys as before
    flat = params.as_flat_dict(loaded)  # MLflow logs them with the rest
    assert (flat["prepare.min_rows"], flat["train.n_jobs"], flat["featurize.window"]) == (50, 2, 7)


def test_missing_key_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["train"].pop("seed"))
    with pytest.raises(params.ParamsError, match=r"missing key 'train.seed'"):
        params.load(path)


def test_a_section_added_after_a_release_takes_its_defaults_when_missing(tmp_path):
    """A project made before the template added `drift` keeps loading after `cruft update`."""
    path = write_params(tmp_path, lambda raw: raw.pop("drift", None))
    assert params.load(path).drift == params.Drift()


def test_wrong_type_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["prepare"].update(seed="forty-two"))
    with pytest.raises(params.ParamsError, match=r"'prepare.seed' must be of type int"):
        params.load(path)


def test_test_size_outside_zero_one_is_refused(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["prepare"].update(test_size=1.5))
    with pytest.raises(params.ParamsError, match=r"prepare.test_size must be between 0 and 1"):
        params.load(path)


def test_unknown_model_is_refused_naming_the_sections(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["train"].update(model="xgboost"))
    with pytest.raises(params.ParamsError, match=r"train.model must name one of the model sections") as error:
        params.load(path)
    assert str(error.value).endswith("; got 'xgboost'")
    assert all(model in str(error.value) for model in train.ESTIMATORS)


@pytest.mark.parametrize(("key", "typo"), [("seed", "sed"), ("model", "modle")])
def test_a_misspelt_train_key_is_not_taken_for_a_section_or_the_teams(tmp_path, key, typo):
    path = write_params(tmp_path, rename("train", key, typo))
    with pytest.raises(params.ParamsError, match=rf"unknown key 'train.{typo}'; did you mean 'train.{key}'"):
        params.load(path)


def test_the_old_hyperparams_section_says_how_to_convert(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["train"].update(hyperparams={"max_depth": 3}))
    with pytest.raises(params.ParamsError, match=r"train.hyperparams is now one section per model: rename it"):
        params.load(path)


def test_flat_dict_has_dotted_keys_and_only_the_selected_model_section():
    loaded = params.load(PROJECT_ROOT / "params.yaml")
    flat = params.as_flat_dict(loaded)
    assert flat["prepare.seed"] == 42
    model_keys = {key.split(".")[1] for key in flat if key.startswith("train.") and key.count(".") >= 2}
    assert model_keys == {loaded.train.model}
