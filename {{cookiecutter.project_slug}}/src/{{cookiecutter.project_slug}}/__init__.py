"""{{ cookiecutter.project_slug }}: a FastAPI service with OpenTelemetry tracing built in."""

__version__ = "0.1.0"
