"""An mkdocs hook: the site's "In a baked project" pages are the baked project's own docs/ pages
(`docs/project` is a symlink to `{{cookiecutter.project}}/docs`), so each page is written once. Those
pages are cookiecutter templates; this renders them with the answers below, through cookiecutter's own
Jinja environment, as a bake would. The answers pick the fullest project (both CIs, an S3 remote, the
serving app), so the site shows every section a project can have.
"""

import re
from pathlib import Path

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PAGES = "project/"
SITE_ANSWERS = {"ci": "both", "dvc_remote": "s3", "dvc_remote_url": "s3://my-bucket/my-ml-project", "docker": "yes"}
NOTE = (
    '!!! note "A page of the baked project"\n'
    "    This is `docs/{name}` of a project baked with {answers} and the other options at their defaults. "
    "Every project has it, rendered for its own answers; `cruft update` brings its fixes.\n\n"
)

_context = {}


def answers() -> dict:
    """The cookiecutter context of the site's bake, as `cookiecutter --no-input` with SITE_ANSWERS makes it."""
    if not _context:
        context = generate_context(str(ROOT / "cookiecutter.json"), extra_context=SITE_ANSWERS)
        _context["cookiecutter"] = prompt_for_config(context, no_input=True)
    return _context


def on_files(files, config):
    """A page that only some bakes have is a file whose name renders empty in the others
    (`{% if cookiecutter.engine == 'spark' %}spark.md{% endif %}`): the site shows it under the name it has
    in the bakes that have it."""
    for file in list(files):
        if file.src_uri.startswith(PROJECT_PAGES) and "{%" in file.src_uri:
            files.remove(file)
            name = re.sub(r"\{%.*?%\}", "", file.src_uri)
            files.append(File.generated(config, name, abs_src_path=file.abs_src_path))
    return files


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.startswith(PROJECT_PAGES):
        return markdown
    context = answers()
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    shown = ", ".join(f"`{key}={value}`" for key, value in SITE_ANSWERS.items() if key != "dvc_remote_url")
    name = page.file.src_uri.removeprefix(PROJECT_PAGES)
    if name == "spark.md":  # only spark bakes have it, and they have no serving app
        shown = "`engine=spark`, `docker=no`"
    title, _, body = environment.from_string(markdown).render(**context).partition("\n")
    return f"{title}\n\n{NOTE.format(name=name, answers=shown)}{body}"
