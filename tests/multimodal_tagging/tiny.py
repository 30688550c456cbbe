"""Tiny synthetic settings shared by the multimodal_tagging tests (a small from-scratch image encoder:
the default ImageNet Lite0 costs more than these tests need)."""

TINY = ["data.options.sizes={train:24,val:8,test:8}", "data.options.image_size=32", "data.image_size=32",
        "data.batch_size=8", "data.num_workers=0", "model.dim=32", "model.heads=2", "model.text.max_length=12",
        "model.image.arch=resnet10t", "model.image.pretrained=null"]

# data=csv with the same small model; the products CSV joins tags with "|"
SMALL = ["data.image_size=32", "data.batch_size=8", "model.dim=32", "model.heads=2", "model.text.max_length=12",
         "model.image.arch=resnet10t", "model.image.pretrained=null", "data.tag_separator=|"]


def user_tags(tags) -> list[str]:
    """Synthetic tags as a user might write them: ``red``, ``striped`` (the value without its group)."""
    import numpy as np

    from shared.datasets.synthetic import TAGS

    return [TAGS[i].split(":")[-1] for i in np.flatnonzero(tags)]


def write_shop(folder, tagged: int = 24, untagged: int = 6):
    """``folder/products.csv`` + ``folder/images/`` (generated products); the last ``untagged`` rows carry no
    tags. Returns the CSV's path."""
    from PIL import Image

    from shared.datasets.synthetic import SyntheticSpec, make_sample

    (folder / "images").mkdir(parents=True)
    lines = ["image,title,tags,industry"]
    for i in range(tagged + untagged):
        s = make_sample(5, i, SyntheticSpec(image_size=40))
        Image.fromarray(s.image).save(folder / "images" / f"p{i}.png")
        tags = "|".join(user_tags(s.tags)) if i < tagged else ""
        lines.append(f"images/p{i}.png,{s.title},{tags},{s.industry}")
    path = folder / "products.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_text_encoder(folder):
    """A one-layer, 32-wide BERT with the bundled MiniLM's tokenizer (random weights): the text path of the
    export tests at a fraction of MiniLM's size. Returns the overrides that select it."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from projects.multimodal_tagging.text import default_text_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_text_path()), local_files_only=True)
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder))
    return [f"model.text.path={folder}", "model.text.dim=32"]
