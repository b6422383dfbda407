"""Docstrings as plain text for command-line help: reST markup (``code``, :class:`X`) stripped."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str) -> str:
    """``text`` without reST roles and inline-literal markup: ``:class:`X``` -> ``X``, ````x```` -> ``x``."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))
