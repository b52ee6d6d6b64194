"""
``a1art_async.gateway`` exports exactly its public names, each defined in a private
module.
"""

from __future__ import annotations

import typing

from a1art_async import gateway


def test_all_lists_exactly_the_public_names() -> None:
    """
    ``gateway.__all__`` is sorted and names every public attribute, and nothing else.
    """
    public = {
        name
        for name in dir(gateway)
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(getattr(gateway, name), type(gateway))
    }
    assert sorted(gateway.__all__) == gateway.__all__
    assert public == set(gateway.__all__)


def test_public_names_come_from_private_modules() -> None:
    """
    Every exported class is defined in a private module (for the ``Outcome`` alias,
    each of its members).
    """
    for name in gateway.__all__:
        obj = getattr(gateway, name)
        for member in typing.get_args(obj) or (obj,):
            module = getattr(member, "__module__", "a1art_async._x")
            assert module.startswith(("a1art_async._", "a1art_async.gateway._")), name
