"""DistributedDataParallel on CPU: two gloo processes train a few steps and end identical."""

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from episode_bag_factory import TINY_PROFILE_FILE, tiny_profile, write_dataset

from lam_ros.core.profile import load_profile
from lam_ros.policy.distributed import setup_distributed
from lam_ros.policy.train import run_loop
from lam_ros.policy.train_config import TrainConfig
from lam_ros.policy.training_data import load_data
from lam_ros.policy.training_state import build_parts

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, config: TrainConfig, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(WORLD))
    try:
        rank, device = setup_distributed()
        assert device.type == "cpu", device
        profile = load_profile(config.profile)
        _, train_set, val_set = load_data(config, profile)
        parts = build_parts(config, profile, train_set, val_set, rank, device)
        run_loop(parts, config, Path(config.out_dir), 0, {})
        torch.save({"core": parts.core.state_dict(), "ema": parts.ema.state_dict()},
                   f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_weights(tmp_path, monkeypatch):
    # Both ranks on CPU, on any machine: with a GPU, setup_distributed would put rank r on
    # cuda:LOCAL_RANK with nccl, and a one-GPU machine has no cuda:1 (nor may two nccl ranks
    # share one GPU). Hidden before the spawned workers start, so CUDA sees no device there.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    profile = tiny_profile(tmp_path)
    write_dataset(tmp_path / "data", profile, episodes=3, ticks=20)
    config = TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "model"),
                         profile=str(tmp_path / TINY_PROFILE_FILE), steps=5, batch_size=8,
                         eval_every=5, checkpoint_every=5, cache_dir=str(tmp_path / "cache"),
                         val_fraction=0.3, progress=False)
    mp.spawn(_worker, args=(config, _free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    initial = tiny_initial_weights(config, profile)
    for key in ("core", "ema"):
        for name, value in ranks[0][key].items():
            torch.testing.assert_close(ranks[1][key][name], value, rtol=0, atol=0)
    moved = [name for name, value in ranks[0]["core"].items()
             if not torch.equal(value, initial[name])]
    assert moved, "training did not change the weights"
    assert (tmp_path / "model" / "checkpoint.safetensors").is_file()  # written by rank 0 only


def tiny_initial_weights(config: TrainConfig, profile) -> dict:
    from lam_ros.policy.families import FeatureShapes, build_policy

    torch.manual_seed(config.seed)
    policy = build_policy(config.policy, FeatureShapes.for_profile(profile, config.chunk), {})
    return policy.state_dict()
