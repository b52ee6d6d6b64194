"""
The akool package and its emulator export exactly their public names.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from a1art_async import akool
from a1art_async.testing import akool as akool_testing


@pytest.mark.parametrize("package", [akool, akool.webhooks, akool_testing])
def test_all_lists_exactly_the_public_names(package: Any) -> None:
    """
    __all__ is sorted and names every public attribute, and nothing else.
    """
    public = {
        name
        for name in dir(package)
        if not name.startswith("_")
        and name != "annotations"
        and not (isinstance(getattr(package, name), types.ModuleType) and name != "webhooks")
    }
    assert sorted(package.__all__) == package.__all__
    assert public == set(package.__all__)


def test_public_classes_come_from_private_modules() -> None:
    """
    Every exported class of a1art_async.akool is defined in a private module.
    """
    for name in akool.__all__:
        obj = getattr(akool, name)
        if isinstance(obj, type):
            assert obj.__module__.startswith("a1art_async.akool._"), name
