"""Deployment-only dependencies (requirements-deploy.txt): imported when needed, else one line saying what to do.

The training and Paddle-inference paths never import these, so the project runs without them.
"""
import importlib
import sys

from errors import InputError

INSTALL = "pip install --no-deps -r requirements-deploy.txt"
NO_PY313_WHEEL = ("paddle2onnx", "onnx")  # no wheels for Python 3.13 (see requirements-deploy.txt)


def require(module, needed_for):
    """The imported module, or InputError naming what needs it and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    if module in NO_PY313_WHEEL and sys.version_info >= (3, 13):
        remedy = (f"{module} has no wheel for Python {sys.version_info[0]}.{sys.version_info[1]}; "
                  "export with Python 3.11 or 3.12 (the export then predicts on any of them)")
    else:
        remedy = f"install the deployment dependencies: {INSTALL}"
    raise InputError(f"{needed_for} needs {module}, which is not installed; {remedy}")
