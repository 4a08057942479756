"""Building objects from config nodes, with a user's mistake inside a constructor (a missing folder, an
unreachable hub, a wrong column) turned into one line instead of Hydra's wrapped traceback."""
from __future__ import annotations

from hydra.utils import instantiate

from schemas.check import ConfigError


def instantiate_or_explain(node, what: str, **kwargs):
    """hydra's instantiate, with a user error inside the constructor (Hydra wraps them in
    InstantiationException) turned into a one-line ConfigError that starts with `what`."""
    try:
        return instantiate(node, **kwargs)
    except Exception as error:
        inner = error
        while inner.__cause__ is not None:
            inner = inner.__cause__
        if isinstance(inner, (ValueError, OSError, RuntimeError)):
            raise ConfigError(f"{what}: {innermost_message(error)}") from None
        raise


def innermost_message(error: Exception) -> str:
    """The last line of the innermost exception's message (Hydra wraps constructor errors)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
