"""`python -m {{ cookiecutter.project_slug }}`: check the settings, then serve with uvicorn."""

import sys

import uvicorn

from .settings import ConfigurationError, Settings


def main() -> int:
    try:
        settings = Settings.from_environ()
    except ConfigurationError as error:
        print(f"{__package__}: configuration error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
