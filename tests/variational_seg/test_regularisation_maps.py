"""The regularisation maps' building blocks against the library functions they replace for speed."""

import numpy as np
import torch
import torch.nn.functional as F

from projects.variational_seg.pipeline import area_resize, to_working
from projects.variational_seg.regularisation_maps import gaussian_blur, row_quantile


def test_gaussian_blur_equals_the_depthwise_convolution():
    z = torch.rand(2, 3, 21, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma, radius = 1.3, 4
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    k = (k / k.sum()).view(1, 1, -1).repeat(3, 1, 1)
    ref = F.conv2d(F.pad(z, (radius, radius, 0, 0), mode="reflect"), k[..., None, :], groups=3)
    ref = F.conv2d(F.pad(ref, (0, 0, radius, radius), mode="reflect"), k[..., :, None], groups=3)
    assert torch.allclose(gaussian_blur(z, sigma), ref, atol=1e-12)
    assert gaussian_blur(z, 0.0) is z


def test_row_quantile_equals_torch_quantile():
    g = torch.Generator().manual_seed(1)
    for n in (1, 2, 7, 1000):
        s = torch.rand(3, n, generator=g)
        for q in (0.0, 0.37, 0.9, 1.0):
            assert torch.allclose(row_quantile(s, q), torch.quantile(s, q, dim=1)), (n, q)


def test_area_resize_averages_pixel_blocks_and_keeps_the_channel_layout():
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    out = area_resize(image, (2, 3))
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    assert np.allclose(out, image.reshape(2, 2, 3, 2, 3).mean((1, 3)))   # exact 2x2 block means
    assert area_resize(image[..., :1], (2, 3)).shape == (2, 3, 1)
    assert area_resize(image[..., 0], (2, 3)).shape == (2, 3)
    x, m = to_working(np.zeros((300, 450, 3), np.uint8), np.array([[150, 225]]), max_side=150)
    assert x.shape == (1, 3, 100, 150) and m.shape == (1, 100, 150) and int(m.sum()) == 1
