"""Reader-study services: templates, randomization, washout, autosave, submit, amendments."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, User
from cases.models import Case, SeriesRole
from readerstudy import randomization, selectors, services
from readerstudy.models import (
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReferenceSource,
    ReferenceStandard,
    Session,
    SlotPlacement,
)

SLIC_ANSWERS = {
    "retropharyngeal_hematoma": False,
    "disc_injury": True,
    "cord_edema": True,
    "sci_level": {"from": "C4", "to": "C5"},
    "canal_stenosis": False,
    "interspinous_ligament_injury": True,
    "slic_ct_morphology": 2,
    "slic_mri_dlc": 1,
}


def _assignment(study: ReaderStudy, reader: User, order: int = 1) -> ReaderAssignment:
    return ReaderAssignment.objects.get(session__study=study, session__order=order, reader=reader)


def _read_all(assignment: ReaderAssignment, reader: User, now: dt.datetime) -> None:
    for position in range(1, len(assignment.case_order) + 1):
        reading, _ = services.reading_open(
            actor=reader, assignment=assignment, position=position, now=now
        )
        assert reading is not None
        services.reading_submit(
            actor=reader, reading=reading, version=reading.version, answers=SLIC_ANSWERS, now=now
        )


@pytest.mark.django_db
def test_slic_template_builds_sessions_questions_and_the_reference_rule(
    coordinator: User,
) -> None:
    study = services.study_create_from_template(
        actor=coordinator, protocol="slic-pseudo-mri", washout_days=45
    )
    sessions = list(study.sessions.order_by("order"))
    assert [(s.name, s.washout_days) for s in sessions] == [("Session 1", 0), ("Session 2", 45)]
    slots = [[slot["label"] for slot in s.hanging_protocol["slots"]] for s in sessions]
    assert slots == [["CT", "MRI"], ["CT", "MRI"]]
    assert sessions[0].hanging_protocol["slots"][1]["roles"] == [SeriesRole.PSEUDO_MRI]
    assert sessions[1].hanging_protocol["slots"][1]["roles"] == [
        SeriesRole.MRI_T2,
        SeriesRole.MRI_STIR,
    ]
    keys = list(study.questions.values_list("key", flat=True))
    assert keys == [
        "retropharyngeal_hematoma", "disc_injury", "cord_edema", "sci_level", "canal_stenosis",
        "interspinous_ligament_injury", "slic_ct_morphology", "slic_mri_dlc", "slic_total",
    ]  # fmt: skip
    morphology = study.questions.get(key="slic_ct_morphology")
    assert [v["label"] for v in morphology.options["values"]] == [
        "No abnormality",
        "Compression fracture",
        "Burst fracture",
        "Lateral / rotational translation",
        "Distraction / extension injury",
    ]
    assert study.questions.get(key="slic_total").formula == "slic_ct_morphology + slic_mri_dlc"
    (rule,) = ReferenceStandard.objects.filter(study=study)
    assert rule.source == ReferenceSource.SESSION_OF_SAME_READER
    assert (rule.session, rule.reference_session) == (sessions[0], sessions[1])
    assert selectors.has_study_role(user=coordinator, study=study, role="coordinator")
    assert "pseudo" not in study.reader_title.lower()
    event = AuditEvent.objects.get(verb="study.create", object_id=str(study.pk))
    assert event.actor == coordinator and event.after["protocol"] == "slic-pseudo-mri"


@pytest.mark.django_db
def test_ncctm_template_and_blank_template(coordinator: User) -> None:
    ncctm = services.study_create_from_template(actor=coordinator, protocol="ncctm-vs-mrm")
    (session,) = ncctm.sessions.all()
    assert session.hanging_protocol["shuffle_slots"] is True
    assert [s["arm"] for s in session.hanging_protocol["slots"]] == ["NC-CTM", "MRM"]
    assert list(ncctm.questions.values_list("type", flat=True)) == [
        "likert",
        "likert",
        "comparative",
    ]
    assert ncctm.reference_form == "intraoperative"
    blank = services.study_create_from_template(actor=coordinator, protocol="blank")
    assert blank.questions.count() == 0 and blank.sessions.count() == 1
    with pytest.raises(services.ReaderStudyError, match="unknown protocol"):
        services.study_create_from_template(actor=coordinator, protocol="nope")


@pytest.mark.django_db
def test_cases_lacking_a_role_are_skipped_with_a_message(
    coordinator: User, slic_cases: list[Case]
) -> None:
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    lacking = slic_cases[0]
    from cases.models import Series

    Series.objects.filter(study__case=lacking, role=SeriesRole.PSEUDO_MRI).update(
        role=SeriesRole.OTHER
    )
    result = services.study_cases_add(actor=coordinator, study=study, cases=slic_cases)
    assert [sc.case for sc in result.added] == slic_cases[1:]
    assert result.skipped == [(lacking.label, ["Session 1 MRI: pseudo-MRI"])]
    assert lacking.label in result.message and "pseudo-MRI" in result.message


@pytest.mark.django_db
def test_case_order_is_reproducible_from_the_stored_seed_and_audited(
    slic_study: ReaderStudy, reader_a: User, reader_b: User
) -> None:
    ids = [str(pk) for pk in slic_study.study_cases.order_by("order").values_list("pk", flat=True)]
    for reader in (reader_a, reader_b):
        for order in (1, 2):
            assignment = _assignment(slic_study, reader, order)
            assert sorted(assignment.case_order) == sorted(ids)
            assert assignment.case_order == randomization.seeded_order(ids, assignment.seed)
            event = AuditEvent.objects.filter(
                verb__in=("assignment.create", "assignment.reorder"), object_id=str(assignment.pk)
            ).first()
            assert event is not None
            assert event.after["seed"] == assignment.seed
            assert event.after["case_order"] == assignment.case_order
    seeds = set(ReaderAssignment.objects.values_list("seed", flat=True))
    assert len(seeds) == 4  # a seed per reader and session


@pytest.mark.django_db
def test_williams_design_gives_readers_balanced_orders(
    coordinator: User, reader_a: User, reader_b: User, slic_cases: list[Case]
) -> None:
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    services.study_update(actor=coordinator, study=study, changes={"case_order_design": "williams"})
    services.study_cases_add(actor=coordinator, study=study, cases=slic_cases)
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.reader_assign(actor=coordinator, study=study, reader=reader_b)
    ids = [str(pk) for pk in study.study_cases.order_by("order").values_list("pk", flat=True)]
    a1 = _assignment(study, reader_a).case_order
    b1 = _assignment(study, reader_b).case_order
    assert a1 == randomization.williams_order(ids, 0)
    assert b1 == randomization.williams_order(ids, 1)
    assert a1 != b1
    assert _assignment(study, reader_a, 2).case_order == b1  # the next row in session 2
    with pytest.raises(services.ConflictError, match="fixed once readers are assigned"):
        services.study_update(actor=coordinator, study=study, changes={"crossover": True})


@pytest.mark.django_db
def test_crossover_swaps_the_hanging_protocols_for_every_other_reader(
    coordinator: User, reader_a: User, reader_b: User, slic_cases: list[Case]
) -> None:
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    services.study_update(actor=coordinator, study=study, changes={"crossover": True})
    services.study_cases_add(actor=coordinator, study=study, cases=slic_cases)
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.reader_assign(actor=coordinator, study=study, reader=reader_b)
    a1, b1 = _assignment(study, reader_a), _assignment(study, reader_b)
    assert (a1.design["crossover"], b1.design["crossover"]) == ("AB", "BA")
    assert a1.protocol_session.order == 1 and b1.protocol_session.order == 2
    arms = set(
        SlotPlacement.objects.filter(assignment=b1, slot="MRI").values_list("arm", flat=True)
    )
    assert arms == {"real MRI"}


@pytest.mark.django_db
def test_ncctm_places_the_two_images_at_random_as_a_and_b_per_case(
    ncctm_study: ReaderStudy, surgeon: User
) -> None:
    assignment = _assignment(ncctm_study, surgeon)
    for case_id in assignment.case_order:
        placements = SlotPlacement.objects.filter(assignment=assignment, study_case_id=case_id)
        arms = {p.slot: p.arm for p in placements}
        assert set(arms) == {"A", "B"} and set(arms.values()) == {"NC-CTM", "MRM"}
        expected = randomization.slot_permutation(2, seed=assignment.seed, key=case_id)
        assert arms["A"] == ["NC-CTM", "MRM"][expected[0]]
        ncctm = placements.get(arm="NC-CTM")
        assert ncctm.series.role == SeriesRole.DECT_MIXED
        assert ncctm.overlay_series is not None
        assert ncctm.overlay_series.role == SeriesRole.NCCTM_MASK
        assert ncctm.viewport == "volume3d"


@pytest.mark.django_db
def test_washout_refuses_session_2_with_the_unlock_date_then_opens(
    slic_study: ReaderStudy, reader_a: User
) -> None:
    start = timezone.now()
    session2 = _assignment(slic_study, reader_a, 2)
    state = selectors.assignment_state(session2, now=start)
    assert state.state == selectors.LOCKED and "finish Session 1" in state.message

    _read_all(_assignment(slic_study, reader_a, 1), reader_a, start)
    finished = _assignment(slic_study, reader_a, 1).finished_at
    assert finished == start

    before = start + dt.timedelta(days=29, hours=23)
    with pytest.raises(services.ConflictError) as refused:
        services.reading_open(actor=reader_a, assignment=session2, position=1, now=before)
    unlock = start + dt.timedelta(days=30)
    assert refused.value.details["unlock_at"] == unlock
    assert timezone.localtime(unlock).strftime("%Y-%m-%d") in refused.value.message
    assert "washout of 30 days" in refused.value.message
    assert not Reading.objects.filter(assignment=session2).exists()

    reading, _ = services.reading_open(
        actor=reader_a, assignment=session2, position=1, now=unlock + dt.timedelta(seconds=1)
    )
    assert reading is not None and reading.assignment == session2


@pytest.mark.django_db
def test_washout_counts_per_reader(slic_study: ReaderStudy, reader_a: User, reader_b: User) -> None:
    start = timezone.now()
    _read_all(_assignment(slic_study, reader_a, 1), reader_a, start)
    later = start + dt.timedelta(days=31)
    assert selectors.assignment_state(_assignment(slic_study, reader_a, 2), now=later).state == (
        selectors.AVAILABLE
    )
    # Reader B has not finished session 1: their session 2 stays locked whatever the date.
    assert selectors.assignment_state(_assignment(slic_study, reader_b, 2), now=later).state == (
        selectors.LOCKED
    )


@pytest.mark.django_db
def test_autosave_with_a_stale_version_is_refused_and_changes_nothing(
    slic_study: ReaderStudy, reader_a: User
) -> None:
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    first = services.reading_save(
        actor=reader_a, reading=reading, answers={"disc_injury": True}, version=1
    )
    assert first.version == 2
    with pytest.raises(services.ConflictError, match="another tab") as stale:
        services.reading_save(
            actor=reader_a, reading=reading, answers={"disc_injury": False}, version=1
        )
    assert stale.value.details["current_version"] == 2
    reading.refresh_from_db()
    assert reading.answers == {"disc_injury": True} and reading.version == 2


@pytest.mark.django_db
def test_computed_total_and_partial_saves(slic_study: ReaderStudy, reader_a: User) -> None:
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    reading = services.reading_save(
        actor=reader_a, reading=reading, answers={"slic_ct_morphology": 3}, version=1
    )
    assert "slic_total" not in reading.answers
    reading = services.reading_save(
        actor=reader_a, reading=reading, answers={"slic_mri_dlc": 2}, version=2
    )
    assert reading.answers["slic_total"] == 5
    reading = services.reading_save(
        actor=reader_a, reading=reading, answers={"slic_mri_dlc": None}, version=3
    )
    assert "slic_mri_dlc" not in reading.answers and "slic_total" not in reading.answers
    with pytest.raises(services.AnswerError) as typed:
        services.reading_save(actor=reader_a, reading=reading, answers={"slic_total": 9}, version=4)
    assert "computed" in typed.value.errors["slic_total"]


@pytest.mark.django_db
def test_submit_needs_every_required_answer_then_locks(
    slic_study: ReaderStudy, reader_a: User
) -> None:
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    partial = {"disc_injury": True, "slic_ct_morphology": 1}
    with pytest.raises(services.AnswerError) as incomplete:
        services.reading_submit(actor=reader_a, reading=reading, version=1, answers=partial)
    assert set(incomplete.value.errors) == {
        "retropharyngeal_hematoma", "cord_edema", "sci_level", "canal_stenosis",
        "interspinous_ligament_injury", "slic_mri_dlc", "slic_total",
    }  # fmt: skip
    reading.refresh_from_db()
    assert reading.answers == {} and reading.status == "in_progress"  # nothing saved

    submitted = services.reading_submit(
        actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS
    )
    assert submitted.status == "submitted" and submitted.answers["slic_total"] == 3
    with pytest.raises(services.ConflictError, match="submitted and locked"):
        services.reading_save(
            actor=reader_a, reading=submitted, answers={"disc_injury": False}, version=2
        )
    with pytest.raises(services.ConflictError, match="already submitted"):
        services.reading_submit(actor=reader_a, reading=submitted, version=2)
    submitted.refresh_from_db()
    assert submitted.answers["disc_injury"] is True


@pytest.mark.django_db
def test_cases_are_read_in_order(slic_study: ReaderStudy, reader_a: User) -> None:
    assignment = _assignment(slic_study, reader_a)
    with pytest.raises(services.ConflictError, match="case 1 of 3 is next"):
        services.reading_open(actor=reader_a, assignment=assignment, position=3)
    assert not Reading.objects.filter(assignment=assignment).exists()


@pytest.mark.django_db
def test_amendments_are_off_by_default_and_need_a_reason(
    slic_study: ReaderStudy, coordinator: User, reader_a: User
) -> None:
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    submitted = services.reading_submit(
        actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS
    )
    change = {"slic_mri_dlc": 2}
    with pytest.raises(services.NotAllowedError):
        services.reading_amend(
            actor=reader_a, reading=submitted, version=2, answers=change, reason="typo"
        )
    services.study_update(actor=coordinator, study=slic_study, changes={"allow_amendments": True})
    slic_study.refresh_from_db()
    submitted = Reading.objects.get(pk=submitted.pk)
    # Blank, or only characters nobody sees (zero-width space, joiners, a bidi mark): no reason.
    for invisible in ("  ", "\u200b", "\u200c\u200d\u2060", "\u200f\u3000\t"):
        with pytest.raises(services.ReaderStudyError, match="needs a reason"):
            services.reading_amend(
                actor=reader_a, reading=submitted, version=2, answers=change, reason=invisible
            )
    amended = services.reading_amend(
        actor=reader_a,
        reading=submitted,
        version=2,
        answers=change,
        reason="Misread the STIR sequence",
    )
    old = Reading.objects.get(pk=submitted.pk)
    assert old.is_current is False and old.answers["slic_mri_dlc"] == 1  # earlier values kept
    assert amended.supersedes == old and amended.is_current
    assert amended.answers["slic_mri_dlc"] == 2 and amended.answers["slic_total"] == 4
    assert amended.amendment_reason == "Misread the STIR sequence"
    event = AuditEvent.objects.get(verb="reading.amend", object_id=str(amended.pk))
    assert event.reason == "Misread the STIR sequence"
    assert event.before["slic_mri_dlc"] == 1 and event.after["slic_mri_dlc"] == 2
    assert Reading.objects.filter(assignment=assignment).count() == 2  # never deleted


@pytest.mark.django_db
def test_audit_trail_of_a_reading(slic_study: ReaderStudy, reader_a: User) -> None:
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    services.reading_save(actor=reader_a, reading=reading, answers={"cord_edema": True}, version=1)
    services.reading_save(actor=reader_a, reading=reading, answers={"cord_edema": False}, version=2)
    services.reading_submit(actor=reader_a, reading=reading, version=3, answers=SLIC_ANSWERS)
    events = list(
        AuditEvent.objects.filter(object_id=str(reading.pk)).order_by("created_at", "verb")
    )
    verbs = [e.verb for e in events]
    assert verbs == ["reading.open", "reading.save", "reading.save", "reading.submit"]
    assert all(e.actor == reader_a for e in events)
    assert events[1].before == {"cord_edema": None} and events[1].after == {"cord_edema": True}
    assert events[2].before == {"cord_edema": True} and events[2].after == {"cord_edema": False}
    assert events[3].after["answers"]["slic_total"] == 3
    # Audit rows never carry the case label (readers' actions must not name cases).
    for event in events:
        assert "SECRET" not in str(event.before) + str(event.after) + event.object_repr


@pytest.mark.django_db
def test_questions_and_cases_freeze_once_reading_starts(
    slic_study: ReaderStudy, coordinator: User, reader_a: User, slic_cases: list[Case]
) -> None:
    question = Question.objects.get(study=slic_study, key="disc_injury")
    services.question_update(actor=coordinator, question=question, changes={"required": False})
    services.reading_open(actor=reader_a, assignment=_assignment(slic_study, reader_a), position=1)
    with pytest.raises(services.ConflictError, match="Questions are frozen"):
        services.question_update(actor=coordinator, question=question, changes={"required": True})
    with pytest.raises(services.ConflictError, match="Questions are frozen"):
        services.question_create(
            actor=coordinator, study=slic_study, key="extra", type="yes_no", label="Extra"
        )
    with pytest.raises(services.ConflictError, match="Cases are frozen"):
        services.study_case_remove(actor=coordinator, study_case=slic_study.study_cases.first())  # type: ignore[arg-type]
    # Labels stay editable (the report's wording may be corrected).
    renamed = services.question_update(
        actor=coordinator, question=question, changes={"label": "Disc injury (any level)"}
    )
    assert renamed.label == "Disc injury (any level)"


@pytest.mark.django_db
def test_a_cnr_background_must_be_another_roi_question_of_the_study(coordinator: User) -> None:
    study = services.study_create_from_template(actor=coordinator, protocol="blank")

    def roi(key: str, **options: object) -> Question:
        return services.question_create(
            actor=coordinator, study=study, key=key, type="roi", label=key, options=options
        )

    # The background does not exist yet, or is not an ROI: refused, nothing stored.
    with pytest.raises(services.AnswerError, match="cnr_background names lf, which is not another"):
        roi("dc", cnr_background="lf")
    services.question_create(actor=coordinator, study=study, key="lf", type="text", label="LF")
    with pytest.raises(services.AnswerError, match="lf, which is not another ROI question"):
        roi("dc", cnr_background=["lf"])
    assert not study.questions.filter(key="dc").exists()

    lf = Question.objects.get(study=study, key="lf")
    services.question_update(actor=coordinator, question=lf, changes={"type": "roi"})
    roi("ivd")
    dc = roi("dc", cnr_background=["lf", "ivd"])
    with pytest.raises(services.AnswerError, match="names nowhere, csf, which are not"):
        services.question_update(
            actor=coordinator,
            question=dc,
            changes={"options": {"cnr_background": ["lf", "nowhere", "csf"]}},
        )
    dc.refresh_from_db()
    assert dc.options == {"cnr_background": ["lf", "ivd"]}

    # Nor may the background stop being an ROI question, or go.
    lf.refresh_from_db()
    with pytest.raises(services.AnswerError, match="dc measures its CNR against this ROI"):
        services.question_update(actor=coordinator, question=lf, changes={"type": "number"})
    with pytest.raises(services.ConflictError, match="dc measures its CNR against 'lf'"):
        services.question_delete(actor=coordinator, question=lf)
    assert Question.objects.get(study=study, key="lf").type == "roi"
    services.question_update(
        actor=coordinator, question=dc, changes={"options": {"cnr_background": "ivd"}}
    )
    services.question_delete(actor=coordinator, question=lf)
    assert sorted(study.questions.values_list("key", flat=True)) == ["dc", "ivd"]


@pytest.mark.django_db
def test_reading_time_is_measured_from_heartbeats(slic_study: ReaderStudy, reader_a: User) -> None:
    start = timezone.now()
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1, now=start)
    assert reading is not None
    for seconds in (15, 30, 45):
        services.reading_heartbeat(
            actor=reader_a, reading=reading, now=start + dt.timedelta(seconds=seconds)
        )
    # Ten minutes away from the case: not reading time.
    services.reading_heartbeat(
        actor=reader_a, reading=reading, now=start + dt.timedelta(minutes=10, seconds=45)
    )
    services.reading_heartbeat(
        actor=reader_a, reading=reading, now=start + dt.timedelta(minutes=11)
    )
    reading.refresh_from_db()
    assert reading.active_seconds == pytest.approx(60.0)
    assert reading.opened_at == start


@pytest.mark.django_db
def test_new_sessions_and_readers_get_assignments(
    slic_study: ReaderStudy, coordinator: User, outsider: User
) -> None:
    services.reader_assign(actor=coordinator, study=slic_study, reader=outsider)
    assert ReaderAssignment.objects.filter(reader=outsider).count() == 2
    session = services.session_create(
        actor=coordinator,
        study=slic_study,
        name="Session 3",
        washout_days=7,
        hanging_protocol={"slots": [{"label": "CT", "roles": ["CT"]}]},
    )
    assert ReaderAssignment.objects.filter(session=session).count() == 3
    with pytest.raises(services.ReaderStudyError, match="hanging protocol"):
        services.session_create(
            actor=coordinator, study=slic_study, name="Bad", hanging_protocol={"slots": []}
        )
    assert Session.objects.filter(study=slic_study).count() == 3


@pytest.mark.django_db
def test_intraoperative_reference_is_validated_versioned_and_audited(
    ncctm_study: ReaderStudy, surgeon: User
) -> None:
    study_case = ncctm_study.study_cases.first()
    assert study_case is not None
    values = {
        "findings": [
            {"level": "L4/5", "side": "left", "dural_canal": "severe", "nerve_root": "mild"},
            {"level": "L4/5", "side": "right", "dural_canal": "mild", "nerve_root": "none"},
        ]
    }
    reference = services.reference_set(
        actor=surgeon,
        study_case=study_case,
        source=ReferenceSource.INTRAOPERATIVE,
        values=values,
        provenance="Operative report",
    )
    assert reference.version == 1 and reference.entered_by == surgeon
    bad = {
        "findings": [{"level": "L4/5", "side": "left", "dural_canal": "huge", "nerve_root": "x"}]
    }
    with pytest.raises(services.ReaderStudyError, match="intraoperative findings"):
        services.reference_set(
            actor=surgeon, study_case=study_case, source="intraoperative", values=bad
        )
    with pytest.raises(services.ReaderStudyError, match="NUL"):
        services.reference_set(
            actor=surgeon,
            study_case=study_case,
            source="intraoperative",
            values={**values, "notes": "see\x00report"},
            version=1,
        )
    values["findings"][0]["nerve_root"] = "severe"
    services.reference_set(
        actor=surgeon, study_case=study_case, source="intraoperative", values=values, version=1
    )
    with pytest.raises(services.ConflictError, match="changed this reference"):
        services.reference_set(
            actor=surgeon, study_case=study_case, source="intraoperative", values=values, version=1
        )
    reference.refresh_from_db()
    assert reference.version == 2 and reference.values["findings"][0]["nerve_root"] == "severe"
    events = AuditEvent.objects.filter(verb="reference.set", object_id=str(reference.pk))
    update = events.order_by("-created_at").first()
    assert update is not None
    assert update.before["values"]["findings"][0]["nerve_root"] == "mild"
    assert update.after["values"]["findings"][0]["nerve_root"] == "severe"
