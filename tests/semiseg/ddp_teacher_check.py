"""Run by test_workflows.py as a script: 2-process CPU DDP (gloo), a few MvpMatch steps, then each
rank saves its EMA teacher and its queue draws so the test can compare ranks.

usage: python tests/semiseg/ddp_teacher_check.py OUT_DIR
"""

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny import TINY  # noqa: E402

from shared.config import compose  # noqa: E402
from shared.tasks import build_components, build_trainer  # noqa: E402


class DumpTeacher(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer, pl_module):
        history = pl_module.history
        draws = [history.draw() for _ in range(3)] if history is not None and len(history) else []
        torch.save({"teacher": {k: v.cpu() for k, v in pl_module.teacher.state_dict().items()},
                    "student": {k: v.detach().cpu() for k, v in pl_module.net.named_parameters()},
                    "queue_len": len(history) if history is not None else 0,
                    "draws": [(d.indices, d.weights) for d in draws]},
                   self.out / f"rank{trainer.global_rank}.pt")


def main(out: Path) -> None:
    torch.set_num_threads(1)
    cfg = compose("semiseg", ["debug=smoke", *TINY, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                              "trainer.sync_batchnorm=false", "trainer.max_epochs=2", "logger=none",
                              "callbacks.model_checkpoint=null", "callbacks.last_checkpoint=null",
                              "callbacks.lr_monitor=null",
                              f"paths.output_dir={out}", f"paths.log_dir={out}"])
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, module = build_components(cfg)
    trainer = build_trainer(cfg, out)
    trainer.callbacks.append(DumpTeacher(out))
    trainer.fit(module, datamodule=datamodule)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
