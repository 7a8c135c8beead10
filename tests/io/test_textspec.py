from __future__ import annotations

import pytest

from zipfit.errors import ZipfitError
from zipfit.io import TextSpec
from zipfit.io.textspec import template_fields


def test_template_fields_in_first_use_order_without_repeats():
    assert template_fields("{b}: {a} / {b} {c}{{literal}}") == ("b", "a", "c")


@pytest.mark.parametrize("template", ["{text:>2000000000}", "{x:.1f}", "{n:d}", "{a!r}", "{a!s}", "{a!a:>3}",
                                      "{prompt}{code:^9999}"])
def test_format_specs_and_conversions_are_refused_at_construction(template):
    # a width of 2e9 used to run for minutes and take gigabytes per record; fields are strings, so a spec or a
    # conversion could only pad, cut or quote them: refused, whatever its size
    with pytest.raises(ZipfitError) as err:
        TextSpec(template=template)
    message = str(err.value)
    assert message.startswith(f"invalid --template {template!r}: ")
    assert "plain {field} references to string fields only, with no format spec (:...) or conversion" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{a.b}", "{a.b} is not allowed"),
        ("{a[0]}", "{a[0]} is not allowed"),
        ("{}", "positional"),
        ("{0}", "positional"),
        ("no fields at all", "uses no {field}"),
        ("{a:{b}}", "{a:{b}} is not allowed"),
        ("{a", "invalid --template"),
    ],
)
def test_bad_templates_are_rejected_at_construction(template, fragment):
    with pytest.raises(ZipfitError, match="invalid --template") as err:
        TextSpec(template=template)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_fields_are_text_fields_then_where_fields():
    spec = TextSpec(template="{prompt}{solution}", where=(("split", "valid"), ("prompt", "x")))
    assert spec.text_fields == ("prompt", "solution")
    assert spec.fields == ("prompt", "solution", "split")
    assert TextSpec(field="code").fields == ("code",)


def test_where_compares_string_forms():
    spec = TextSpec(where=(("n", "3"), ("split", "valid")))
    assert spec.passes({"n": 3, "split": "valid"})
    assert not spec.passes({"n": 3, "split": "test"})
    assert not spec.passes({"n": "03", "split": "valid"})


def test_bad_where_and_empty_field_are_user_errors():
    with pytest.raises(ZipfitError, match="FIELD=VALUE"):
        TextSpec(where=(("split",),))  # type: ignore[arg-type]
    with pytest.raises(ZipfitError, match="FIELD=VALUE"):
        TextSpec(where=(("", "x"),))
    with pytest.raises(ZipfitError, match="--text-field"):
        TextSpec(field="")


def test_where_given_as_list_is_stored_as_hashable_tuple():
    spec = TextSpec(where=[["split", "valid"]])  # type: ignore[arg-type]
    assert spec.where == (("split", "valid"),)
    hash(spec)
