"""Installed in every Python process the tests start (this folder is put first on their
``PYTHONPATH`` by ``tests/netguard/session.py``): guard the process to loopback, then run the
interpreter's own ``sitecustomize``, if it has one, as it would have run without us."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

import loopback_only

loopback_only.install_from_environment()


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_chain()
