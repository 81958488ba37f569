"""One error tree: every exception class of the project's packages is a gxerrors.GxError, and the
tree drawn in gxerrors' docstring names each direct child of GxError where it is defined."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import gxerrors
from gxerrors import GxError

PACKAGES = (
    "connectors",
    "fabric_gateway",
    "gxcommon",
    "gxctl",
    "gxsdk",
    "monitoring",
    "projections",
    "schemas",
    "stack",
    "streams",
)


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [m.name for m in pkgutil.walk_packages(path, f"{package}.")]
    return names


def test_every_exception_class_of_the_project_is_a_gx_error() -> None:
    outside = []
    for name in project_modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not issubclass(cls, GxError):
                outside.append(f"{name}.{cls_name}")
    assert outside == []


def test_the_docstring_tree_names_every_package_root_where_it_lives() -> None:
    for name in project_modules():  # every subclass defined, so that __subclasses__ sees them all
        importlib.import_module(name)
    drawn = re.findall(r"[├└]── (\w+)\s+([\w.]+)", gxerrors.__doc__ or "")
    children = [(c.__name__, c.__module__) for c in GxError.__subclasses__() if c.__module__.startswith(PACKAGES)]
    assert sorted(drawn) == sorted(children)
