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


def test_pretrained_unet_loads_the_packaged_encoder_and_uses_the_markers():
    """model=unet_lite0: the encoder holds the ImageNet weights (identical to a timm model loaded from the
    package), RGB in [0, 1] reaches it as the weights expect (mean = std = 0.5), and the geodesic channel
    changes the output (the click information reaches the decoder)."""
    import timm

    from projects.variational_seg.unet_pretrained import PretrainedUNet
    from shared.weights import load_pretrained

    torch.manual_seed(0)
    module = UNetModule(image_size=64, encoder={"arch": "tf_efficientnet_lite0",
                                                "pretrained": "packaged:efficientnet_lite0", "decoder": 8})
    assert isinstance(module.net, PretrainedUNet)
    reference = timm.create_model("tf_efficientnet_lite0", features_only=True)
    load_pretrained(reference, "packaged:efficientnet_lite0")
    assert torch.equal(module.net.encoder.conv_stem.weight, reference.conv_stem.weight)
    half = module.net.input_norm(torch.full((1, 3, 2, 2), 0.5))
    torch.testing.assert_close(half, torch.zeros_like(half))
    module.net.eval()
    x = torch.rand(1, 4, 64, 64)
    other = x.clone()
    other[:, 3] = 1 - other[:, 3]
    with torch.no_grad():
        out, moved = module.net(x), module.net(other)
    assert out.shape == (1, 64, 64) and not torch.allclose(out, moved)
    y = (torch.rand(1, 64, 64) > 0.5).float()
    assert torch.isfinite(module.train().training_step((x, y), 0))


def test_unet_segmenter_is_the_test_steps_forward_per_image(tmp_path):
    """unet_segmenter (the bench's U-Net row) gives the probability test_step scores: the same input,
    sigmoid and upsampling; one Segmentation per image with 1 iteration and its marker count."""
    from projects.variational_seg.pipeline import upsample
    from projects.variational_seg.unet import unet_segmenter

    torch.manual_seed(0)
    module = UNetModule(base_channels=4, image_size=32).eval()
    image, _, _ = scene(40, seed=2)
    rgb = (np.repeat(np.clip(image, 0, 1)[..., None], 3, 2) * 255).astype(np.uint8)
    points = np.array([[17, 14], [20, 20]])
    seg = unet_segmenter(module)([rgb], [points], None)
    assert len(seg) == 1 and seg[0].iterations == 1 and seg[0].markers_used == 2 and seg[0].seconds > 0
    with torch.no_grad():
        expected = upsample(torch.sigmoid(module.net(unet_input(rgb, points, 32)[None]))[0], rgb.shape[:2])
    np.testing.assert_allclose(seg[0].prob, expected, atol=1e-6)
    assert seg[0].prob.shape == rgb.shape[:2]
