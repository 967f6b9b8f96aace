"""Run by test_ddp.py under `torch.distributed.run --nproc_per_node 2` (gloo, CPU).

Each rank starts from *different* random weights (seed + rank) to show that DDP makes them
equal, evaluates to a rank-dependent metric to show the reduction, and dumps its final
parameters and weight average (train.ema_decay) for the test to compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from training_toys import TinyMammoSet, tiny_maskrcnn, toy_config  # noqa: E402

from mammorcnn.engine.training.distributed import cleanup, init_distributed  # noqa: E402
from mammorcnn.engine.training.trainer import Trainer  # noqa: E402


def main(run_dir: Path) -> None:
    info, created = init_distributed("cpu")
    torch.manual_seed(info.rank)
    model = tiny_maskrcnn()
    config = toy_config(epochs=1, lr=0.01, warmup_steps=1, tensorboard=True, ema_decay=0.5)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        return {"froc/sens@1": float(info.rank)}

    trainer = Trainer(model, TinyMammoSet(8), config, run_dir, evaluate=evaluate, dist_info=info)
    result = trainer.fit()
    out = run_dir.parent / f"rank{info.rank}"
    out.mkdir(exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out / "params.pt")
    torch.save(trainer.ema.module.state_dict(), out / "ema.pt")
    (out / "result.json").write_text(
        json.dumps({"world": info.world_size, "step": result.step, "metrics": result.metrics})
    )
    cleanup(created)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
