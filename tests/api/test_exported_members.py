"""The public namespace is exactly what __all__ says (httpx's test_exported_members)."""

import harness


def test_all_exports_exist_and_nothing_public_is_missing() -> None:
    exported = set(harness.__all__)
    for name in exported:
        assert hasattr(harness, name), name
    public = {n for n in vars(harness) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(harness, n)).__name__ == "module"}
    assert public - modules == exported - {"__version__"}


def test_errors_share_one_base() -> None:
    for name in harness.__all__:
        obj = getattr(harness, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, harness.HarnessError)
