"""`python -m <package>`: serve with uvicorn, or `doctor` to check the tracing."""

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from .settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description="Serve the service (the default), or check its tracing.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "doctor"],
        help="serve on SERVICE_HOST:SERVICE_PORT (the default), or doctor: check "
        "that spans are recorded and reach the collector, exit 1 if not",
    )
    command = parser.parse_args(argv).command
    settings = load_settings()
    if command == "doctor":
        from .doctor import run_doctor

        return run_doctor(settings)
    # The app correlates logs with traces as it is built, the same way under
    # `uvicorn --factory`, so uvicorn keeps its own log configuration.
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
