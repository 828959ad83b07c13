"""Where training figures go: TensorBoard scalars (``<out>/runs``), a history of validation
points kept in checkpoints, and the training-curve PNG beside the model."""

from __future__ import annotations

from pathlib import Path


class TrainingLog:
    """Writes only when ``enabled`` (rank 0); every rank keeps the same history."""

    def __init__(self, out_dir: Path, enabled: bool, history: list[dict] | None = None):
        self.history = list(history or [])
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "runs"))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def validation(self, step: int, train_l1: float, val_l1: float | None) -> None:
        """``val_l1`` is None when there are no validation episodes."""
        self.history.append({"step": step, "train_l1": train_l1, "val_l1": val_l1})
        if val_l1 is not None:
            self.scalar("val/l1_robot_units", val_l1, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def plot_curve(history: list[dict], path: Path) -> Path:
    """Train and validation L1 (robot units) against step, log scale."""
    import matplotlib

    matplotlib.use("Agg")  # no display on robots and CI
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["train_l1"] for h in history], marker=".",
            label="train L1 (mean since last point)")
    val = [(h["step"], h["val_l1"]) for h in history if h["val_l1"] is not None]
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="validation L1 (EMA weights)")
    ax.set_xlabel("step")
    ax.set_ylabel("L1, robot units (rad, m)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
