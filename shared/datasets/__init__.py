"""Datasets several projects use: the registry (:mod:`.registry`), the synthetic generator, CCP, the
image/mask readers (:mod:`.io`), the generic datamodule and the split preparers (``make data``).

A project's own datasets live in ``projects/<project>/datasets.py``; the committed split files they
read are under ``splits/`` at the repo root (real images: the data root, ``../shared/data``)."""
