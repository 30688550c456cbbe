"""Overrides that make every semiseg run test-sized (32 px, 16 synthetic images, 2 steps per epoch)."""

import pytorch_lightning as pl

TINY = [
    "data.options.sizes={train:16,val:4,test:4}", "data.options.image_size=32", "data.crop_size=32",
    "data.base_size=32", "data.eval_size=32", "data.batch_size=2", "data.eval_batch_size=4",
    "data.num_workers=0", "data.labeled_ratio=1/4", "data.epoch_samples=4",
    "model.features=16", "model.out_channels=[8,8,16,16]", "logger=csv",
]


class StopAfterEpochs(pl.Callback):
    """Simulates a killed run: fit stops after ``epochs`` epochs although max_epochs is larger, so the
    schedule (poly over max_epochs) is the one of the uninterrupted run."""

    def __init__(self, epochs: int = 1) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


KILL_AFTER_ONE_EPOCH = ["+callbacks.kill._target_=tests.semiseg.tiny.StopAfterEpochs", "+callbacks.kill.epochs=1"]
