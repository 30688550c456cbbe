"""The model summary printed when a fit starts, without a "FLOPs" column of zeros.

Lightning 2.6's ``RichModelSummary`` always prints a FLOPs column and a "Total FLOPs" line, but it
measures FLOPs only for a module that sets ``example_input_array``; ours do not (the input size is a
config value), so every run printed "Total FLOPs: 0", which reads like a broken model. This summary
leaves FLOPs out when they were not measured and is Lightning's otherwise.
"""

from __future__ import annotations

from typing import Any

from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.callbacks import RichModelSummary
from pytorch_lightning.utilities.model_summary import get_formatted_model_size, get_human_readable_count

RIGHT_ALIGNED = ("Params", "Params per Device", "In sizes", "Out sizes")


class ModelSummary(RichModelSummary):
    """``RichModelSummary`` without FLOPs when none were measured (``total_flops == 0``)."""

    @staticmethod
    @rank_zero_only
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        if total_flops:
            RichModelSummary.summarize(summary_data, total_parameters, trainable_parameters, model_size,
                                       total_training_modes, total_flops, **summarize_kwargs)
            return
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            table.add_column(name, justify="right" if name in RIGHT_ALIGNED else "left",
                             style="dim" if name == " " else None, no_wrap=name == "Name")
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)
        grid = Table.grid(expand=True)
        grid.add_column()
        frozen = int(total_parameters - trainable_parameters)
        for label, value in (("Trainable params", get_human_readable_count(int(trainable_parameters))),
                             ("Non-trainable params", get_human_readable_count(frozen)),
                             ("Total params", get_human_readable_count(int(total_parameters))),
                             ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
                             ("Modules in train mode", total_training_modes["train"]),
                             ("Modules in eval mode", total_training_modes["eval"])):
            grid.add_row(f"[bold]{label}[/]: {value}")
        console = get_console()
        console.print(table)
        console.print(grid)
