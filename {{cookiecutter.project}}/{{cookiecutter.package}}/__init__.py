"""Pipeline stages, parameters and MLflow tracking for this project."""
