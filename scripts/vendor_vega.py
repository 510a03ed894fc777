"""Write the baked project's plots_template.html: the page `dvc plots show` and `dvc plots diff` draw
into, with Vega, Vega-Lite and Vega-Embed inlined so that the plots draw without internet.

The three libraries are the browser builds of the npm packages pinned in ci-tools/package.json (run
`make ci-tools` first). tests/test_browser.py checks that the committed file is what this script writes,
so the file is never edited by hand: to move to newer versions, change ci-tools/package.json, run
`npm install --package-lock-only --prefix ci-tools && make ci-tools`, then this script.

Usage: python scripts/vendor_vega.py [--check]      (--check: exit 1 when the committed file differs)
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "ci-tools" / "node_modules"
OUTPUT = ROOT / "{{cookiecutter.project}}" / "plots_template.html"
LIBRARIES = {"vega": "vega.min.js", "vega-lite": "vega-lite.min.js", "vega-embed": "vega-embed.min.js"}
# vega ships no LICENSE file; its package.json says BSD-3-Clause, the same licence and holder as these two.
LICENSE_FROM = "vega-lite"
# DVC replaces these placeholders (dvc_render.html); {scripts} is left out on purpose: DVC would put its
# CDN <script> tags there.
PAGE = """<!DOCTYPE html>
<!--
The page `dvc plots show` and `dvc plots diff` draw the plots of dvc.yaml into (.dvc/config sets
plots.html_template to this file). Vega, Vega-Lite and Vega-Embed are inlined below, so the page draws
without internet. It is the template's file: written by its scripts/vendor_vega.py from the npm packages
{versions}; `cruft update` brings newer ones.

{license}
-->
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>Plots</title>
{scripts}
    <script>
        // SVG rather than canvas: sharp at any zoom, and the text in it can be selected and searched.
        const embedDefault = vegaEmbed;
        vegaEmbed = (element, spec) => embedDefault(element, spec, {{ renderer: "svg" }});
    </script>
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""
JINJA = re.compile(r"\{\{|\{%|\{#")


def library_script(package: str, build: str) -> str:
    """The package's minified build as an inline <script>, without its source map comment."""
    version = json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    code = (NODE_MODULES / package / "build" / build).read_text(encoding="utf-8")
    code = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", code)
    # The template renders every file with Jinja, and the tests look for Jinja left in a baked project:
    # "{#" opens a Jinja comment. In these builds it only starts a private class field (`class X{#a;`),
    # where a space changes nothing.
    code = code.replace("{#", "{ #")
    if JINJA.search(code) or "</script" in code.lower():
        raise SystemExit(f"{package} {version}: its build holds Jinja syntax or '</script': inline it by hand")
    return f"    <script>/* {package} {version}, BSD-3-Clause (licence above) */\n{code.strip()}\n    </script>"


def render() -> str:
    versions = {package: json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
                for package in LIBRARIES}  # fmt: skip
    license_text = (NODE_MODULES / LICENSE_FROM / "LICENSE").read_text(encoding="utf-8").strip()
    scripts = "\n".join(library_script(package, build) for package, build in LIBRARIES.items())
    return PAGE.format(
        versions=", ".join(f"{package}@{version}" for package, version in versions.items()),
        license=license_text.replace("--", "- -"),  # "--" may not appear inside an HTML comment
        scripts=scripts,
        refresh_tag="{refresh_tag}",
        plot_divs="{plot_divs}",
    )


def main(argv: list[str]) -> int:
    if not NODE_MODULES.is_dir():
        print(f"{NODE_MODULES} is missing: run `make ci-tools` first", file=sys.stderr)
        return 2
    text = render()
    if argv == ["--check"]:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is not what scripts/vendor_vega.py writes: run it", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
