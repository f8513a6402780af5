"""Owns the service's own log output, so its startup line shows under uvicorn."""

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Give the service's logger a console handler unless logging is configured.

    uvicorn configures only its own loggers, which would leave the service's INFO
    lines unprinted. When the root logger has handlers (an application server's
    or a test runner's), they are left to do the job.
    """
    service_logger = logging.getLogger(__package__)
    if logging.getLogger().handlers or service_logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    service_logger.addHandler(handler)
    service_logger.setLevel(logging.INFO)
