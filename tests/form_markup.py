"""Reading a rendered form as a screen reader would: a refused field's error sits beside its control
(in the same label, templates/_field.html) and the control names it (aria-invalid, aria-describedby
pointing at an id that exists)."""

from __future__ import annotations

import re
from html import unescape


def error_beside(html: str, field_id: str) -> str:
    """The error shown beside the control ``field_id``: the text of the element its aria-describedby
    names, asserted to be inside the control's own label. Fails when any link is missing."""
    label = re.search(rf'<label for="{re.escape(field_id)}">(.*?)</label>', html, re.DOTALL)
    assert label is not None, f"no label for {field_id}"
    control = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', label.group(1))
    assert control is not None, f"the control {field_id} is not inside its label"
    assert 'aria-invalid="true"' in control.group(0), control.group(0)
    described = re.search(r'aria-describedby="([^"]*)"', control.group(0))
    assert described is not None, control.group(0)
    error_id = f"{field_id}_error"
    assert error_id in described.group(1).split(), described.group(1)
    for named in described.group(1).split():  # every id it names exists
        assert html.count(f'id="{named}"') == 1, named
    error = re.search(rf'<(\w+)\b[^>]*\bid="{re.escape(error_id)}"[^>]*>(.*?)</\1>', label.group(1), re.DOTALL)
    assert error is not None, f"the error of {field_id} is not beside it"
    return unescape(re.sub(r"<[^>]+>", "", error.group(2))).strip()


def summary(html: str) -> str:
    """The form's summary at the top (templates/_form_errors.html), "" when it has none."""
    found = re.search(r'<div role="alert"[^>]*data-testid="form-errors">(.*?)</div>', html, re.DOTALL)
    return unescape(found.group(1)).strip() if found else ""
