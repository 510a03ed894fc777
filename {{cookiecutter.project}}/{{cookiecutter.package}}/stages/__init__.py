{% if cookiecutter.engine == 'spark' -%}
"""The pipeline's stages, on Spark: each needs pyspark, so a missing pyspark is said here, in one line."""

import importlib.util
import sys

if importlib.util.find_spec("pyspark") is None:
    sys.exit("spark: pyspark is not installed in this Python; `make setup` installs it (the project's [spark] extra)")
{% endif %}