from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package }} import params

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, change) -> Path:
    """The project's own params.yaml, edited by `change`, saved in tmp_path."""
    with open(PROJECT_ROOT / "params.yaml", encoding="utf-8") as file:
        raw = yaml.safe_load(file)
    change(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_project_params_load():
    loaded = params.load(PROJECT_ROOT / "params.yaml")
    assert loaded.train.model in params.MODELS
    assert 0 < loaded.prepare.test_size < 1


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["prepare"].update(tset_size=0.3))
    with pytest.raises(params.ParamsError, match=r"unknown key 'prepare.tset_size'; did you mean 'prepare.test_size'"):
        params.load(path)


def test_missing_key_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["train"].pop("seed"))
    with pytest.raises(params.ParamsError, match=r"missing key 'train.seed'"):
        params.load(path)


def test_a_section_added_after_a_release_takes_its_defaults_when_missing(tmp_path):
    """A project made before the template added `drift` keeps loading after `cruft update`."""
    path = write_params(tmp_path, lambda raw: raw.pop("drift"))
    assert params.load(path).drift == params.Drift()


def test_wrong_type_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["prepare"].update(seed="forty-two"))
    with pytest.raises(params.ParamsError, match=r"'prepare.seed' must be of type int"):
        params.load(path)


def test_test_size_outside_zero_one_is_refused(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["prepare"].update(test_size=1.5))
    with pytest.raises(params.ParamsError, match=r"prepare.test_size must be between 0 and 1"):
        params.load(path)


def test_unknown_model_is_refused(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["train"].update(model="xgboost"))
    with pytest.raises(params.ParamsError, match=r"train.model must be one of"):
        params.load(path)


def test_flat_dict_has_dotted_keys():
    flat = params.as_flat_dict(params.load(PROJECT_ROOT / "params.yaml"))
    assert flat["prepare.seed"] == 42
    assert any(key.startswith("train.hyperparams.") for key in flat)
