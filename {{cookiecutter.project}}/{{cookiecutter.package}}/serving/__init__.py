"""The serving app and its monitoring (docker=yes): `make serve` runs app.py; the Dockerfile runs the same.

- app.py: the HTTP routes, /health, /predict, /metadata, /metrics;
- model.py: the model it serves, loaded once at start, with its version and lineage; files.py: where
  its files are (what the image holds);
- records.py: the records a client sends, checked against the data contract (contract.py);
- batching.py: concurrent requests share one model call;
- metrics.py: what /metrics exports; prediction_log.py: the log of what the model was asked and answered;
- alerts.py: `make alerts`, the Prometheus alert rules in monitoring/alerts.yml.
"""
