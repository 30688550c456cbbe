"""Tiny synthetic settings shared by the multimodal_tagging tests (a small from-scratch image encoder:
the default ImageNet Lite0 costs more than these tests need)."""

TINY = ["data.options.sizes={train:24,val:8,test:8}", "data.options.image_size=32", "data.image_size=32",
        "data.batch_size=8", "data.num_workers=0", "model.dim=32", "model.heads=2", "model.text.max_length=12",
        "model.image.arch=resnet10t", "model.image.pretrained=null"]
