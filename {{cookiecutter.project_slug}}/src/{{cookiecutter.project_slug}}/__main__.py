"""`python -m {{ cookiecutter.project_slug }}`: serve with uvicorn, or `doctor` to check the tracing."""

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from .doctor import run_doctor
from .settings import ConfigurationError, Settings


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description="Serve the service (the default), or check its tracing.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve", help="serve with uvicorn on SERVICE_HOST:SERVICE_PORT (the default)"
    )
    commands.add_parser(
        "doctor",
        help="check that spans are made and reach the collector; exit 1 if not",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        settings = Settings.from_environ()
    except ConfigurationError as error:
        print(f"{__package__}: configuration error: {error}", file=sys.stderr)
        return 2
    if arguments.command == "doctor":
        return run_doctor(settings)
    # Logging is correlated with traces when the app is built (logs.py), the
    # same way under `uvicorn --factory`, so uvicorn keeps its own log config.
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
