from __future__ import annotations

import typing

import a1art_async


def test_all_lists_exactly_the_public_names() -> None:
    """
    __all__ is sorted and names every public attribute of the package, and nothing else.
    """
    public = {
        name
        for name in dir(a1art_async)
        if not name.startswith("_")
        and name not in {"annotations"}
        and not isinstance(getattr(a1art_async, name), type(a1art_async))
    } | {"__version__"}
    assert sorted(a1art_async.__all__) == a1art_async.__all__
    assert public == set(a1art_async.__all__)


def test_public_names_come_from_private_modules() -> None:
    """
    Every exported class is defined in a private module of the package (for a union
    alias such as ``Outcome``, each of its members).
    """
    for name in a1art_async.__all__:
        obj = getattr(a1art_async, name)
        members = typing.get_args(obj) or (obj,)
        for member in members:
            module = getattr(member, "__module__", "a1art_async._x")
            assert module.startswith("a1art_async._"), name
