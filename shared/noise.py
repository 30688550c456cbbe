"""Messages of our dependencies that tell a user of this repository nothing, filtered in one place
(each one named, so that every other warning still shows):

* Lightning's "Tip: ... try installing litlogger" advert, at every Trainer;
* ``isinstance(treespec, LeafSpec)`` is deprecated: Lightning 2.6's own use of a torch API, twice a run;
* W&B's "The anonymous setting has no effect": Lightning's WandbLogger passes ``anonymous=None`` to
  ``wandb.init`` (removed from the logger's init arguments in :func:`shared.loggers.build_loggers`).
"""

from __future__ import annotations

import logging
import warnings

LIGHTNING_TIP = "💡 Tip:"
LEAFSPEC = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIP)


def quiet_known_noise() -> None:
    """Install the filters (idempotent)."""
    warnings.filterwarnings("ignore", message=LEAFSPEC)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
