"""The public API is what __all__ lists, and every listed name resolves."""

import citearchive


def test_all_exports_resolve() -> None:
    for name in citearchive.__all__:
        assert getattr(citearchive, name) is not None, name


def test_exports_are_the_documented_stages() -> None:
    expected = {
        "load_manifest", "import_commentary", "fetch_sources", "fetch", "extract", "Archive",
        "search", "Settings", "CitearchiveError",
    }  # fmt: skip
    assert expected <= set(citearchive.__all__)
    assert citearchive.__all__ == sorted(citearchive.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        citearchive.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
