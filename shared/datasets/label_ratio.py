"""Label ratios (the labelled fraction of a semi-supervised split) in any spelling a user or YAML gives,
read one way: CCP's committed splits, semiseg's subset split and report, a mask folder's nested splits and
the ``${ratio:...}`` config resolver (shared/config.py)."""

from __future__ import annotations

from fractions import Fraction

from shared.errors import ConfigError

RATIOS = ("1_64", "1_16", "1_4", "1_2")   # the committed CCP label splits (splits/ccp/)


def parse_label_ratio(value: object, key: str = "label ratio") -> Fraction:
    """The one reading of a label ratio (CCP splits, semiseg's subset split, its report):
    ``"1/16"``, ``"1_16"``, ``0.0625`` or the integer ``116`` -> Fraction(1, 16), in (0, 1].

    Hydra (and YAML) read an unquoted ``1_16`` as the integer 116 (underscores are digit separators):
    an integer is read back only when it is one of the committed ratios with its underscore dropped
    (or 1, all labelled); any other integer is ambiguous (1364: 13/64 or 1/364?) and an error."""
    text = str(value).strip()
    if text.isdigit() and int(text) > 1:
        committed = {r.replace("_", ""): r for r in RATIOS}
        if text not in committed:
            raise ConfigError(f"{key} {value!r} is an integer: Hydra reads an unquoted 1_64 as 164; "
                              f"quote it ('1_64') or write 1/64")
        text = committed[text]
    try:
        ratio = Fraction(text.replace("_", "/")).limit_denominator(4096)
    except (ValueError, ZeroDivisionError) as exc:
        raise ConfigError(f"{key} {value!r} is not a fraction like 1/16, 1_16 or 0.0625") from exc
    if not 0 < ratio <= 1:
        raise ConfigError(f"{key} must be in (0, 1], got {value!r}")
    return ratio


def normalise_ratio(value: object, key: str = "label ratio") -> str:
    """Any spelling :func:`parse_label_ratio` reads -> the split-folder / table key, e.g. ``"1_16"``."""
    ratio = parse_label_ratio(value, key)
    return f"{ratio.numerator}_{ratio.denominator}"
