"""Question types: one JSON Schema per type, the same for the API, the page, imports and tasks."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from readerstudy import protocols
from readerstudy import questions as q


def spec(type_: str, options: dict[str, Any] | None = None, formula: str = "") -> q.QuestionSpec:
    return q.QuestionSpec(key="k", type=type_, label="K", options=options or {}, formula=formula)


ROI = {
    "series": "2.25.123456789",
    "slot": "CT",
    "slice": 4,
    "geometry": {"type": "ellipse", "points": [[1, 2], [3, 4]]},
    "mean": 41.5,
    "sd": 12.0,
    "area": 80.2,
    "unit": "HU",
}

CASES: list[tuple[q.QuestionSpec, list[Any], list[Any]]] = [
    (spec(q.YES_NO), [True, False, None], [1, "yes", 0, []]),
    (
        spec(
            q.SINGLE_CHOICE,
            {"choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        ),
        ["a", "b"],
        ["c", 1, True],
    ),
    (
        spec(q.ORDINAL, {"values": [{"value": v, "label": str(v)} for v in range(5)]}),
        [0, 4],
        [5, -1, 2.5, "2", True],
    ),
    (spec(q.NUMBER, {"min": 0, "max": 10, "unit": "mm"}), [0, 10, 3.5], [-0.1, 10.01, "3"]),
    (spec(q.NUMBER, {"integer": True}), [3], [3.5]),
    (
        spec(q.VERTEBRAL_LEVEL, {"allow_range": True, "allow_none": True}),
        ["C5", {"from": "C4", "to": "C6"}, "none", {"from": "T12", "to": "L1"}],
        ["C8", {"from": "C6", "to": "C4"}, {"from": "C4"}, "c5"],
    ),
    (spec(q.VERTEBRAL_LEVEL), ["S1"], [{"from": "C4", "to": "C5"}, "none"]),
    (spec(q.TEXT, {"max_length": 5}), ["short"], ["too long", 5]),
    (
        spec(q.ROI),
        [ROI],
        [
            {**ROI, "series": "1.2.840.113619.2.55.3"},  # an original UID, not a blinded slot
            {**ROI, "sd": -1},
            {k: v for k, v in ROI.items() if k != "mean"},
            {**ROI, "extra": 1},
        ],
    ),
    (spec(q.COMPARATIVE), ["A", "equal", "B"], ["a", "C", 1]),
    (spec(q.LIKERT), [1, 5], [0, 6, 3.5, "3"]),
]


@pytest.mark.parametrize(
    ("question", "valid", "invalid"), CASES, ids=lambda v: getattr(v, "type", "")
)
def test_each_type_accepts_its_answers_and_refuses_others(
    question: q.QuestionSpec, valid: list[Any], invalid: list[Any]
) -> None:
    q.validate_options(question)
    for value in valid:
        q.validate_answer(question, value)
    for value in invalid:
        with pytest.raises(q.AnswerError) as refused:
            q.validate_answer(question, value)
        assert refused.value.errors["k"], value


def test_schemas_are_valid_json_schema_documents() -> None:
    specs = [case[0] for case in CASES]
    for question in specs:
        Draft202012Validator.check_schema(q.answer_schema(question))
    for schema in q.OPTIONS_SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
    whole = q.questionnaire_schema([spec(q.YES_NO)])
    Draft202012Validator.check_schema(whole)
    assert not Draft202012Validator(whole).is_valid({"k": True, "unknown": 1})
    Draft202012Validator.check_schema(protocols.INTRAOPERATIVE_SCHEMA)
    Draft202012Validator.check_schema(protocols.hanging_protocol_schema())


def test_errors_name_the_question_and_the_problem() -> None:
    likert = spec(q.LIKERT)
    with pytest.raises(q.AnswerError) as refused:
        q.validate_answers([likert], {"k": 9, "ghost": True})
    assert set(refused.value.errors) == {"k", "ghost"}
    assert "9" in refused.value.errors["k"]
    assert refused.value.errors["ghost"] == "no such question in this study"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({**ROI, "area": -3.5}, "area: -3.5 is less than the minimum of 0"),
        ({**ROI, "sd": -1}, "sd: -1 is less than the minimum of 0"),
        ({k: v for k, v in ROI.items() if k != "mean"}, "'mean' is a required property"),
        ({**ROI, "slice": "4"}, "slice: '4' is not of type 'integer'"),
        ("an ellipse", "'an ellipse' is not of type 'object'"),
    ],
)
def test_a_wrong_answer_gets_the_problem_of_its_own_schema_not_of_null(
    answer: Any, problem: str
) -> None:
    # Every answer's schema is "<type> or null"; the null branch's complaint says nothing.
    with pytest.raises(q.AnswerError) as refused:
        q.validate_answer(spec(q.ROI), answer)
    assert refused.value.errors["k"] == problem
    assert "null" not in str(refused.value)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"choices": [{"value": "a", "label": "A"}]}, "options"),
        ({"choices": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}, "unique"),
        ({"colour": "red"}, "options"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(q.AnswerError, match=problem):
        q.validate_options(spec(q.SINGLE_CHOICE, options))


def test_computed_scores_use_only_arithmetic_over_numeric_questions() -> None:
    ct = q.QuestionSpec(
        "ct", q.ORDINAL, "CT", {"values": [{"value": 0, "label": "0"}, {"value": 4, "label": "4"}]}
    )
    mri = q.QuestionSpec(
        "mri",
        q.ORDINAL,
        "MRI",
        {"values": [{"value": 0, "label": "0"}, {"value": 2, "label": "2"}]},
    )
    total = spec(q.COMPUTED, formula="ct + mri")
    q.check_formula(total, [ct, mri])
    assert q.compute(total, {"ct": 4, "mri": 2}) == 6
    assert q.compute(total, {"ct": 4}) is None
    assert q.with_computed([ct, mri, total], {"ct": 1, "mri": 0})["k"] == 1
    assert q.compute(spec(q.COMPUTED, formula="ct / mri"), {"ct": 1, "mri": 0}) is None
    for formula in ("__import__('os').system('true')", "ct ** 2", "ct if mri else 0", "ct.real"):
        with pytest.raises(q.FormulaError):
            q.formula_keys(formula)
    flag = q.QuestionSpec("flag", q.YES_NO, "Flag", {})
    with pytest.raises(q.AnswerError, match="not numeric"):
        q.check_formula(spec(q.COMPUTED, formula="ct + flag"), [ct, flag])
    with pytest.raises(q.AnswerError, match="needs a formula"):
        q.validate_options(spec(q.COMPUTED))


def test_templates_validate() -> None:
    for template in protocols.TEMPLATES.values():
        for question in template.questions:
            q.validate_options(question)
        for question in template.questions:
            if question.type == q.COMPUTED:
                q.check_formula(question, template.questions)


def test_nul_characters_anywhere_in_an_answer_are_refused() -> None:
    text = q.QuestionSpec(key="remarks", type=q.TEXT, label="Remarks", options={})
    roi = q.QuestionSpec(key="canal", type=q.ROI, label="Canal", options={})
    drawn = {"series": "2.25.1", "slice": 1, "mean": 1.0, "sd": 1.0, "area": 1.0}
    q.validate_answer(text, "fine")
    q.validate_answer(roi, {**drawn, "geometry": {"points": [[1, 2]]}})
    for spec, value in (
        (text, "a\x00b"),
        (roi, {**drawn, "geometry": {"label": "x\x00"}}),
        (roi, {**drawn, "geometry": {"\x00": 1}}),
        (roi, {**drawn, "geometry": {"points": ["\x00"]}}),
    ):
        with pytest.raises(q.AnswerError) as refused:
            q.validate_answer(spec, value)
        assert refused.value.errors == {spec.key: "must not contain NUL characters"}
