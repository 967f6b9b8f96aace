"""The command line of the evaluation-only experiments that replace Predictor._forward.

``gamma_views_eval.py`` and ``mask_score_eval.py`` run `mammorcnn evaluate` with the
predictor's forward replaced for their process only: ``SCRIPT ARG -- evaluate ...``, where ARG
is the experiment's setting.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from mammorcnn.cli.main import main as cli_main
from mammorcnn.engine.inference import predictor


def run_patched(doc: str, name: str, make_forward: Callable[[str], Any]) -> int:
    """Parse ``ARG -- COMMAND...`` from sys.argv, replace Predictor._forward with
    ``make_forward(ARG)`` and run COMMAND; usage or a ValueError from ``make_forward``: exit 2."""
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        print(doc.strip().splitlines()[-3].strip(), file=sys.stderr)
        return 2
    try:
        forward = make_forward(sys.argv[1])
    except ValueError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    predictor.Predictor._forward = forward
    return cli_main(sys.argv[3:])
