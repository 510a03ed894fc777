"""P7's work for one engine, in one process: what benchmarks/spark.py times and caps.

    python benchmarks/spark_workload.py pandas|spark DATA_CSV WORKDIR

Both engines do what the template's pipeline does with the `linear` model, on a binary target:
read the CSV (an explicit schema on Spark, as the stages read it), split 80/20 by a seed, fit
impute (median) + scale the numbers, one-hot the categories (unseen and missing values kept apart),
logistic regression (L2 as scikit-learn's C=1.0, which is negligible at these sizes; 20 iterations),
and score ROC AUC on the test rows. Spark writes the split as Parquet and reads it back, as its prepare
and train stages do (without that, each pass of the fit would parse the CSV again); pandas keeps the
split in memory, as one pandas process can. Prints one JSON line: {"engine", "rows", "roc_auc", ...}.

The target is column `churned` (yes/no); a column is a category when its name starts with `cat_`.
"""

import json
import os
import sys
import time
from pathlib import Path

TARGET = "churned"
SEED = 42
MAX_ITER = 20  # as in notes/spark.md's 5M-row test: 100 passes over 10M+ rows that spill take hours here
SPARK_DRIVER_MEMORY = "1g"  # leaves room under P7's cap for the JVM's own memory and the Python driver


def header(csv: Path) -> list[str]:
    with csv.open() as lines:
        return lines.readline().strip().split(",")


def columns(csv: Path) -> tuple[list[str], list[str]]:
    """(number columns, category columns), in the file's order."""
    categories = [name for name in header(csv) if name.startswith("cat_")]
    numbers = [name for name in header(csv) if name not in categories and name != TARGET]
    return numbers, categories


def run_pandas(csv: Path, workdir: Path) -> dict:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers, categories = columns(csv)
    table = pd.read_csv(csv, dtype={name: "str" for name in [*categories, TARGET]})
    train, test = train_test_split(table, test_size=0.2, random_state=SEED, stratify=table[TARGET])
    del table
    preprocess = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            ("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                                         OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categories),
        ]
    )  # fmt: skip
    model = Pipeline([("preprocess", preprocess), ("model", LogisticRegression(C=1.0, max_iter=MAX_ITER))])
    model.fit(train[numbers + categories], train[TARGET] == "yes")
    scores = model.predict_proba(test[numbers + categories])[:, 1]
    return {"train_rows": len(train), "test_rows": len(test), "roc_auc": roc_auc_score(test[TARGET] == "yes", scores)}


def run_spark(csv: Path, workdir: Path) -> dict:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    scratch = workdir / "spark-scratch"
    # The settings of the template's spark_session.start(), with a 1g driver (see SPARK_DRIVER_MEMORY).
    spark = (
        SparkSession.builder.master("local[2]").appName("p7-benchmark")
        .config("spark.driver.memory", SPARK_DRIVER_MEMORY)
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.level", "WARN").config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse")).config("spark.local.dir", str(scratch / "local"))
        .getOrCreate()
    )  # fmt: skip
    numbers, categories = columns(csv)
    schema = ", ".join(f"`{name}` {'DOUBLE' if name in numbers else 'STRING'}" for name in header(csv))
    table = spark.read.csv(str(csv), header=True, schema=schema).withColumn(
        "label", (F.col(TARGET) == "yes").cast("double")
    )
    train, test = table.randomSplit([0.8, 0.2], seed=SEED)
    train.write.mode("overwrite").parquet(str(workdir / "train.parquet"))
    test.write.mode("overwrite").parquet(str(workdir / "test.parquet"))
    train, test = (spark.read.parquet(str(workdir / f"{name}.parquet")) for name in ("train", "test"))

    imputed = [f"{name}_imputed" for name in numbers]
    indexed = [f"{name}_index" for name in categories]
    encoded = [f"{name}_onehot" for name in categories]
    pipeline = Pipeline(
        stages=[
            Imputer(strategy="median", inputCols=numbers, outputCols=imputed),
            StringIndexer(inputCols=categories, outputCols=indexed, handleInvalid="keep"),
            OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
            VectorAssembler(inputCols=imputed, outputCol="numbers"),
            StandardScaler(inputCol="numbers", outputCol="scaled", withMean=True, withStd=True),
            VectorAssembler(inputCols=["scaled", *encoded], outputCol="features"),
            LogisticRegression(featuresCol="features", labelCol="label", maxIter=MAX_ITER, regParam=0.0),
        ]
    )
    model = pipeline.fit(train)
    # Only the two columns the metric needs (caching the whole transform ran a 1g driver out of heap).
    scored = model.transform(test).select("label", "rawPrediction")
    auc = BinaryClassificationEvaluator(labelCol="label", metricName="areaUnderROC").evaluate(scored)
    counts = {"train_rows": train.count(), "test_rows": test.count(), "roc_auc": auc}
    spark.stop()
    return counts


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("pandas", "spark"):
        sys.exit(__doc__)
    engine, csv, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = (run_pandas if engine == "pandas" else run_spark)(csv, workdir)
    result.update(engine=engine, rows=result["train_rows"] + result["test_rows"], roc_auc=round(result["roc_auc"], 6),
                  seconds=round(time.perf_counter() - start, 2))  # fmt: skip
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
