from django.contrib import admin

from cases.models import Case, Instance, Patient, Series, Study


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("label", "patient", "region", "levels", "created_at")
    list_filter = ("region",)
    search_fields = ("label", "patient__pseudonym")


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("series_instance_uid", "study", "modality", "role", "description")
    list_filter = ("modality", "role")


admin.site.register(Patient)
admin.site.register(Study)
admin.site.register(Instance)
