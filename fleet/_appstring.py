"""Loading the user's app from a ``module:attribute`` string, as uvicorn does."""

from __future__ import annotations

import importlib
import os
import sys

from fleet._app import Fleet
from fleet._errors import ConfigurationError


def import_app(spec: str) -> Fleet:
    """Import ``module:attribute`` (attribute may be dotted) and return the Fleet it names.

    The current directory is importable, like ``python -m``. Raises ConfigurationError with
    one line saying what is wrong.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"app string {spec!r} must be 'module:attribute', e.g. 'myapp.workers:app'"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the app's module itself (or a package on its path) missing means a wrong app
        # string; anything else is a module the app imports that is not installed.
        if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
            raise ConfigurationError(
                f"cannot import module {module_name!r} of app {spec!r}"
            ) from None
        raise ConfigurationError(
            f"importing {module_name!r} failed: it imports {exc.name!r}, which is not installed"
        ) from None
    except SystemExit as exc:
        raise ConfigurationError(
            f"importing {module_name!r} failed: it called sys.exit({exc.code!r}) at import"
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not isinstance(value, Fleet):
        raise ConfigurationError(
            f"{spec!r} is a {type(value).__name__}, not a fleet.Fleet application"
        )
    return value
