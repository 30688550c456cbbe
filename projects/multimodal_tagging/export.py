"""``make export PROJECT=multimodal_tagging CKPT=... [OUT=dir] [INPUT=products.csv]``: tag products without PyTorch.

Writes into ``OUT`` (default ``<run dir>/export``):

* ``model.onnx``: the tagger. Inputs ``image`` (float32 RGB 0..255, NCHW at the trained size; the
  normalisation is inside), ``text_tokens`` (float32 [B, L, D], the title encoder's last hidden state,
  rounded to float16 inside as training saw it), ``text_mask`` (bool [B, L]) and ``industry`` (float32
  [B, V], the category one-hot), those the model reads (an ablation reads fewer; ``model.json`` lists
  them); output ``probabilities`` [B, T]. Batch dynamic.
* ``text_encoder.onnx`` and ``tokenizer/``: the frozen title encoder (input_ids, attention_mask, ...
  -> last_hidden_state) and its tokenizer files (Hugging Face ``tokenizers`` / ``transformers``; titles
  padded to ``max_length``).
* ``model.json``: the spec (tag names, size, resize, normalisation), the threshold, the category levels
  and how the one-hot is built, and the text path above.

Each ONNX file is checked against PyTorch with onnxruntime (max absolute difference printed, at most 1e-4)
on the first products of ``INPUT`` (a products CSV in the training layout) or, without it, on generated
ones. ``make predict CKPT=<OUT>/model.onnx`` then gives the PyTorch predict's output file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from projects.multimodal_tagging.api import Predictor
from projects.multimodal_tagging.models.outputs import inference_model
from projects.multimodal_tagging.module import TaggingModule
from projects.multimodal_tagging.product_csv import read_products
from projects.multimodal_tagging.text import load_text_encoder, resolve_text_path
from shared.checkpoints import load_module
from shared.errors import ConfigError
from shared.export import check_with_onnxruntime, export_folder, to_onnx, write_model_json
from shared.inference import InferenceSpec, read_spec

TEXT_FILE, TOKENIZER_DIR = "text_encoder.onnx", "tokenizer"
CHECK_PRODUCTS = 4
INPUT_MEANING = {"image": "float32 [B,3,H,W] RGB 0..255", "text_tokens": "float32 [B,L,D]",
                 "text_mask": "bool [B,L]", "industry": "float32 [B,V]"}


def sample_products(cfg: DictConfig) -> list[tuple]:
    """(image, title, industry, category) of the products the export is checked on."""
    source = cfg.get("input")
    if source:
        if Path(str(source)).suffix.lower() != ".csv":
            raise ConfigError(f"INPUT={source}: export checks on a products CSV (image, title, ...) or, without "
                              f"INPUT, on generated products")
        table = read_products({"csv": str(source)}, need_tags=False)
        n = min(CHECK_PRODUCTS, len(table))
        return [(table.images[i], table.titles[i], table.industry[i], table.category[i]) for i in range(n)]
    from shared.datasets.synthetic import SyntheticSpec, make_sample

    samples = [make_sample(11, i, SyntheticSpec(image_size=96)) for i in range(CHECK_PRODUCTS)]
    return [(s.image, s.title, s.industry, "") for s in samples]


def export_text_encoder(encoder, titles: list[str], folder: Path) -> dict:
    """The frozen title encoder as ``text_encoder.onnx`` (+ its tokenizer files), checked on ``titles``."""

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    enc = encoder.tokenizer(titles, padding="max_length", truncation=True, max_length=encoder.max_length,
                            return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    model = LastHiddenState(encoder.model).eval()
    inputs = tuple(enc[n] for n in names)
    path = to_onnx(model, inputs, folder / TEXT_FILE, names, ["last_hidden_state"])
    diff = check_with_onnxruntime(path, model, inputs, what="titles (text encoder)")
    encoder.tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    return {"onnx": TEXT_FILE, "tokenizer": TOKENIZER_DIR, "inputs": names, "max_length": encoder.max_length,
            "padding": "max_length, truncation on", "output": "last_hidden_state -> text_tokens (float32)",
            "mask": "attention_mask != 0 -> text_mask", "max_abs_diff": diff}


def run(cfg: DictConfig) -> Path:
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        raise ConfigError("export needs a trained checkpoint: pass CKPT=path/to/file.ckpt")
    spec: InferenceSpec = read_spec(ckpt)
    module = load_module(TaggingModule, ckpt).eval()
    folder = export_folder(cfg)
    text = spec.extra["text"]
    encoder = load_text_encoder(str(resolve_text_path(text.get("path"))), int(text["max_length"]),
                                str(text["pooling"]))
    products = sample_products(cfg)
    titles = [str(p[1]) for p in products]
    text_meta = export_text_encoder(encoder, titles, folder)

    helper = Predictor.from_module(module, spec)
    tokens, mask = helper.encode_titles(titles)
    industry = np.stack([helper.schema.encode_industry(str(p[2]), str(p[3])) for p in products])
    feed = {"image": np.stack([helper.prepare(p[0]) for p in products]), "text_tokens": tokens, "text_mask": mask,
            "industry": industry}
    model, names = inference_model(module.net, spec)
    inputs = tuple(torch.from_numpy(feed[n]) for n in names)
    path = to_onnx(model, inputs, folder / "model.onnx", names, ["probabilities"])
    diff = check_with_onnxruntime(path, model, inputs, what="products (tagger)")
    write_model_json(folder / "model.json", spec,
                     {"probabilities": f"sigmoid per tag, in the order of spec.names; a tag is on when its "
                                       f"probability > {helper.threshold}"},
                     inputs={n: INPUT_MEANING[n] for n in names},
                     threshold=helper.threshold,
                     industry_one_hot={"industries": list(helper.schema.industry),
                                       "categories": list(helper.schema.category),
                                       "layout": "one slot per industry, then <unknown>; then one per category, "
                                                 "then <unknown> (an unseen or empty value lights <unknown>)"},
                     text=text_meta, max_abs_diff=diff)
    print(f"exported {len(spec.names)} tags -> {folder} (model.onnx, {TEXT_FILE}, {TOKENIZER_DIR}/, model.json)")
    return folder
