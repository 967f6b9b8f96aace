"""Run by test_kill.py as a subprocess: `python kill_script.py RUN_DIR [--resume]`.

A deterministic toy training with mid-epoch checkpoints; TOY_STEP_SLEEP (seconds) slows each
batch so the test can kill it mid-training.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from training_toys import ToyDetector, ToySet, toy_config  # noqa: E402

from mammorcnn.engine.training.trainer import Trainer  # noqa: E402


class SlowSet(ToySet):
    def __getitem__(self, i: int):  # noqa: ANN204
        time.sleep(float(os.environ.get("TOY_STEP_SLEEP", "0")))
        return super().__getitem__(i)


def main(run_dir: Path, resume: bool) -> None:
    torch.manual_seed(0)
    config = toy_config(epochs=3, checkpoint_every_steps=2, keep_last=3)
    Trainer(ToyDetector(), SlowSet(6), config, run_dir).fit(resume=resume)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    main(Path(sys.argv[1]), resume="--resume" in sys.argv)
