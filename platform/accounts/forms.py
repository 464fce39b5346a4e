"""Forms of the account pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.preferences import time_zone_names


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("As my browser asks"))],
    )
    # Zone names are IANA identifiers, the same in every language.
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        choices=[],
        widget=forms.Select(attrs={"translate": "no"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)
        language.choices = [("", _("As my browser asks")), *settings.LANGUAGES]
        zone = self.fields["time_zone"]
        assert isinstance(zone, forms.ChoiceField)
        site = _("The site's (%(zone)s)") % {"zone": settings.TIME_ZONE}
        zone.choices = [("", site), *((name, name) for name in time_zone_names())]
