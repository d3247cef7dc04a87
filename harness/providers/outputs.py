"""Outputs produced elsewhere (a training job's dump, a production log), scored like any model's.

The output comes from a column of the case's row or from a JSONL file keyed by a case
variable; nothing is called, so nothing is cached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

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
        if config.file is not None:
            self._by_key = _read_outputs(
                Path(config.file), config.key_field, config.output_field, config.prompt_field
            )

    def identity(self) -> dict[str, str]:
        source = (
            f"column:{self.config.column}" if self.config.column else f"file:{self.config.file}"
        )
        return {"type": "outputs", "model": self.config.model, "source": source}

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
    path: Path, key_field: str, output_field: str, prompt_field: str | None = None
) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(read_text(path, "outputs file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SuiteError(f"invalid JSON: {e.msg}", path, number) from None
        if not isinstance(record, dict) or key_field not in record or output_field not in record:
            raise SuiteError(
                f"expected an object with '{key_field}' and '{output_field}'", path, number
            )
        key = record[key_field]
        if prompt_field is not None:
            if prompt_field not in record:
                raise SuiteError(f"expected the prompt version in '{prompt_field}'", path, number)
            key = _prompt_key(record[prompt_field], key)
        out[str(key)] = _as_text(record[output_field])
    return out


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
