from __future__ import annotations

import sys
from pathlib import Path

# The client is installed into .venv by requirements-dev.txt (-e ./clients/python); before the venv's
# next install (or in a venv without it) the tests import it from the checkout.
CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python"
try:
    import slicemarket  # noqa: F401
except ImportError:
    sys.path.insert(0, str(CLIENT_SRC))
