"""The "wasmops" logger: what the library does (cache hits, compile stages, fallbacks, casts) goes through the
standard `logging` module. Silent unless the application configures logging, or $WASMOPS_LOG names a level
(debug, info, warning), or the CLI runs with --debug / --verbose."""

from __future__ import annotations

import logging
import os

LOGGER = "wasmops"
_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def configure_logging(level: str | int | None = None) -> None:
    """Attach a stderr handler at `level` (or $WASMOPS_LOG); without either, only a NullHandler (a library
    never prints through logging's last-resort handler)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    level = level if level is not None else os.environ.get("WASMOPS_LOG")
    if not level:
        return
    if isinstance(level, str):
        name = level.strip().upper()
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"WASMOPS_LOG must be debug, info, warning, error or critical, got {level!r}")
        level = getattr(logging, name)
    logger.setLevel(level)
    if not any(getattr(h, "_wasmops", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        handler._wasmops = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
