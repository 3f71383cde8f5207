"""The mapping file: which column of the customer's spreadsheet feeds which command field.

A mapping is a small YAML document (see ``examples/import/*.mapping.yaml``)::

    kind: customers            # optional; when given it must match the command line's KIND
    header_row: 1              # the row holding the column headers (default 1)
    timezone: Asia/Tokyo       # for dates and times written without an offset (default Asia/Tokyo)
    date_format: "%d/%m/%y"    # the file's own date format(s) (strptime; one or a list), tried first
    columns:                   # field: the column header in the file (or in a lookup file)
      code: 顧客コード
      company_name: 会社名
    defaults:                  # field: value used when the cell is empty or the field has no column
      industry: 未分類
    values:                    # field: {text in the file: value to use}, applied before validation
      stage: {商談中: hearing_done}
    stage_dates:               # deals: stage id or label: the column with the date it was entered
      hearing_done: engage_date
    lookups:                   # more columns for each row, looked up in another file by a value
      - file: sales_teams.csv  # relative to the mapping file; CSV or Excel (sheet: NAME)
        column: sales_agent    # the column of this file whose value is looked up ...
        key: sales_agent       # ... in this column of the lookup file (default: the same name)
    missing_customer: refuse   # contacts, deals without a customer code: refuse | skip | placeholder
    placeholder: {code: NO-ACCOUNT, company_name: 取引先未設定}  # the customer they go to (placeholder)

Every problem is reported as ``FILE:LINE: problem`` and makes the command exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.importer import KINDS, ImportSetupError

FieldType = Literal["code", "text", "int", "bool", "date", "datetime"]


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    help: str
    required: bool = False  # needs a column or a default (code fields always need a column)


_OCCURRED = FieldSpec("datetime", "when it happened (e.g. 登録日); default: the time of the import")
_ACTOR = {  # who did it: the actor of the row's events
    "owner": FieldSpec("text", "who recorded it (担当者): the actor of the row's event; default: --user"),
    "team": FieldSpec("text", "their team (チーム); default: --team"),
    "site": FieldSpec("text", "their site (拠点); default: --site"),
}

# The fields each kind of file can fill, in the order a reader expects them.
FIELDS: dict[str, dict[str, FieldSpec]] = {
    "customers": {
        "code": FieldSpec("code", "the customer code (顧客コード); the customer's id is derived from it", True),
        "company_name": FieldSpec("text", "company name (会社名)", True),
        "industry": FieldSpec("text", "industry (業種)"),
        "address": FieldSpec("text", "address (住所)"),
        "website": FieldSpec("text", "web site"),
        "employee_count": FieldSpec("int", "number of employees (従業員数)"),
        **_ACTOR,
        "occurred_at": _OCCURRED,
    },
    "contacts": {
        "customer_code": FieldSpec("code", "the customer's code, as in the customers file", True),
        "name": FieldSpec("text", "the contact person's name (担当者名)", True),
        "title": FieldSpec("text", "title / position (役職)"),
        "email": FieldSpec("text", "e-mail address (メール)"),
        "phone": FieldSpec("text", "phone number (電話)"),
        "is_decision_maker": FieldSpec("bool", "decision maker? (○ / はい / true / 1 ...)"),
        **_ACTOR,
        "occurred_at": _OCCURRED,
    },
    "deals": {
        "code": FieldSpec("code", "the deal number (案件番号)", True),
        "customer_code": FieldSpec("code", "the customer's code, as in the customers file", True),
        "title": FieldSpec("text", "deal name (案件名)", True),
        "owner": FieldSpec("text", "sales rep (営業担当): the actor of the deal's events", True),
        "team": FieldSpec("text", "team (チーム); default: --team"),
        "site": FieldSpec("text", "site (拠点); default: --site"),
        "amount": FieldSpec("int", "amount in JPY (金額): expected, or the closing value of a closed deal"),
        "expected_close": FieldSpec("date", "expected order date (受注予定日)"),
        "stage": FieldSpec("text", "current stage, or the stage it was lost at: a stage id or its label "
                                   "(ステージ); default: the furthest stage with a date under stage_dates"),
        "stage_entered_at": FieldSpec("datetime", "when the deal entered that stage; default: its stage_dates "
                                                  "column, else occurred_at"),
        "outcome": FieldSpec("text", "won / lost / open (成約 / 失注 / 商談中); default: won when the stage is "
                                     "in the won phase or later, else open"),
        "closed_at": FieldSpec("datetime", "when a closed deal was won or lost (クローズ日); default: when it "
                                           "entered its stage"),
        "close_reason": FieldSpec("text", "why it was won or lost: a win_reason / lost_reason option id or "
                                          "label; default: other"),
        "close_note": FieldSpec("text", "a note on the reason"),
        "occurred_at": _OCCURRED,
    },
}

Scalar = str | int | float | bool | date | datetime | None


class MappingError(ImportSetupError):
    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{self.path}:{line}: {problem}" if line is not None else f"{self.path}: {problem}")


class Lookup(BaseModel):
    """Columns of another file joined to each row: the row's value in ``column`` found in the file's ``key``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = Field(min_length=1)
    sheet: str | None = None
    column: str = Field(min_length=1)  # (not ``on``: YAML reads a bare on as true)
    key: str | None = None  # default: the same header as ``column``
    header_row: int = Field(default=1, ge=1)

    @property
    def key_column(self) -> str:
        return self.key or self.column


class Placeholder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1, max_length=100)
    company_name: str = Field(min_length=1, max_length=200)


MAPPING_KEYS = ("kind", "header_row", "timezone", "date_format", "columns", "defaults", "values", "stage_dates",
                "lookups", "missing_customer", "placeholder")


class Mapping(BaseModel):
    """A validated mapping for one kind of file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["customers", "contacts", "deals"]
    header_row: int = Field(default=1, ge=1)
    timezone: str = "Asia/Tokyo"
    date_format: tuple[str, ...] = ()
    columns: dict[str, str]
    defaults: dict[str, Scalar] = Field(default_factory=dict)
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    stage_dates: dict[str, str] = Field(default_factory=dict)
    lookups: tuple[Lookup, ...] = ()
    missing_customer: Literal["refuse", "skip", "placeholder"] = "refuse"
    placeholder: Placeholder | None = None

    @field_validator("date_format", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        formats = (value,) if isinstance(value, str) else value
        if isinstance(formats, (list, tuple)):
            for f in formats:
                if not isinstance(f, str) or not _round_trips(f):
                    raise ValueError(f"'{f}' is not a date format that reads back what it writes (e.g. %d/%m/%Y, "
                                     "%y-%m-%d, %Y年%m月%d日)")
        return formats

    @field_validator("stage_dates")
    @classmethod
    def _date_headers(cls, columns: dict[str, str]) -> dict[str, str]:
        return {stage: header.strip() for stage, header in columns.items()}

    @model_validator(mode="after")
    def _placeholder_named(self) -> Mapping:
        if self.missing_customer == "placeholder" and self.placeholder is None:
            raise ValueError("missing_customer: placeholder needs 'placeholder: {code: ..., company_name: ...}'")
        if self.missing_customer != "refuse" and self.kind == "customers":
            raise ValueError("missing_customer applies to contacts and deals (rows naming a customer)")
        if self.stage_dates and self.kind != "deals":
            raise ValueError("stage_dates applies to deals")
        return self

    @field_validator("columns")
    @classmethod
    def _headers_not_empty(cls, columns: dict[str, str]) -> dict[str, str]:
        for field, header in columns.items():
            if not header.strip():
                raise ValueError(f"the column header of '{field}' is empty")
        return {field: header.strip() for field, header in columns.items()}

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, values: Any) -> Any:
        """YAML reads ``1: x`` with an int key; cells are matched as text."""
        if isinstance(values, dict):
            return {f: {str(k).strip(): v for k, v in t.items()} if isinstance(t, dict) else t
                    for f, t in values.items()}
        return values

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def fields(self) -> dict[str, FieldSpec]:
        return FIELDS[self.kind]

    def column(self, field: str) -> str | None:
        return self.columns.get(field)

    def check_headers(self, headers: list[str], source: str, joined: list[str] = ()) -> None:
        """Every mapped column must be in the file (or in a lookup file: ``joined``), once."""
        wanted = [*self.columns.items(), *((f"stage_dates.{s}", h) for s, h in self.stage_dates.items())]
        missing = [(f, h) for f, h in wanted if h not in headers and h not in joined]
        missing += [(f"lookups.{lookup.file}", lookup.column) for lookup in self.lookups if lookup.column not in headers]
        if missing:
            named = ", ".join(f"'{h}' ({f})" for f, h in missing)
            found = ", ".join(f"'{h}'" for h in headers if h) or "none"
            raise ImportSetupError(f"{source}: no column {named} in row {self.header_row}; "
                                   f"the columns there are: {found}")
        twice = sorted({h for h in self.columns.values() if headers.count(h) > 1})
        if twice:
            raise ImportSetupError(f"{source}: column(s) {', '.join(repr(h) for h in twice)} appear more than "
                                   "once in the header row; rename one so the mapping is unambiguous")


def _round_trips(date_format: str) -> bool:
    sample = datetime(2024, 3, 31, 9, 45)
    try:
        back = datetime.strptime(sample.strftime(date_format), date_format)
    except ValueError:
        return False
    return back.date() == sample.date()


def load_mapping(path: str | Path, kind: str) -> Mapping:
    """Read and validate a mapping file for ``kind``; every problem names the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise MappingError(path, None, f"cannot read the mapping file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise MappingError(path, None, f"the mapping file is not UTF-8: {error.reason} at byte {error.start}") from None
    return parse_mapping(text, kind, path)


def parse_mapping(text: str, kind: str, source: str | Path = "<mapping>") -> Mapping:
    if kind not in KINDS:
        raise MappingError(source, None, f"unknown kind '{kind}'; one of {', '.join(KINDS)}")
    data, lines = _compose(text, source)
    if not isinstance(data, dict):
        raise MappingError(source, lines.get((), 1), "the mapping must be a YAML mapping with a 'columns' key")
    if "kind" in data and data["kind"] != kind:
        raise MappingError(source, lines.get(("kind",)),
                           f"this mapping is for '{data['kind']}', not for '{kind}'")
    try:
        mapping = Mapping.model_validate({**data, "kind": kind})
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        raise MappingError(source, _line(lines, loc), _describe(first, loc)) from None
    _check_fields(mapping, lines, source)
    return mapping


def _check_fields(mapping: Mapping, lines: dict[tuple, int], source: str | Path) -> None:
    fields = mapping.fields
    known = ", ".join(fields)
    for section in ("columns", "defaults", "values"):
        for field in getattr(mapping, section):
            if field not in fields:
                raise MappingError(source, _line(lines, (section, field)),
                                   f"{section}: unknown field '{field}' for {mapping.kind}; known fields: {known}")
    for field, spec in fields.items():
        if field == "stage" and mapping.kind == "deals":
            continue
        if spec.type == "code" and field in mapping.defaults:
            raise MappingError(source, _line(lines, ("defaults", field)),
                               f"defaults: '{field}' identifies each row and must come from a column")
        if spec.type == "code" and field not in mapping.columns:
            raise MappingError(source, _line(lines, ("columns",)),
                               f"columns: '{field}' is required ({spec.help})")
        if spec.required and field not in mapping.columns and mapping.defaults.get(field) in (None, ""):
            raise MappingError(source, _line(lines, ("columns",)),
                               f"columns: '{field}' needs a column or a default ({spec.help})")
    if mapping.kind == "deals" and "stage" not in mapping.columns and mapping.defaults.get("stage") in (None, "") \
            and not mapping.stage_dates:
        raise MappingError(source, _line(lines, ("columns",)),
                           f"columns: 'stage' needs a column, a default or stage_dates ({fields['stage'].help})")


def _describe(error: dict[str, Any], loc: tuple) -> str:
    where = ".".join(str(part) for part in loc)
    if error["type"] == "missing":
        return f"missing required key '{where}'"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'; the keys are: {', '.join(MAPPING_KEYS)}"
    text = error["msg"].removeprefix("Value error, ")
    return (f"{where}: {text}" if where else text) + \
        (f" (got {error['input']!r})" if isinstance(error["input"], (str, int)) else "")


def _line(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _compose(text: str, source: str | Path) -> tuple[Any, dict[tuple, int]]:
    """The document's data, and the line of every key (two levels deep are enough here)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[tuple, int] = {(): node.start_mark.line + 1}
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(key.value,)] = key.start_mark.line + 1
                if isinstance(value, yaml.MappingNode):
                    for sub, _ in value.value:
                        if (key.value, sub.value) in lines:
                            raise MappingError(source, sub.start_mark.line + 1,
                                               f"{key.value}: '{sub.value}' is given twice")
                        lines[(key.value, sub.value)] = sub.start_mark.line + 1
        data = loader.construct_document(node)
        if isinstance(data, dict) and "timezone" in data:
            try:
                ZoneInfo(str(data["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                raise MappingError(source, lines.get(("timezone",)),
                                   f"unknown timezone '{data['timezone']}' (e.g. Asia/Tokyo)") from None
        return data, lines
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        detail = "; ".join(part for part in (error.context, error.problem) if part)
        raise MappingError(source, mark.line + 1 if mark else None, f"invalid YAML: {detail}") from None
    except yaml.YAMLError as error:
        raise MappingError(source, None, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()
