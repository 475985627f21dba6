from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from audit.models import DomainEvent


def events_for(target: models.Model) -> QuerySet[DomainEvent]:
    return DomainEvent.objects.filter(target_type=ContentType.objects.get_for_model(target), target_id=str(target.pk))
