"""Admin views of reader studies: for looking, not editing. Every change goes through
``readerstudy.services`` so that it is validated and audited; readings are never deleted."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from readerstudy.models import (
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReferenceStandard,
    Session,
    StudyCase,
    StudyMembership,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ReaderStudy)
class ReaderStudyAdmin(ReadOnlyAdmin):
    list_display = ("title", "protocol", "status", "created_at")
    list_filter = ("status", "protocol")
    search_fields = ("title",)
    exclude = ("blinding_secret",)


@admin.register(StudyMembership)
class StudyMembershipAdmin(ReadOnlyAdmin):
    list_display = ("study", "user", "role", "reader_index")
    list_filter = ("role",)


@admin.register(Question)
class QuestionAdmin(ReadOnlyAdmin):
    list_display = ("study", "order", "key", "type", "required")


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = ("study", "order", "name", "washout_days", "status")


@admin.register(StudyCase)
class StudyCaseAdmin(ReadOnlyAdmin):
    list_display = ("study", "order", "case")


@admin.register(ReaderAssignment)
class ReaderAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("session", "reader", "seed", "started_at", "finished_at")


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = ("id", "assignment", "status", "is_current", "version", "submitted_at")
    list_filter = ("status", "is_current")


@admin.register(ReferenceStandard)
class ReferenceStandardAdmin(ReadOnlyAdmin):
    list_display = ("study", "source", "study_case", "question", "version", "updated_at")
    list_filter = ("source",)
