"""The U-Net baseline sees the clicks as a geodesic-distance channel; shapes and one training step."""

import numpy as np
import torch

from projects.variational_seg.unet import UNetModule, unet_input
from tests.variational_seg.helpers import scene


def test_unet_input_has_the_geodesic_channel_and_the_net_keeps_the_size():
    image, target, _ = scene(40, seed=1)
    rgb = (np.repeat(np.clip(image, 0, 1)[..., None], 3, 2) * 255).astype(np.uint8)
    x = unet_input(rgb, np.array([[17, 14]]), 32)
    assert x.shape == (4, 32, 32)
    assert float(x[3].min()) == 0.0 and float(x[3].max()) == 1.0 and float(x[3, 14, 11]) == 0.0
    module = UNetModule(base_channels=4, image_size=32)
    y = torch.from_numpy(target[::1][:32, :32].astype(np.float32))[None]
    loss0 = module.training_step((x[None], y), 0)
    assert module.net(x[None]).shape == (1, 32, 32) and torch.isfinite(loss0)
