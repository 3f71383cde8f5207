"""Load a process definition from YAML; every error names the file, the line and the problem."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .definition import DefinitionProblem, Loc, ProcessDefinition, dotted

DEFAULT_PATH = Path(__file__).with_name("default.yaml")
_SCALARS = (str, int, float, bool, type(None))
_EXPECTED = {"tuple_type": "a list", "list_type": "a list",  # plainer words than pydantic's, for YAML
             "model_type": "a mapping", "dict_type": "a mapping"}


class ProcessDefinitionError(ValueError):
    """A process definition that cannot be used; `line` is 1-based, None when unknown."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{self.path}:{line}: {problem}" if line is not None else f"{self.path}: {problem}")


def load_process_definition(path: str | Path | None = None) -> ProcessDefinition:
    """Load and validate a definition file; None loads the packaged default.yaml."""
    path = DEFAULT_PATH if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProcessDefinitionError(path, None, f"cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        problem = f"the file is not UTF-8: {error.reason} at byte {error.start}"
        raise ProcessDefinitionError(path, None, problem) from None
    return parse_process_definition(text, path)


@cache
def default_process_definition() -> ProcessDefinition:
    """The packaged default, loaded once on first use."""
    return load_process_definition()


def parse_process_definition(text: str, source: str | Path = "<string>") -> ProcessDefinition:
    """Validate YAML text; `source` names it in errors."""
    data, lines = _compose(text, source)
    if not isinstance(data, dict):
        found = "an empty document" if data is None else f"a {type(data).__name__}"
        raise ProcessDefinitionError(source, lines.get((), 1),
                                     f"the document must be a mapping with name, phases, ... (found {found})")
    try:
        return ProcessDefinition.model_validate(data)
    except ValidationError as error:
        line, problem = min((_describe(e, lines) for e in error.errors()), key=lambda found: found[0])
        raise ProcessDefinitionError(source, line, problem) from None


def _compose(text: str, source: str | Path) -> tuple[Any, dict[Loc, int]]:
    """Parse once into nodes (for lines and duplicate keys), then construct plain data."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, source)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        detail = "; ".join(part for part in (error.context, error.problem) if part)
        line = mark.line + 1 if mark else None
        raise ProcessDefinitionError(source, line, f"invalid YAML: {detail}") from None
    except yaml.YAMLError as error:
        raise ProcessDefinitionError(source, None, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], source: str | Path) -> None:
    """Record the line of every key and list item under `loc`; refuse duplicate keys."""
    if len(loc) > 30:
        raise ProcessDefinitionError(source, node.start_mark.line + 1, "nesting too deep (recursive alias?)")
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key, line = key_node.value, key_node.start_mark.line + 1
            if isinstance(key, str) and loc + (key,) in lines:
                where = f" in {dotted(loc)}" if loc else ""
                first = lines[loc + (key,)]
                problem = f"key '{key}' is used twice{where} (first at line {first})"
                raise ProcessDefinitionError(source, line, problem)
            lines[loc + (key,)] = line
            _index(value, loc + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            _index(item, loc + (i,), lines, source)


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of `loc`, or of its nearest ancestor present in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _describe(error: dict[str, Any], lines: dict[Loc, int]) -> tuple[int, str]:
    """(line, problem) for one pydantic error."""
    loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, DefinitionProblem):
        first = "" if cause.first is None else f" (first at line {_line(lines, loc + cause.first)})"
        return _line(lines, loc + cause.loc), cause.problem + first
    where = f"in {dotted(loc[:-1])}" if len(loc) > 1 else "at the top level"
    if error["type"] == "missing":
        problem = f"missing required key '{loc[-1]}' {where}"
    elif error["type"] == "extra_forbidden":
        problem = f"unknown key '{loc[-1]}' {where}"
    elif error["type"] == "too_short":
        problem = f"{dotted(loc)} must not be empty"
    else:
        got = f" (got {error['input']!r})" if isinstance(error["input"], _SCALARS) else ""
        expected = _EXPECTED.get(error["type"])
        problem = f"{dotted(loc)}: " + (f"should be {expected}" if expected else error["msg"]) + got
        if isinstance(error["input"], bool) and error["type"] == "string_type":
            problem += "; YAML reads yes/no/on/off as true/false, so quote them"
    return _line(lines, loc), problem
