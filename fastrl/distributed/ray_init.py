"""Starting or joining Ray so that its worker processes import the same fastrl as this process."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["init_ray"]


def init_ray(**kwargs: Any) -> Any:
    """``ray.init(**kwargs)``, with Ray's workers importing the fastrl this process imported.

    Ray puts the driver's working directory first on its workers' import path. Started from a source checkout
    whose package is not built in place (``pip install .`` installs the built one elsewhere), the workers would
    import that unbuilt copy and fail; so the call runs from the directory that holds this process's fastrl.
    """
    import ray

    import fastrl

    here = os.getcwd()
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(fastrl.__file__))))
    try:
        return ray.init(**kwargs)
    finally:
        os.chdir(here)
