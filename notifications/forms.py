"""The preferences form: per kind, a portal box and an email box (unticked: off)."""

from __future__ import annotations

from typing import Any

from django import forms

from notifications.kinds import Kind


class PreferencesForm(forms.Form):
    def __init__(self, *args: Any, rows: list[tuple[Kind, bool, bool]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for kind, portal, email in rows:
            self.fields[f"{kind.value}__portal"] = forms.BooleanField(
                required=False, initial=portal, label="In the portal"
            )
            self.fields[f"{kind.value}__email"] = forms.BooleanField(required=False, initial=email, label="By email")

    def table(self) -> list[tuple[Kind, forms.BoundField, forms.BoundField]]:
        return [(k, self[f"{k.value}__portal"], self[f"{k.value}__email"]) for k, _, _ in self.rows]

    def choices(self) -> dict[str, tuple[bool, bool]]:
        d = self.cleaned_data
        return {k.value: (bool(d.get(f"{k.value}__portal")), bool(d.get(f"{k.value}__email"))) for k, _, _ in self.rows}
