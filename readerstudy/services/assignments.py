"""Study members and readers' assignments: who coordinates, enters references or reads, and
for each reader and session the seeded case order, the crossover arm and the blinded slot
placements of every case.

Assignments are re-derived (same seed) whenever the cases or a hanging protocol change, which
the freeze rule allows only before the first reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_event_record
from cases.models import Case, Series
from readerstudy import randomization
from readerstudy.blinding import blinded_uid
from readerstudy.models import (
    CaseOrderDesign,
    MemberRole,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    Session,
    SlotPlacement,
    StudyMembership,
)
from readerstudy.services.base import ConflictError, ReaderStudyError, study_changed


def case_series(case: Case) -> list[Series]:
    return list(
        Series.objects.filter(study__case=case).order_by("series_number", "series_instance_uid")
    )


def series_pick(series: Sequence[Series], roles: Iterable[str]) -> Series | None:
    """The first series in role priority order (then by series number)."""
    for role in roles:
        for item in series:
            if item.role == role:
                return item
    return None


@transaction.atomic
def membership_add(
    *, actor: User | None, study: ReaderStudy, user: User, role: str
) -> StudyMembership:
    """Make ``user`` a coordinator, reference editor or reader (with assignments) of the study."""
    if role not in MemberRole.values:
        raise ReaderStudyError(
            _("role must be one of %(roles)s") % {"roles": ", ".join(MemberRole.values)}
        )
    if not user.is_active:
        raise ReaderStudyError(_("inactive users cannot join a study"))
    if role == MemberRole.READER:
        reader_assign(actor=actor, study=study, reader=user)
        return StudyMembership.objects.get(study=study, user=user, role=role)
    membership, created = StudyMembership.objects.get_or_create(study=study, user=user, role=role)
    if created:
        study_changed(study.pk)
        audit_event_record(
            actor=actor,
            verb="study.member_add",
            obj=study,
            after={"user": user.get_username(), "role": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, study: ReaderStudy, user: User, role: str) -> None:
    """Remove a member; a reader only before any of their readings exist (never deleted)."""
    membership = StudyMembership.objects.filter(study=study, user=user, role=role).first()
    if membership is None:
        raise ReaderStudyError(
            _("%(user)s is not a %(role)s of this study")
            % {"user": user.get_username(), "role": role}
        )
    if role == MemberRole.COORDINATOR:
        others = StudyMembership.objects.filter(study=study, role=role).exclude(user=user)
        if not others.exists():
            raise ConflictError(_("a study keeps at least one coordinator"))
    if role == MemberRole.READER:
        if Reading.objects.filter(
            assignment__session__study=study, assignment__reader=user
        ).exists():
            raise ConflictError(
                _("this reader has readings, which are kept; close the study instead")
            )
        ReaderAssignment.objects.filter(session__study=study, reader=user).delete()
    study_changed(study.pk)
    audit_event_record(
        actor=actor,
        verb="study.member_remove",
        obj=study,
        before={"user": user.get_username(), "role": role},
    )
    membership.delete()


def _protocol_session(session: Session, reader_index: int) -> tuple[Session, str]:
    """The session whose hanging protocol this reader sees (swapped under crossover)."""
    study = session.study
    if not study.crossover or session.order not in (1, 2):
        return session, ""
    sequence = randomization.crossover_sequence(reader_index)
    if sequence == "AB":
        return session, sequence
    other = Session.objects.filter(study=study, order=3 - session.order).first()
    return (other or session), sequence


def _case_order(assignment: ReaderAssignment, reader_index: int) -> list[str]:
    session = assignment.session
    study = session.study
    ids = [str(pk) for pk in study.study_cases.order_by("order", "id").values_list("pk", flat=True)]
    design = study.case_order_design
    if design == CaseOrderDesign.FIXED:
        return ids
    if design == CaseOrderDesign.WILLIAMS:
        # Each session shifts the row so that a reader's two sessions have different orders.
        return randomization.williams_order(ids, reader_index + session.order - 1)
    return randomization.seeded_order(ids, assignment.seed)


def assignment_create(
    *, actor: User | None, session: Session, reader: User, membership: StudyMembership
) -> ReaderAssignment:
    reader_index = membership.reader_index or 0
    protocol_session, sequence = _protocol_session(session, reader_index)
    assignment = ReaderAssignment(
        session=session,
        reader=reader,
        seed=randomization.new_seed(),
        protocol_session=protocol_session,
    )
    assignment.design = {
        "case_order": session.study.case_order_design,
        "reader_index": reader_index,
        "crossover": sequence,
        "protocol_session": protocol_session.order,
    }
    assignment.case_order = _case_order(assignment, reader_index)
    assignment.save()
    placements_create(assignment)
    study_changed(session.study_id)
    audit_event_record(
        actor=actor,
        verb="assignment.create",
        obj=assignment,
        after={
            "reader": reader.get_username(),
            "session": session.order,
            "seed": assignment.seed,
            "case_order": assignment.case_order,
            "design": assignment.design,
        },
    )
    return assignment


@transaction.atomic
def reader_assign(
    *, actor: User | None, study: ReaderStudy, reader: User
) -> list[ReaderAssignment]:
    """Make ``reader`` a reader of the study with an assignment (seed, order) per session."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if not reader.is_active:
        raise ReaderStudyError(_("inactive users cannot read"))
    membership = StudyMembership.objects.filter(
        study=study, user=reader, role=MemberRole.READER
    ).first()
    if membership is None:
        index = StudyMembership.objects.filter(study=study, role=MemberRole.READER).count()
        membership = StudyMembership.objects.create(
            study=study, user=reader, role=MemberRole.READER, reader_index=index
        )
        study_changed(study.pk)
        audit_event_record(
            actor=actor,
            verb="study.member_add",
            obj=study,
            after={"user": reader.get_username(), "role": MemberRole.READER, "index": index},
        )
    created = []
    for session in study.sessions.order_by("order"):
        if not ReaderAssignment.objects.filter(session=session, reader=reader).exists():
            created.append(
                assignment_create(
                    actor=actor, session=session, reader=reader, membership=membership
                )
            )
    return created


def placements_create(assignment: ReaderAssignment) -> None:
    """(Re)make the blinded slot placements of every case of an assignment."""
    assignment.placements.all().delete()
    study = assignment.session.study
    secret = study.blinding_secret
    protocol = assignment.protocol_session.hanging_protocol
    slots = protocol.get("slots", [])
    cases = {str(sc.pk): sc for sc in study.study_cases.select_related("case")}
    placements = []
    for case_id in assignment.case_order:
        study_case = cases[case_id]
        series = case_series(study_case.case)
        study_uid = blinded_uid(secret, assignment.pk, case_id, "study")
        order = list(range(len(slots)))
        if protocol.get("shuffle_slots"):
            order = randomization.slot_permutation(len(slots), seed=assignment.seed, key=case_id)
        for index, label_slot in enumerate(slots):
            content = slots[order[index]]
            chosen = series_pick(series, content["roles"])
            overlay = (
                series_pick(series, [content["overlay_role"]])
                if content.get("overlay_role")
                else None
            )
            if chosen is None:
                raise ConflictError(
                    _("case %(case)s has no %(roles)s series for slot %(slot)s")
                    % {
                        "case": study_case.case.label,
                        "roles": " / ".join(content["roles"]),
                        "slot": label_slot["label"],
                    }
                )
            label = label_slot["label"]
            placements.append(
                SlotPlacement(
                    assignment=assignment,
                    study_case=study_case,
                    slot=label,
                    slot_index=index,
                    arm=content.get("arm", ""),
                    viewport=content.get("viewport", "stack"),
                    window=content.get("window", ""),
                    series=chosen,
                    overlay_series=overlay,
                    blinded_study_uid=study_uid,
                    blinded_series_uid=blinded_uid(secret, assignment.pk, case_id, label, "series"),
                    blinded_overlay_series_uid=blinded_uid(
                        secret, assignment.pk, case_id, label, "overlay"
                    )
                    if overlay
                    else "",
                )
            )
    SlotPlacement.objects.bulk_create(placements)


def assignments_refresh(study: ReaderStudy, *, actor: User | None) -> None:
    """Re-derive every assignment's order (same seed) and placements after the cases changed.

    Only reachable before any reading exists (cases freeze with the first reading).
    """
    indices = dict(
        StudyMembership.objects.filter(study=study, role=MemberRole.READER).values_list(
            "user_id", "reader_index"
        )
    )
    for assignment in ReaderAssignment.objects.filter(session__study=study).select_related(
        "session__study", "protocol_session"
    ):
        before = list(assignment.case_order)
        assignment.case_order = _case_order(assignment, indices.get(assignment.reader_id) or 0)
        assignment.save(update_fields=["case_order"])
        placements_create(assignment)
        audit_event_record(
            actor=actor,
            verb="assignment.reorder",
            obj=assignment,
            before={"case_order": before},
            after={"case_order": assignment.case_order, "seed": assignment.seed},
        )
