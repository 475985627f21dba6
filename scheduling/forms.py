"""Portal forms: the shape of input only; the services check the rules."""

from __future__ import annotations

from django import forms

from scheduling.selectors import ORDERINGS


class SliceSearchForm(forms.Form):
    cpu = forms.IntegerField(label="vCPU (at least)", required=False, min_value=1)
    ram = forms.DecimalField(label="RAM GiB (at least)", required=False, min_value=0, decimal_places=3)
    disk = forms.IntegerField(label="Disk GB (at least)", required=False, min_value=0)
    bandwidth = forms.IntegerField(label="Mbit/s (at least)", required=False, min_value=0)
    start = forms.DateTimeField(
        label="From (UTC)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label="Until (UTC)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    duration = forms.IntegerField(label="Length (seconds)", required=False, min_value=1)
    region = forms.CharField(required=False, max_length=100)
    max_price = forms.DecimalField(label="Max price per grid unit", required=False, min_value=0)
    ordering = forms.ChoiceField(choices=[(k, k) for k in ORDERINGS], required=False, initial="price")


class SliceRequestForm(forms.Form):
    duration = forms.IntegerField(required=False)
    bid = forms.DecimalField(required=False, min_value=0, decimal_places=6)
    quote = forms.CharField(required=False, max_length=64)
    image = forms.CharField(required=False, max_length=200)


class PreemptForm(forms.Form):
    notice_seconds = forms.IntegerField(label="Notice (seconds)", required=False, min_value=0)
    reason = forms.CharField(required=False, max_length=200)
