"""The one error a stage raises for a problem the user can fix (a missing input, a bad setting).

`python -m pipeline` prints its message on one line, without a traceback, and exits with status 2;
anything else that goes wrong is a bug and keeps its traceback.
"""
from __future__ import annotations


class StageError(Exception):
    """A message that names the file or setting and says what to do."""
