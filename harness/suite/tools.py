"""Tools and structured output: what a request asks of a model beyond its messages.

``tools`` (OpenAI function schemas, inline or in a ``tools_file``: a JSON or YAML list) and
``tool_choice`` sit on a prompt version or an ``openai`` provider; a prompt version's pair
replaces the provider's. They go into each request, so into its cache key and case id.
``response_format`` is a generation param. A provider that would drop either (a local
model, a completions endpoint, an application) is an error when the suite loads, at the
line that asks for it: never a silently different request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import SuiteError
from harness.providers.base import Provider
from harness.suite.loader import LoadedSuite, parse_model
from harness.suite.schema import NamedToolChoice, ToolsConfig, ToolSpec
from harness.suite.yaml_lines import Loc, load_yaml

#: How an error says who can send tools / response_format.
_SENDERS = {
    "tools": "`type: openai` providers with `endpoint: chat`",
    "response_format": "`type: openai` providers",
}


@dataclass(frozen=True)
class ToolSet:
    """Tools as they are sent, their ``tool_choice``, and who offers them (for errors)."""

    tools: tuple[dict[str, Any], ...]
    tool_choice: str | dict[str, Any] | None
    owner: str
    #: Where the tools are written in the suite.
    loc: Loc

    def request_fields(self) -> dict[str, Any]:
        """The :class:`~harness.providers.base.ModelRequest` fields these tools fill."""
        return {"tools": self.tools, "tool_choice": self.tool_choice}


def request_tools(loaded: LoadedSuite, providers: Sequence[Provider]) -> list[list[dict[str, Any]]]:
    """For each prompt version, for each provider: the tool fields of its requests (empty
    when no tools are offered). Raises SuiteError for a bad tool, a ``tool_choice`` naming
    no tool, or tools offered to a provider (or judge) that would not send them."""
    for k, judge in enumerate(loaded.suite.judges):
        if isinstance(judge, ToolsConfig) and (
            judge.tools is not None or judge.tools_file is not None
        ):
            key = "tools" if judge.tools is not None else "tools_file"
            raise loaded.error(
                f"judge '{judge.id}' asks with its own grading prompt: tools on a judge would "
                "never be sent; give them to a provider or a prompt version",
                "judges",
                k,
                key,
            )
    theirs = [
        tool_set(loaded, config, f"provider '{config.id}'", "providers", j)
        if isinstance(config, ToolsConfig)
        else None
        for j, config in enumerate(loaded.suite.providers)
    ]
    fields = []
    for i, prompt in enumerate(loaded.suite.prompts):
        own = tool_set(loaded, prompt, f"prompt '{prompt.id}'", "prompts", i)
        row = []
        for provider, provider_tools in zip(providers, theirs, strict=True):
            chosen = own or provider_tools
            if chosen is not None:
                _check_sends(loaded, provider, "tools", f"{chosen.owner} offers tools", chosen.loc)
            row.append({} if chosen is None else chosen.request_fields())
        fields.append(row)
    return fields


def check_response_format(
    loaded: LoadedSuite, providers: Sequence[Provider], params: Sequence[dict[str, Any]]
) -> None:
    """Every provider whose params hold a ``response_format`` sends it on (SuiteError at
    the provider's own ``params.response_format``, else the defaults')."""
    for j, (provider, given) in enumerate(zip(providers, params, strict=True)):
        if "response_format" not in given:
            continue
        own = getattr(loaded.suite.providers[j], "params", None)
        loc: Loc = ("defaults", "params", "response_format")
        if own is not None and own.response_format is not None:
            loc = ("providers", j, "params", "response_format")
        _check_sends(loaded, provider, "response_format", "response_format is set", loc)


def _check_sends(
    loaded: LoadedSuite, provider: Provider, feature: str, what: str, loc: Loc
) -> None:
    if feature in provider.request_features:
        return
    endpoint = getattr(provider.config, "endpoint", None)
    kind = f"type {provider.type_name}" + (f", endpoint {endpoint}" if endpoint else "")
    raise loaded.error(
        f"{what}, but provider '{provider.id}' ({kind}) would not send it: only "
        f"{_SENDERS[feature]} do. Set it where only those providers get it",
        *loc,
    )


def tool_set(loaded: LoadedSuite, spec: ToolsConfig, owner: str, *at: str | int) -> ToolSet | None:
    """The tools ``spec`` (a prompt version or provider at ``at``) offers, or None."""
    if spec.tools is None and spec.tools_file is None:
        return None
    key = "tools" if spec.tools is not None else "tools_file"
    tools = spec.tools
    if tools is None:
        assert spec.tools_file is not None
        tools = _read_tools_file(loaded, spec.tools_file, *at)
    if not tools:
        raise loaded.error(
            f"{owner}: {key} holds no tool; give at least one, or leave it out", *at, key
        )
    names = [t.function.name for t in tools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise loaded.error(
            f"{owner}: the tool name(s) {', '.join(repeated)} appear more than once; the model "
            "calls a tool by its name, so each needs its own",
            *at,
            key,
        )
    choice = spec.tool_choice
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise loaded.error(
            f"{owner}: tool_choice names '{choice.function.name}', which is not one of its "
            f"tools ({', '.join(names)})",
            *at,
            "tool_choice",
        )
    return ToolSet(
        tools=tuple(t.model_dump(exclude_none=True) for t in tools),
        tool_choice=choice.model_dump() if isinstance(choice, NamedToolChoice) else choice,
        owner=owner,
        loc=(*at, key),
    )


def _read_tools_file(loaded: LoadedSuite, relative: str, *at: str | int) -> list[ToolSpec]:
    """The tools of a JSON or YAML file; errors point into that file."""
    path = loaded.resolve(relative)
    if not path.is_file():
        raise loaded.error(f"tools file not found: {path}", *at, "tools_file")
    data, lines, _ = load_yaml(path, "tools file")
    if not isinstance(data, list):
        raise SuiteError(
            "a tools file holds a list of tools, each {type: function, function: {name, "
            f"description, parameters}}; got a {type(data).__name__}",
            path,
            1,
        )
    tools: list[ToolSpec] = parse_model(list[ToolSpec], data, lines, path, root="this tools file")
    return tools
