from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The client is installed into .venv by requirements-dev.txt (-e ./clients/python). The tests use this
# checkout's copy: a venv shared between checkouts (an editable install elsewhere, whose finder comes
# before sys.path) or one without the client would otherwise test another copy or none.
CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python"
_PACKAGE = CLIENT_SRC / "slicemarket"
_loaded = sys.modules.get("slicemarket")
if _loaded is None or Path(getattr(_loaded, "__file__", "") or "").resolve().parent != _PACKAGE:
    for _name in [m for m in sys.modules if m == "slicemarket" or m.startswith("slicemarket.")]:
        del sys.modules[_name]
    _spec = importlib.util.spec_from_file_location(
        "slicemarket", _PACKAGE / "__init__.py", submodule_search_locations=[str(_PACKAGE)]
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["slicemarket"] = _module
    _spec.loader.exec_module(_module)
