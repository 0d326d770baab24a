"""Names from outside that become file names must be one plain name."""

import pytest

from storage.errors import BadInputError
from storage.names import check_plain_name, plain_name_problem


@pytest.mark.parametrize(
    "name", ["F5902", "KP193637N444141V03", "kplr011442793-2009350155506_llc.fits", "a..b"]
)
def test_plain_names_pass(name: str) -> None:
    assert plain_name_problem(name) is None
    assert check_plain_name(name, "listing") == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../x", "is a path"),
        ("/etc/passwd", "is a path"),
        ("x/../../y", "is a path"),
        ("..\\x", "is a path"),
        ("..", "names a folder"),
        (".", "names a folder"),
        ("", "is empty"),
        ("  ", "is empty"),
        ("a\x00b", "holds a NUL byte"),
    ],
)
def test_paths_and_folder_references_are_refused(name: str, problem: str) -> None:
    with pytest.raises(BadInputError) as refused:
        check_plain_name(name, "row 7")
    assert str(refused.value).startswith(f"row 7: name {name!r} {problem}")
