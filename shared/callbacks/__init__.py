"""Lightning callbacks several projects use."""

from shared.callbacks.ema_teacher import EMATeacher, ema_momentum, ema_update
from shared.callbacks.historical_queue import Draw, HistoricalCheckpointQueue

__all__ = ["Draw", "EMATeacher", "HistoricalCheckpointQueue", "ema_momentum", "ema_update"]
