"""The one options helper: records from mappings, string coercion by field type, to_dict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from maskkit._options import coerce, field_names, from_mapping, to_dict
from maskkit.errors import OptionError


@dataclass(frozen=True)
class Opts:
    size: int = field(metadata={"help": "how many"})
    rate: float = 0.5
    shape: tuple[int, ...] = (1, 2)
    on: bool = True
    limit: int | None = None
    mode: str = field(default="a", metadata={"choices": ("a", "b")})


def test_strings_from_a_command_line_become_the_field_types():
    got = from_mapping(
        Opts,
        {
            "size": " 8",
            "rate": "0.25",
            "shape": "3x32x32",
            "on": "no",
            "limit": "none",
            "mode": "b",
        },
        what="demo",
    )
    assert got == Opts(size=8, rate=0.25, shape=(3, 32, 32), on=False, limit=None, mode="b")
    assert from_mapping(Opts, {"size": 2, "limit": "7", "shape": "[4, 5]"}).limit == 7
    assert from_mapping(Opts, {"size": 2, "shape": "[4, 5]"}).shape == (4, 5)
    assert from_mapping(Opts, {"size": 2, "on": "YES"}).on is True


def test_python_values_are_kept_and_ints_and_bools_are_not_confused():
    assert from_mapping(Opts, {"size": 3, "rate": 1}).rate == 1  # an int is a fine float
    with pytest.raises(OptionError, match="demo: option size must be an integer, got True"):
        from_mapping(Opts, {"size": True}, what="demo")
    with pytest.raises(OptionError, match=r"option size must be an integer, got 2.5"):
        from_mapping(Opts, {"size": 2.5})
    with pytest.raises(OptionError, match="option on must be true or false, got 1"):
        from_mapping(Opts, {"size": 1, "on": 1})
    with pytest.raises(OptionError, match="option rate must be a number, got 'fast'"):
        from_mapping(Opts, {"size": 1, "rate": "fast"})
    with pytest.raises(OptionError, match="option shape must be an integer, got 'a'"):
        from_mapping(Opts, {"size": 1, "shape": "a,b"})


def test_unknown_and_missing_keys_are_listed():
    with pytest.raises(OptionError) as err:
        from_mapping(Opts, {"size": 1, "sise": 2, "colour": 3}, what="demo")
    assert str(err.value) == (
        "demo: unknown options 'colour', 'sise'; known: size, rate, shape, on, limit, mode"
    )
    with pytest.raises(OptionError, match=r"^unknown training option 'x'; known"):
        from_mapping(Opts, {"x": 1}, noun="training option")
    with pytest.raises(OptionError, match=r"demo: missing required option.* size"):
        from_mapping(Opts, {}, what="demo")
    with pytest.raises(OptionError, match="demo: options must be a Opts or a mapping, not int"):
        from_mapping(Opts, 3, what="demo")  # type: ignore[arg-type]
    assert from_mapping(Opts, {"size": 1, "on": "true"}).on  # '-' for '_' is accepted too
    assert dataclasses.is_dataclass(from_mapping(Opts, {"size": 1}))


def test_to_dict_is_json_ready_and_field_names_keep_their_order():
    assert to_dict(Opts(size=1)) == {
        "size": 1, "rate": 0.5, "shape": [1, 2], "on": True, "limit": None, "mode": "a"
    }  # fmt: skip
    assert field_names(Opts) == ["size", "rate", "shape", "on", "limit", "mode"]
    assert coerce("3", int) == 3 and coerce("x", str) == "x" and coerce(None, int | None) is None
    for text in ("1_000", "\u0663", "3.0", ""):  # not plain digits
        with pytest.raises(OptionError, match="must be an integer"):
            coerce(text, int, key="n")
