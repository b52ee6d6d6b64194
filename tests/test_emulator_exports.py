"""
The public surface of ``a1art_async.testing``: exported names, app ids, the code table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import a1art_async.testing as testing
from a1art_async.testing import apps
from a1art_async.testing._a1art._codes import MESSAGES


def test_all_lists_exactly_the_public_names() -> None:
    """
    ``__all__`` is sorted and names exactly the public, importable members.
    """
    public = sorted(name for name in vars(testing) if not name.startswith("_"))
    assert [
        "ConnectionDropped",
        "Emulator",
        "EmulatorASGI",
        "EmulatorTransport",
        "Faults",
        "JournalEntry",
        "TaskRecord",
        "UploadRecord",
        "VirtualTimeEventLoop",
        "akool",
        "apps",
        "gateway",
        "jpeg_bytes",
        "mp4_bytes",
        "png_bytes",
    ] == testing.__all__
    assert sorted(testing.__all__) == testing.__all__
    assert public == testing.__all__


def test_app_ids_are_distinct_nineteen_digit_strings() -> None:
    """
    Every seeded app id is a distinct 19-digit numeric string; FORM is the docs' app.
    """
    assert "1803632078862147586" == apps.FORM
    assert 8 == len(set(apps.ALL))
    assert all(len(app_id) == 19 and app_id.isdigit() for app_id in apps.ALL)
    assert sorted(apps.__all__) == apps.__all__


def test_code_table_has_the_24_documented_codes() -> None:
    """
    The message table holds the docs' 24 codes with their exact English and Chinese text.
    """
    assert [
        0, 10001, 10002, 10410, 10411, 20000, 20002, 20003, 20100, 20101, 324010,
        324011, 324012, 324013, 324018, 324019, 400000, 400001, 400002, 400003,
        400004, 400005, 400006, 810012,
    ] == sorted(MESSAGES)  # fmt: skip
    assert ("too may request", "接口访问触发限流") == MESSAGES[20000]
    assert (
        "The size of the image file cannot exceed 2048*2048",
        "图片文件尺寸不能超过 2048*2048",
    ) == MESSAGES[400006]
    assert (
        "No rights to use VIP app*Available after payment",
        "没有使用 vip app 的权益*付费后可用",
    ) == MESSAGES[324019]
    assert ("The quantity must not exceed 4", "单个应用单次请求生图数量1～4张") == MESSAGES[324011]  # noqa: RUF001


def _imports(package: Path) -> dict[str, set[str]]:
    """
    Every module under *package* and the absolute names of the modules it imports.
    """
    root = package.parent.parent  # the directory that holds a1art_async
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = parts if is_package else parts[:-1]
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    names.add(".".join([*base, *([node.module] if node.module else [])]))
                else:
                    names.add(node.module or "")
        found[".".join(parts)] = names
    return found


def test_the_emulator_imports_nothing_from_the_sdk_and_the_kit_nothing_from_a1art() -> None:
    """
    Modules under ``a1art_async.testing`` import only each other from the package, and
    the kit imports no emulator.
    """
    modules = _imports(Path(testing.__file__).parent)
    outside = {
        (module, name)
        for module, names in modules.items()
        for name in names
        if name.startswith("a1art_async") and not name.startswith("a1art_async.testing")
    }
    kit_to_a1art = {
        (module, name)
        for module, names in modules.items()
        if module.startswith("a1art_async.testing._kit")
        for name in names
        if name.startswith("a1art_async.testing")
        and not name.startswith("a1art_async.testing._kit")
    }
    assert "a1art_async.testing._kit._emulator" in modules
    assert "a1art_async.testing._a1art._emulator" in modules["a1art_async.testing"]
    assert (set(), set()) == (outside, kit_to_a1art)
