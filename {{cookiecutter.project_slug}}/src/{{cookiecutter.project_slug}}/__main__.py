"""`python -m <package>`: serve on SERVICE_HOST:SERVICE_PORT with uvicorn."""

import uvicorn

from .settings import load_settings


def main() -> None:
    settings = load_settings()
    # The app correlates logs with traces as it is built, the same way under
    # `uvicorn --factory`, so uvicorn keeps its own log configuration.
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
    )


if __name__ == "__main__":
    main()
