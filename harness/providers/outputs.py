"""Outputs produced elsewhere (a training job's dump, a production log), scored like any model's.

The output comes from a column of the case's row or from a JSONL file keyed by a case
variable; nothing is called, so nothing is cached. A file's content digest is part of the
provider's identity: editing the file makes new case ids (a new run), never a resume that
mixes old outputs with new.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

from harness.data.tables import jsonl_lines, parse_json_line
from harness.errors import PermanentProviderError, SuiteError
from harness.providers.base import Generation, ModelRequest, Provider
from harness.suite.schema import OutputsProviderConfig
from harness.suite.yaml_lines import read_text


class OutputsProvider(Provider):
    type_name: ClassVar[str] = "outputs"
    cacheable: ClassVar[bool] = False
    config: OutputsProviderConfig

    def __init__(self, config: OutputsProviderConfig) -> None:
        super().__init__(config)
        self._by_key: dict[str, str] | None = None
        self._digest: str | None = None
        if config.file is not None:
            path = Path(config.file)
            text = read_text(path, "outputs file")
            self._digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            self._by_key = _read_outputs(
                text, path, config.key_field, config.output_field, config.prompt_field
            )

    def identity(self) -> dict[str, str]:
        """The source, and for a file its content digest: other outputs, other cases."""
        identity = {"type": "outputs", "model": self.config.model}
        if self.config.column:
            return identity | {"source": f"column:{self.config.column}"}
        return identity | {"source": f"file:{self.config.file}", "sha256": str(self._digest)}

    async def generate(self, request: ModelRequest) -> Generation:
        variables = request.metadata.get("vars", {})
        if self._by_key is None:
            column = self.config.column
            if column not in variables:
                raise PermanentProviderError(f"the case has no column '{column}' with the output")
            return Generation(text=_as_text(variables[column]))
        key = variables.get(self.config.key_var)
        if key is None and self.config.key_var == "id":
            key = request.metadata.get("row_id")  # the case's own id (or its dataset id column)
        if key is None:
            raise PermanentProviderError(
                f"the case has no variable '{self.config.key_var}' to look its output up by"
            )
        if self.config.prompt_field is not None:
            key = _prompt_key(request.metadata.get("prompt_id"), key)
        if str(key) not in self._by_key:
            raise PermanentProviderError(f"no output for {self.config.key_var}={key!r} in the file")
        return Generation(text=self._by_key[str(key)])


def _prompt_key(prompt_id: object, key: object) -> str:
    return f"{prompt_id}/{key}"


def _read_outputs(
    text: str, path: Path, key_field: str, output_field: str, prompt_field: str | None = None
) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in jsonl_lines(text):
        record, texts = parse_json_line(line, path, number)
        if not isinstance(record, dict) or key_field not in record or output_field not in record:
            raise SuiteError(
                f"expected an object with '{key_field}' and '{output_field}'", path, number
            )
        key = record[key_field]
        if prompt_field is not None:
            if prompt_field not in record:
                raise SuiteError(f"expected the prompt version in '{prompt_field}'", path, number)
            key = _prompt_key(record[prompt_field], key)
        out[str(key)] = _as_text(record[output_field], texts.get((output_field,)))
    return out


def _as_text(value: Any, written: str | None = None) -> str:
    """A stored output as text: a number as written in the file (``0.10``), else its JSON."""
    if isinstance(value, str):
        return value
    return written if written is not None else json.dumps(value, ensure_ascii=False)
