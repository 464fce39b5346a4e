"""Question types: one JSON Schema per type for the options a coordinator sets and one for
the answers a reader gives. The API, the reading page, CSV import and tasks all validate through
``answer_schema`` / ``validate_answers`` so that an answer accepted anywhere is accepted
everywhere. Django-free: plain data in, plain data out.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

YES_NO = "yes_no"
SINGLE_CHOICE = "single_choice"
ORDINAL = "ordinal"
NUMBER = "number"
VERTEBRAL_LEVEL = "vertebral_level"
TEXT = "text"
ROI = "roi"
COMPARATIVE = "comparative"
LIKERT = "likert"
COMPUTED = "computed"
TYPES = (
    YES_NO, SINGLE_CHOICE, ORDINAL, NUMBER, VERTEBRAL_LEVEL, TEXT, ROI, COMPARATIVE, LIKERT,
    COMPUTED,
)  # fmt: skip

VERTEBRAL_LEVELS: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)
# Blinded series UIDs are 2.25.<decimal>; an ROI on anything else did not come from the viewer.
BLINDED_UID_PATTERN = r"^2\.25\.[0-9]{1,39}$"
NO_LEVEL = "none"


def gettext_noop(message: str) -> str:
    """Mark a message for the translation catalogues (xgettext knows the name); this
    Django-free core cannot import Django's. The web layer translates ``Problem``s."""
    return message


@dataclass(frozen=True)
class Problem:
    """A message about an answer: a msgid and the values of its ``%(name)s`` placeholders.

    ``str()`` is the English text; the web layer shows ``gettext(template) % params``.
    """

    template: str
    params: tuple[tuple[str, str], ...] = ()
    # Where in the answer (or the options) the problem is, e.g. "values/0/label": not translated.
    path: str = ""

    @classmethod
    def of(cls, template: str, **params: object) -> Problem:
        return cls(template, tuple((name, str(value)) for name, value in params.items()))

    def at(self, path: str) -> Problem:
        """The same problem, located under ``path``."""
        return Problem(self.template, self.params, f"{path}: {self.path}" if self.path else path)

    def text(self, translate: Callable[[str], str] = str) -> str:
        """The message, its template passed through ``translate`` (e.g. Django's gettext)."""
        template = translate(self.template)
        try:
            message = template % dict(self.params) if self.params else template
        except (KeyError, TypeError, ValueError):  # a translation that does not fit
            message = self.template % dict(self.params) if self.params else self.template
        return f"{self.path}: {message}" if self.path else message

    def __str__(self) -> str:
        return self.text()


class AnswerError(ValueError):
    """Answers that do not fit the questionnaire; ``errors`` maps question keys to messages
    (English) and ``problems`` the same keys to ``Problem``s, for other languages."""

    def __init__(self, errors: Mapping[str, str | Problem]) -> None:
        self.problems = {
            key: value if isinstance(value, Problem) else Problem(value)
            for key, value in errors.items()
        }
        self.errors = {key: str(problem) for key, problem in self.problems.items()}
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


@dataclass(frozen=True)
class QuestionSpec:
    """The parts of a question that validation needs (a model row or a template entry)."""

    key: str
    type: str
    label: str
    options: Mapping[str, Any]
    required: bool = True
    formula: str = ""


def _labels_object(*, numeric_keys: bool) -> dict[str, Any]:
    key_pattern = r"^-?[0-9]+$" if numeric_keys else r"^.+$"
    return {
        "type": "object",
        "propertyNames": {"pattern": key_pattern},
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 200},
    }


_CHOICE = {
    "type": "object",
    "required": ["value", "label"],
    "additionalProperties": False,
    "properties": {
        "value": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,50}$"},
        "label": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}
_ORDINAL_VALUE = {
    "type": "object",
    "required": ["value", "label"],
    "additionalProperties": False,
    "properties": {
        "value": {"type": "integer", "minimum": -1000, "maximum": 1000},
        "label": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}

_QUESTION_KEY = {"type": "string", "pattern": r"^[-a-zA-Z0-9_]{1,50}$"}  # Question.key (a slug)

# What a coordinator may set per type.
OPTIONS_SCHEMAS: dict[str, dict[str, Any]] = {
    YES_NO: {"type": "object", "additionalProperties": False, "properties": {}},
    SINGLE_CHOICE: {
        "type": "object",
        "required": ["choices"],
        "additionalProperties": False,
        "properties": {"choices": {"type": "array", "minItems": 2, "items": _CHOICE}},
    },
    ORDINAL: {
        "type": "object",
        "required": ["values"],
        "additionalProperties": False,
        "properties": {"values": {"type": "array", "minItems": 2, "items": _ORDINAL_VALUE}},
    },
    NUMBER: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "min": {"type": "number"},
            "max": {"type": "number"},
            "unit": {"type": "string", "maxLength": 20},
            "integer": {"type": "boolean"},
        },
    },
    VERTEBRAL_LEVEL: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "allow_range": {"type": "boolean"},
            "allow_none": {"type": "boolean"},
            "levels": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": list(VERTEBRAL_LEVELS)},
            },
        },
    },
    TEXT: {
        "type": "object",
        "additionalProperties": False,
        "properties": {"max_length": {"type": "integer", "minimum": 1, "maximum": 10000}},
    },
    ROI: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "unit": {"type": "string", "maxLength": 20},
            # A contrast-to-noise ratio of this ROI (the target, e.g. the dural canal) against
            # each named ROI question (the background, e.g. ligamentum flavum): one key or a list.
            "cnr_background": {
                "oneOf": [
                    _QUESTION_KEY,
                    {"type": "array", "minItems": 1, "uniqueItems": True, "items": _QUESTION_KEY},
                ]
            },
        },
    },
    COMPARATIVE: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "labels": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    key: {"type": "string", "minLength": 1, "maxLength": 200}
                    for key in ("A", "equal", "B")
                },
            }
        },
    },
    LIKERT: {
        "type": "object",
        "additionalProperties": False,
        "properties": {"labels": _labels_object(numeric_keys=True)},
    },
    COMPUTED: {
        "type": "object",
        "additionalProperties": False,
        "properties": {"decimals": {"type": "integer", "minimum": 0, "maximum": 6}},
    },
}

COMPARATIVE_VALUES = ("A", "equal", "B")
LIKERT_VALUES = (1, 2, 3, 4, 5)
DEFAULT_LIKERT_LABELS = {
    "1": "Strongly disagree",
    "2": "Disagree",
    "3": "Neutral",
    "4": "Agree",
    "5": "Strongly agree",
}
DEFAULT_COMPARATIVE_LABELS = {"A": "A is better", "equal": "Equal", "B": "B is better"}


def _level_schema(levels: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": levels}


def answer_schema(spec: QuestionSpec) -> dict[str, Any]:
    """The JSON Schema of one answer to ``spec`` (``null`` always means "not answered")."""
    options = spec.options
    schema: dict[str, Any]
    if spec.type == YES_NO:
        schema = {"type": "boolean"}
    elif spec.type == SINGLE_CHOICE:
        schema = {"type": "string", "enum": [c["value"] for c in options["choices"]]}
    elif spec.type == ORDINAL:
        schema = {"type": "integer", "enum": [v["value"] for v in options["values"]]}
    elif spec.type == NUMBER:
        schema = {"type": "integer" if options.get("integer") else "number"}
        if "min" in options:
            schema["minimum"] = options["min"]
        if "max" in options:
            schema["maximum"] = options["max"]
    elif spec.type == VERTEBRAL_LEVEL:
        levels = list(options.get("levels") or VERTEBRAL_LEVELS)
        variants: list[dict[str, Any]] = [_level_schema(levels)]
        if options.get("allow_range"):
            variants.append(
                {
                    "type": "object",
                    "required": ["from", "to"],
                    "additionalProperties": False,
                    "properties": {"from": _level_schema(levels), "to": _level_schema(levels)},
                }
            )
        if options.get("allow_none"):
            variants.append({"const": NO_LEVEL})
        schema = variants[0] if len(variants) == 1 else {"oneOf": variants}
    elif spec.type == TEXT:
        schema = {"type": "string", "maxLength": int(options.get("max_length", 2000))}
    elif spec.type == ROI:
        schema = {
            "type": "object",
            "required": ["series", "slice", "geometry", "mean", "sd", "area"],
            "additionalProperties": False,
            "properties": {
                "series": {"type": "string", "pattern": BLINDED_UID_PATTERN},
                "slot": {"type": "string", "maxLength": 20},
                "slice": {"type": "integer", "minimum": 0},
                "geometry": {"type": "object", "maxProperties": 20},
                "mean": {"type": "number"},
                "sd": {"type": "number", "minimum": 0},
                "area": {"type": "number", "minimum": 0},
                "unit": {"type": "string", "maxLength": 20},
            },
        }
    elif spec.type == COMPARATIVE:
        schema = {"type": "string", "enum": list(COMPARATIVE_VALUES)}
    elif spec.type == LIKERT:
        schema = {"type": "integer", "enum": list(LIKERT_VALUES)}
    elif spec.type == COMPUTED:
        schema = {"type": "number"}
    else:
        raise ValueError(f"unknown question type {spec.type!r}")
    return {"anyOf": [schema, {"type": "null"}]}


def questionnaire_schema(specs: Iterable[QuestionSpec]) -> dict[str, Any]:
    """The JSON Schema of a whole answers object (``{key: answer}``), for clients and imports."""
    specs = list(specs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {spec.key: answer_schema(spec) for spec in specs},
    }


def first_problem(schema: Mapping[str, Any], value: Any) -> Problem | None:
    """The first complaint of a JSON Schema about ``value``, located, or ``None``."""
    error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    return None if error is None else _problem(error)


def _is_null_branch(error: ValidationError) -> bool:
    return error.validator == "type" and error.validator_value == "null"


# jsonschema's complaints, by keyword, as msgids with the same English text.
_SCHEMA_MESSAGES = {
    "type": gettext_noop("%(value)s is not of type %(limit)s"),
    "enum": gettext_noop("%(value)s is not one of %(limit)s"),
    "minimum": gettext_noop("%(value)s is less than the minimum of %(limit)s"),
    "maximum": gettext_noop("%(value)s is greater than the maximum of %(limit)s"),
    "exclusiveMinimum": gettext_noop("%(value)s is less than or equal to the minimum of %(limit)s"),
    "exclusiveMaximum": gettext_noop(
        "%(value)s is greater than or equal to the maximum of %(limit)s"
    ),
    "maxLength": gettext_noop("%(value)s is too long"),
    "minLength": gettext_noop("%(value)s is too short"),
    "maxItems": gettext_noop("%(value)s is too long"),
    "minItems": gettext_noop("%(value)s is too short"),
    "pattern": gettext_noop("%(value)s does not match %(limit)s"),
}


def _schema_problem(error: ValidationError) -> Problem:
    """jsonschema's complaint as a ``Problem`` with a msgid, where its English text is one of
    ``_SCHEMA_MESSAGES`` filled in; else its own text (then shown in English)."""
    if error.validator == "required":
        name = error.message.removesuffix(" is a required property")
        problem = Problem.of(gettext_noop("%(name)s is a required property"), name=name)
        if str(problem) == error.message:
            return problem
    template = _SCHEMA_MESSAGES.get(str(error.validator))
    if template is not None:
        limit = error.validator_value
        listed = error.validator == "type" and isinstance(limit, list)
        shown = ", ".join(repr(kind) for kind in limit) if listed else repr(limit)
        problem = Problem.of(template, value=repr(error.instance), limit=shown)
        if str(problem) == error.message:
            return problem
    return Problem(error.message)


def _problem(error: ValidationError) -> Problem:
    # anyOf/oneOf errors say only "is not valid under any of the given schemas": show the
    # closest branch's complaint instead. An answer's schema is "<type> or null"; for a given
    # (non-null) answer, "... is not of type 'null'" says nothing about what is wrong with it,
    # so the complaints of the answer's own branch come first.
    if error.context:
        branches = [e for e in error.context if not _is_null_branch(e)] or error.context
        best = min(branches, key=lambda e: (len(e.absolute_path), e.validator == "type"))
        return _problem(best)
    problem = _schema_problem(error)
    where = "/".join(str(part) for part in error.absolute_path)
    return problem.at(where) if where else problem


def validate_options(spec: QuestionSpec) -> None:
    """Raise ``AnswerError`` (keyed by the question) if the question's options are invalid."""
    if spec.type not in OPTIONS_SCHEMAS:
        raise AnswerError(
            {
                spec.key or "type": Problem.of(
                    gettext_noop("unknown question type %(type)r"), type=spec.type
                )
            }
        )
    problem = first_problem(OPTIONS_SCHEMAS[spec.type], dict(spec.options))
    if problem is None and spec.type == SINGLE_CHOICE:
        values = [c["value"] for c in spec.options["choices"]]
        if len(set(values)) != len(values):
            problem = Problem(gettext_noop("choice values must be unique"))
    if problem is None and spec.type == ORDINAL:
        values = [v["value"] for v in spec.options["values"]]
        if len(set(values)) != len(values):
            problem = Problem(gettext_noop("ordinal values must be unique"))
    if problem is None and spec.type == NUMBER:
        low, high = spec.options.get("min"), spec.options.get("max")
        if low is not None and high is not None and low > high:
            problem = Problem(gettext_noop("min must not exceed max"))
    if problem is None and spec.type == ROI and spec.key in cnr_backgrounds(spec):
        problem = Problem(gettext_noop("cnr_background names the question itself"))
    if problem is None and spec.type == COMPUTED and not spec.formula.strip():
        problem = Problem(gettext_noop("a computed question needs a formula"))
    if problem is None and spec.type != COMPUTED and spec.formula:
        problem = Problem(gettext_noop("only computed questions have a formula"))
    if problem is not None:
        raise AnswerError({spec.key: problem.at("options")})


def cnr_backgrounds(spec: QuestionSpec) -> list[str]:
    """The background ROI questions an ROI question's CNR is computed against (may be none)."""
    if spec.type != ROI:
        return []
    named = spec.options.get("cnr_background") or []
    return [named] if isinstance(named, str) else list(named)


def _level_index(level: str) -> int:
    return VERTEBRAL_LEVELS.index(level)


def validate_answer(spec: QuestionSpec, value: Any) -> None:
    """Raise ``AnswerError`` if ``value`` is not a valid answer to ``spec``."""
    problem = first_problem(answer_schema(spec), value)
    is_range = spec.type == VERTEBRAL_LEVEL and isinstance(value, dict)
    if problem is None and is_range and _level_index(value["from"]) > _level_index(value["to"]):
        problem = Problem(gettext_noop("a level range goes from the cranial to the caudal level"))
    is_float = spec.type == NUMBER and isinstance(value, float)
    if problem is None and is_float and not math.isfinite(value):
        problem = Problem(gettext_noop("must be a finite number"))
    if problem is None and contains_nul(value):
        # PostgreSQL stores no NUL character in text or JSON: refuse it here, not with a 500.
        problem = Problem(gettext_noop("must not contain NUL characters"))
    if problem is not None:
        raise AnswerError({spec.key: problem})


def contains_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


def validate_answers(
    specs: Iterable[QuestionSpec], answers: Mapping[str, Any], *, allow_computed: bool = False
) -> None:
    """Validate a (partial) answers object: every key known, every value valid.

    Computed answers are the platform's to write, so a reader who sends one is refused unless
    ``allow_computed`` (re-validation of stored answers).
    """
    by_key = {spec.key: spec for spec in specs}
    if not isinstance(answers, Mapping):
        raise AnswerError(
            {"answers": Problem(gettext_noop("must be an object of question keys to answers"))}
        )
    errors: dict[str, Problem] = {}
    for key, value in answers.items():
        spec = by_key.get(key)
        if spec is None:
            errors[str(key)] = Problem(gettext_noop("no such question in this study"))
            continue
        if spec.type == COMPUTED and not allow_computed:
            errors[key] = Problem(gettext_noop("computed by the platform; do not send it"))
            continue
        try:
            validate_answer(spec, value)
        except AnswerError as exc:
            errors.update(exc.problems)
    if errors:
        raise AnswerError(errors)


def missing_required(specs: Iterable[QuestionSpec], answers: Mapping[str, Any]) -> list[str]:
    """Keys of required questions without an answer (computed ones count once computable)."""
    return [spec.key for spec in specs if spec.required and answers.get(spec.key) is None]


# --- Computed scores ------------------------------------------------------------------------

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class FormulaError(ValueError):
    """A formula that is not plain arithmetic over question keys."""


def formula_keys(formula: str) -> set[str]:
    """The question keys a formula reads; raises ``FormulaError`` for anything but arithmetic."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {formula!r} is not an arithmetic expression") from exc
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            keys.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise FormulaError("formulas use only + - * /")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub):
                raise FormulaError("formulas use only + - * /")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaError("formula constants must be numbers")
        elif not isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            raise FormulaError(f"formula {formula!r} may only combine question keys and numbers")
    return keys


def _evaluate(node: ast.AST, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, values)
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    raise FormulaError("unsupported formula")


def compute(spec: QuestionSpec, answers: Mapping[str, Any]) -> float | int | None:
    """The value of a computed question, or ``None`` until every input is a number."""
    keys = formula_keys(spec.formula)
    values: dict[str, float] = {}
    for key in keys:
        value = answers.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        values[key] = float(value)
    try:
        result = _evaluate(ast.parse(spec.formula, mode="eval"), values)
    except ZeroDivisionError:
        return None
    decimals = spec.options.get("decimals")
    if decimals is None and result == int(result):
        return int(result)
    return round(result, int(decimals or 6))


def with_computed(specs: Iterable[QuestionSpec], answers: Mapping[str, Any]) -> dict[str, Any]:
    """``answers`` with every computed question (re)computed."""
    result = dict(answers)
    for spec in specs:
        if spec.type == COMPUTED:
            result[spec.key] = compute(spec, result)
    return result


def check_formula(spec: QuestionSpec, specs: Iterable[QuestionSpec]) -> None:
    """A computed question may read only numeric, non-computed questions of its study."""
    numeric = {s.key for s in specs if s.type in (ORDINAL, NUMBER, LIKERT)}
    try:
        keys = formula_keys(spec.formula)
    except FormulaError as exc:
        raise AnswerError({spec.key: str(exc)}) from exc
    unknown = sorted(keys - numeric)
    if unknown:
        raise AnswerError(
            {spec.key: f"the formula reads {', '.join(unknown)}, which are not numeric questions"}
        )
