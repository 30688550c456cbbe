"""Bad input: missing title column, unknown category, image without metadata, missing text encoder."""

import numpy as np
import pytest

from projects.multimodal_tagging.datasets import TaggedProductTable, match_images_to_metadata, read_styles
from projects.multimodal_tagging.predict import read_product_metadata
from projects.multimodal_tagging.schema import TagSchema
from projects.multimodal_tagging.text import TextEncoder, resolve_text_path
from shared.errors import ConfigError, DataError


def test_missing_title_column_is_a_clear_error(tmp_path):
    csv = tmp_path / "products.csv"
    csv.write_text("id,industry,category\n1,Apparel,Topwear\n")
    with pytest.raises(DataError, match="no 'title' column"):
        read_product_metadata(csv)
    styles = tmp_path / "styles.csv"
    styles.write_text("id,gender,masterCategory,subCategory,baseColour,season,usage\n1,Men,A,B,Red,Fall,Casual\n")
    with pytest.raises(DataError, match="missing column.*productDisplayName"):
        read_styles(styles)
    split = tmp_path / "split.csv"
    split.write_text("path,split,industry,category,tags\nimages/1.jpg,train,A,B,\n")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match=r"missing column\(s\) \['title'\]"):
        TaggedProductTable(tmp_path, split, "train", ["gender:Men"])


def test_empty_title_is_valid_text(tmp_path):
    csv = tmp_path / "products.csv"
    csv.write_text("id,productDisplayName,masterCategory\n1,,Apparel\n")
    meta = read_product_metadata(csv)
    assert meta.loc["1", "title"] == "" and meta.loc["1", "category"] == ""
    tokens, mask, pooled = TextEncoder(max_length=8).encode(["", "blue shirt"])
    assert tokens.shape == (2, 8, 384) and mask[0].sum() == 2 and np.isfinite(pooled.numpy()).all()  # [CLS] [SEP]


def test_unknown_category_maps_to_the_unknown_slot():
    schema = TagSchema(("a", "b"), ("Apparel", "Footwear"), ("Topwear", "Shoes", "Socks"))
    assert schema.industry_dim == 3 + 4
    known = schema.encode_industry("Footwear", "Shoes")
    assert known.tolist() == [0, 1, 0, 0, 1, 0, 0]
    unknown = schema.encode_industry("Toys", "Rattles")
    assert unknown.tolist() == [0, 0, 1, 0, 0, 0, 1]


def test_image_without_metadata_row_is_a_clear_error(tmp_path):
    images = [tmp_path / "12.jpg", tmp_path / "99.jpg"]
    match_images_to_metadata(images[:1], {"12"}, "meta.csv")
    with pytest.raises(DataError, match=r"1 image\(s\) have no metadata row in meta.csv.*99.jpg"):
        match_images_to_metadata(images, {"12"}, "meta.csv")


def test_missing_text_encoder_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="text encoder folder not found"):
        resolve_text_path(tmp_path / "no-such-model")
    assert (resolve_text_path(None) / "config.json").is_file()  # the bundled MiniLM
