"""Run by test_graceful_stop.py: `python stop_script.py RUN_DIR [--resume]`.

The toy training of the kill test, inside GracefulStop as `mammorcnn train` runs it; epoch-end
checkpoints only (steps 3, 6, 9), so a stop elsewhere must write its own. TOY_STEP_SLEEP
(seconds per image) slows it down for the test's signals.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "training"))

from training_toys import ToyDetector, ToySet, toy_config  # noqa: E402

from mammorcnn.engine.graceful_stop import GracefulStop  # noqa: E402
from mammorcnn.engine.training.trainer import Trainer  # noqa: E402


class SlowSet(ToySet):
    def __getitem__(self, i: int):  # noqa: ANN204
        time.sleep(float(os.environ.get("TOY_STEP_SLEEP", "0")))
        return super().__getitem__(i)


def main(run_dir: Path, resume: bool) -> Trainer:
    torch.manual_seed(0)
    trainer = Trainer(ToyDetector(), SlowSet(6), toy_config(epochs=3, keep_last=2), run_dir)
    trainer.fit(resume=resume)
    return trainer


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    with GracefulStop():
        main(Path(sys.argv[1]), resume="--resume" in sys.argv)
