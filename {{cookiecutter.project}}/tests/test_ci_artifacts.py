"""ci_artifacts.py: the files of params.yaml's paths, copied into the folder CI keeps, at their project paths."""

import shutil
from pathlib import Path

from {{ cookiecutter.package }} import ci_artifacts, params

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_copies_files_and_directories_at_their_paths_and_skips_what_is_not_there(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (PROJECT_ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("report: reports/report.md", "report: out/the-report.md"))
    paths = params.load().paths
    paths.report.parent.mkdir(parents=True)
    paths.report.write_text("# report\n")
    (paths.plots / "deep").mkdir(parents=True)
    (paths.plots / "deep" / "roc.csv").write_text("fpr,tpr\n")

    assert ci_artifacts.main(["build/keep", "report", "plots", "model"]) == 0
    assert (tmp_path / "build" / "keep" / "out" / "the-report.md").read_text() == "# report\n"
    assert (tmp_path / "build" / "keep" / paths.plots / "deep" / "roc.csv").is_file()
    assert not (tmp_path / "build" / "keep" / paths.model).exists()
    output = capsys.readouterr().out
    assert f"paths.model ({paths.model}) is not there: skipped" in output

    # Copied back, every file is where the project reads it (what the image jobs do with the model).
    shutil.rmtree(paths.report.parent)
    shutil.copytree(tmp_path / "build" / "keep", tmp_path, dirs_exist_ok=True)
    assert paths.report.read_text() == "# report\n"


def test_an_unknown_key_stops_with_the_keys_there_are(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(PROJECT_ROOT / "params.yaml", tmp_path / "params.yaml")
    assert ci_artifacts.main(["build/keep", "report", "modle"]) == 2
    error = capsys.readouterr().err
    assert "params.yaml has no paths.modle: the keys are raw, schema" in error
    assert not (tmp_path / "build").exists()  # nothing copied before the check
    assert ci_artifacts.main([]) == 2
