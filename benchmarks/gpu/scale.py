"""The sizes the GPU bench runs at: the paper's (``full``) and a seconds-long CPU ``smoke`` mode with
the same code paths and the same JSON keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    crop: int = 518                            # semiseg training crop (the paper trains at 518)
    infer_sizes: tuple[tuple[str, int], ...] = (("384", 384), ("518", 518))  # (key, side): the paper infers at 384
    batch: int = 8                             # labelled and unlabelled images per step each
    warmup: int = 3                            # steps before timing starts
    timed: int = 10                            # timed steps (one more is FLOP-counted, untimed)
    infer_batch: int = 16
    infer_batches: int = 8
    fit_steps: int = 50                        # the CCP MvpMatch fit
    fit_val_every: int = 10                    # validation (queue pushes) every N fit steps
    queue_models: int = 3                      # history models in the queue while timing MvpMatch
    models: tuple[str, ...] = ("dinov2_small", "dinov2_base")
    model_overrides: tuple[str, ...] = ()      # smoke: a 4-block, 32-wide ViT and a 16-channel DPT head
    cls_size: int = 224
    cls_batch: int = 64
    var_size: int = 256                        # keys always say 256 (the target's size); the value says the side
    var_batch: int = 64
    num_workers: int = 8


FULL = Scale()
SMOKE = Scale(crop=28, infer_sizes=(("384", 28), ("518", 42)), batch=2, warmup=1, timed=2, infer_batch=2,
              infer_batches=3, fit_steps=4, fit_val_every=2, queue_models=2,
              model_overrides=("++model.encoder_kwargs.depth=4", "model.encoder_kwargs.layers=[0,1,2,3]",
                               "++model.encoder_kwargs.embed_dim=32", "++model.encoder_kwargs.num_heads=2",
                               "model.features=16", "model.out_channels=[8,8,16,16]"),
              cls_size=32, cls_batch=2, var_size=32, var_batch=2, num_workers=0)
