"""Lossless JSON for records that hold untrusted text.

A model may answer with a lone surrogate (``"\\ud800"`` is valid JSON), which UTF-8, SQLite
and pydantic's JSON encoder all refuse. Records with such text are written as ASCII JSON
(``\\ud800`` escapes) and read back through :mod:`json`, which keeps the character, so
every string survives a round trip unchanged. Records without one (nearly all) keep
pydantic's fast path in both directions.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, create_model
from pydantic_core import PydanticSerializationError

M = TypeVar("M", bound=BaseModel)

_SURROGATE = re.compile("[\ud800-\udfff]")


def dump_model(model: BaseModel) -> str:
    """``model`` as JSON text that any UTF-8 store accepts."""
    try:
        return model.model_dump_json()
    except PydanticSerializationError:  # a lone surrogate somewhere in its text
        return json.dumps(model.model_dump(mode="json"))


def load_model(cls: type[M], text: str) -> M:
    """The model written by :func:`dump_model`."""
    try:
        return cls.model_validate_json(text)
    except ValidationError:  # pydantic's parser refuses a lone-surrogate escape
        return cls.model_validate(json.loads(text))


def model_of(cls: type[M], *names: str) -> type[M]:
    """A model of only the fields ``names`` of ``cls`` (same types, defaults and nested
    models), read by :func:`load_model` like ``cls``: a pass over 100k records that needs a
    few fields skips building the rest (messages, vars, timestamps), a third of the cost
    of a full read. Its instances answer only those fields (it is typed as ``cls`` so a
    pass reads either)."""
    fields: dict[str, Any] = {
        n: (cls.model_fields[n].annotation, cls.model_fields[n]) for n in names
    }
    return create_model(f"{cls.__name__}Fields", **fields)  # type: ignore[return-value]


def utf8_safe(text: str) -> str:
    """``text`` with each lone surrogate written as a visible ``\\udXXX`` escape: for files
    that must be valid UTF-8 (exports, reports) where the stored record stays exact."""
    if text.isascii():  # nearly always: no search needed
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def decode_text(raw: bytes) -> str:
    """SQLite text back as Python text; ``json_extract`` of an escaped lone surrogate gives
    its (invalid) UTF-8 bytes, which ``surrogatepass`` turns back into the character."""
    return raw.decode("utf-8", "surrogatepass")
