"""Tag new products in Python (``shared.api.load`` returns this project's :class:`Predictor`)::

    from shared.api import load
    tagger = load("runs/.../checkpoints/last.ckpt")          # or an exported .../model.onnx
    tagger.predict([("shoe.jpg", "red leather sneaker", "footwear"), (pil_image, "blue cotton shirt")])
    # -> [{"tags": ["colour:red", ...], "scores": {"colour:red": 0.93, ...}}, ...]

A product is ``(image, title)``, ``(image, title, industry)`` or ``(image, title, industry, category)``
(or a dict with those keys); the image is a path, a PIL image or an HxWx3 uint8 array. Everything the
model needs comes from the checkpoint's inference spec: the tag names, the input size and normalisation,
the decision threshold, the category levels and the title encoder's settings. ``make predict`` runs this
class, so the API gives the CLI's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from projects.multimodal_tagging.schema import TagSchema
from shared.api import as_rgb
from shared.errors import DataError
from shared.inference import InferenceSpec

BATCH = 32
# (images float32 [B,3,H,W] RGB 0..255, title token states float32 [B,L,D], mask bool [B,L],
#  industry one-hot float32 [B,V]) -> tag probabilities [B,T]
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# titles -> (token states float32 [N,L,D], mask bool [N,L])
TitleEncoder = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]


class Predictor:
    """A trained tagger: photo + title (+ category levels) -> tags and per-tag probabilities."""

    def __init__(self, spec: InferenceSpec, score: Scorer, encode_titles: TitleEncoder) -> None:
        self.spec, self.score, self.encode_titles = spec, score, encode_titles
        self.tag_names = list(spec.names)
        self.threshold = float(spec.extra.get("threshold", 0.5))
        self.schema = TagSchema(tuple(spec.names), tuple(spec.extra.get("industries") or ()),
                                tuple(spec.extra.get("categories") or ()))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> Predictor:
        """PyTorch: the checkpoint's tagger and the title encoder its spec names."""
        from projects.multimodal_tagging.module import TaggingModule
        from shared.checkpoints import load_module
        from shared.inference import read_spec

        spec = read_spec(path)
        return cls.from_module(load_module(TaggingModule, path), spec)

    @classmethod
    def from_module(cls, module: Any, spec: InferenceSpec) -> Predictor:
        """PyTorch: a loaded :class:`TaggingModule` with its spec."""
        import torch

        from projects.multimodal_tagging.models.outputs import inference_model
        from projects.multimodal_tagging.text import load_text_encoder, resolve_text_path

        model, names = inference_model(module.eval().net, spec)
        text = spec.extra["text"]
        encoder = load_text_encoder(str(resolve_text_path(text.get("path"))), int(text["max_length"]),
                                    str(text["pooling"]))

        def score(images: np.ndarray, tokens: np.ndarray, mask: np.ndarray, industry: np.ndarray) -> np.ndarray:
            feed = {"image": images, "text_tokens": tokens, "text_mask": mask, "industry": industry}
            with torch.inference_mode():
                return model(*(torch.from_numpy(feed[n]) for n in names)).numpy()

        def encode_titles(titles: list[str]) -> tuple[np.ndarray, np.ndarray]:
            tokens, mask, _ = encoder.encode(titles)
            return tokens.float().numpy(), mask.numpy()

        return cls(spec, score, encode_titles)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike) -> Predictor:
        """ONNX Runtime, no PyTorch: ``model.onnx``, ``text_encoder.onnx`` and ``tokenizer/`` beside it."""
        from transformers import AutoTokenizer

        from shared.errors import CheckpointError
        from shared.export import OnnxModel

        tagger = OnnxModel(path)
        text = tagger.meta.get("text") or {}
        folder = Path(path).parent
        if not text.get("onnx") or not (folder / text["onnx"]).is_file() or not (folder / text["tokenizer"]).is_dir():
            raise CheckpointError(f"{path}: the title encoder is missing beside it (model.json names "
                                  f"{text.get('onnx')!r} and {text.get('tokenizer')!r}); export again")
        encoder = OnnxModel(folder / text["onnx"], meta={})
        tokenizer = AutoTokenizer.from_pretrained(str(folder / text["tokenizer"]), local_files_only=True)
        length = int(text["max_length"])

        def score(images: np.ndarray, tokens: np.ndarray, mask: np.ndarray, industry: np.ndarray) -> np.ndarray:
            feed = {"image": images, "text_tokens": tokens, "text_mask": mask, "industry": industry}
            return tagger.session.run(None, {n: feed[n] for n in tagger.input_names})[0]

        def encode_titles(titles: list[str]) -> tuple[np.ndarray, np.ndarray]:
            enc = tokenizer(titles, padding="max_length", truncation=True, max_length=length, return_tensors="np")
            feed = {n: enc[n].astype(np.int64) for n in encoder.input_names}
            hidden = encoder.session.run(None, feed)[0]
            return hidden.astype(np.float32), enc["attention_mask"] != 0

        return cls(tagger.spec, score, encode_titles)

    # -- the steps a caller may run one by one (make predict streams files through them) --------------
    def prepare(self, image: Any) -> np.ndarray:
        """One photo (path, PIL image or array) as the model takes it: float32 CHW RGB 0..255, resized."""
        from shared.export import resize_for

        return resize_for(self.spec, as_rgb(image))

    def probabilities(self, images: Sequence[np.ndarray], titles: Sequence[str], industries: Sequence[str],
                      categories: Sequence[str]) -> np.ndarray:
        """[N, T] tag probabilities of prepared photos with their titles and category levels."""
        tokens, mask = self.encode_titles([str(t) for t in titles])
        industry = np.stack([self.schema.encode_industry(str(i), str(c)) for i, c in zip(industries, categories)])
        return self.score(np.stack(images).astype(np.float32), tokens.astype(np.float32), mask.astype(bool),
                          industry.astype(np.float32))

    def tags_of(self, probabilities: Sequence[float]) -> list[str]:
        """The tags whose probability passes the threshold (as the test metrics count them: p > threshold)."""
        return [n for n, p in zip(self.tag_names, probabilities) if p > self.threshold]

    # -- the one-call API ------------------------------------------------------------------------------
    def predict(self, products: Sequence[Any]) -> list[dict[str, Any]]:
        """``[{"tags": [...], "scores": {tag: probability}}]``, one per product, in order."""
        rows = [product_fields(p, i) for i, p in enumerate(products)]
        out: list[dict[str, Any]] = []
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            probs = self.probabilities([self.prepare(r["image"]) for r in chunk], [r["title"] for r in chunk],
                                       [r["industry"] for r in chunk], [r["category"] for r in chunk])
            out += [{"tags": self.tags_of(p), "scores": {n: float(q) for n, q in zip(self.tag_names, p)}}
                    for p in probs]
        return out


def product_fields(product: Any, index: int) -> dict[str, Any]:
    """A product given as a tuple (image, title[, industry[, category]]) or a mapping, as a dict."""
    if isinstance(product, Mapping):
        fields = dict(product)
    elif isinstance(product, (tuple, list)) and 2 <= len(product) <= 4:
        fields = dict(zip(("image", "title", "industry", "category"), product))
    else:
        raise DataError(f"product {index}: pass (image, title[, industry[, category]]) or a dict with those keys, "
                        f"got {type(product).__name__}")
    if "image" not in fields or "title" not in fields:
        raise DataError(f"product {index}: an image and a title are needed (an empty title is fine)")
    title = fields.get("title")
    return {"image": fields["image"], "title": "" if title is None else str(title),
            "industry": str(fields.get("industry") or ""), "category": str(fields.get("category") or "")}
