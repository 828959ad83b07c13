"""Correction episodes in training: who commanded each tick, read from the bag; the weights
that follow; sampling by weight; continuing from a trained policy."""

import numpy as np
import pytest
import torch
from episode_bag_factory import TINY_PROFILE_FILE, tiny_profile, write_episode
from safetensors.torch import load_file

from lam_ros.data.cache import convert_dataset
from lam_ros.data.corrections import CorrectionWeights, tick_weights
from lam_ros.data.dataset import EpisodeDataset, split_by_episode
from lam_ros.data.sync import SyncedEpisode
from lam_ros.policy.train import CHECKPOINT, TrainConfig, train_policy

PATTERN = "pppppppppppTTTTTTppppppppppTTTTpppp"  # p: the policy commands, T: a person


def sources(pattern: str) -> list[str]:
    return ["policy" if c == "p" else "teleop" for c in pattern]


def flags(pattern: str) -> np.ndarray:
    return np.array([c == "p" for c in pattern])


def test_a_demonstration_counts_evenly():
    assert tick_weights(None, 5, 10.0, CorrectionWeights()).tolist() == [1.0] * 5
    never = np.zeros(5, bool)  # every command from a person
    assert tick_weights(never, 5, 10.0, CorrectionWeights()).tolist() == [1.0] * 5


def test_a_correction_counts_the_person_more_and_not_the_moments_before_each_takeover():
    weights = tick_weights(flags(PATTERN), len(PATTERN), 10.0,
                           CorrectionWeights(human=2.0, policy=1.0, before_takeover_s=0.3))
    expected = "11111111000222222111111100022221111"
    assert "".join(str(int(w)) for w in weights) == expected


def test_bad_weights_are_named():
    with pytest.raises(ValueError, match="human must be > 0"):
        CorrectionWeights(human=0.0)
    with pytest.raises(ValueError, match="before_takeover_s"):
        CorrectionWeights(before_takeover_s=-1.0)


def test_samples_are_drawn_in_proportion_to_their_weights():
    t = 6
    episode = SyncedEpisode(np.arange(t, dtype=np.int64), np.zeros((t, 2), np.float32),
                            np.zeros((t, 2), np.float32), {"front": np.zeros((t, 2, 2, 3),
                                                                            np.uint8)},
                            np.ones(t, bool))
    dataset = EpisodeDataset([episode], chunk=2,
                             weights=[np.array([0.0, 0.0, 1.0, 1.0, 2.0, 2.0])])
    drawn = dataset.draw(60000, torch.Generator().manual_seed(0))
    counts = np.bincount(drawn.numpy(), minlength=t)
    assert counts[0] == counts[1] == 0
    assert counts[4] / counts[2] == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError, match="weight 0"):
        EpisodeDataset([episode], chunk=2, weights=[np.zeros(t)])


def test_the_ticks_before_a_takeover_are_no_target_in_earlier_chunks():
    """A tick of weight 0 (the policy going wrong) is masked out of every chunk that reaches it,
    not only left out as a sample; the episode's padded end stays masked as before."""
    t = 8
    episode = SyncedEpisode(np.arange(t, dtype=np.int64), np.zeros((t, 2), np.float32),
                            np.arange(t, dtype=np.float32)[:, None].repeat(2, axis=1),
                            {"front": np.zeros((t, 2, 2, 3), np.uint8)}, np.ones(t, bool))
    dataset = EpisodeDataset([episode], chunk=4,
                             weights=[np.array([1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 2.0, 1.0])])
    batch = dataset.batch(torch.tensor([0, 2, 5]))
    assert batch["action_mask"].tolist() == [[True, True, True, False],
                                             [True, False, False, True],
                                             [True, True, True, False]]
    assert batch["actions"][:, :, 0].tolist() == [[0, 1, 2, 3], [2, 3, 4, 5], [5, 6, 7, 7]]


def test_corrections_always_train_and_leave_the_validation_demonstrations_as_they_were():
    def episode(policy_ticks):
        t = len(PATTERN)
        return SyncedEpisode(np.arange(t, dtype=np.int64), np.zeros((t, 2), np.float32),
                             np.zeros((t, 2), np.float32), {}, np.ones(t, bool),
                             policy_ticks=policy_ticks)

    demos = [episode(None) for _ in range(20)]
    corrections = [episode(flags(PATTERN)) for _ in range(30)]
    _, base_val = split_by_episode(demos, 0.1, seed=0)
    train, val = split_by_episode(demos + corrections, 0.1, seed=0)
    assert [id(e) for e in val] == [id(e) for e in base_val]  # the base policy's own
    assert len(val) == 2
    assert {id(e) for e in corrections} <= {id(e) for e in train}
    # Without demonstrations the corrections are all there is to validate on.
    train, val = split_by_episode(corrections, 0.1, seed=0)
    assert len(val) == 3 and len(train) == 27


@pytest.fixture(scope="module")
def correction_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrections")
    profile = tiny_profile(root)
    for i in range(3):
        write_episode(root / "demos" / "synthetic" / f"episode_{i:06d}", profile,
                      ticks=len(PATTERN), seed=i)
    write_episode(root / "corrections" / "synthetic" / "episode_000000", profile,
                  ticks=len(PATTERN), seed=7, sources=sources(PATTERN))
    return root, profile


def test_the_bag_says_which_ticks_the_policy_commanded(correction_data):
    root, profile = correction_data
    conversion = convert_dataset([root / "demos", root / "corrections"], profile,
                                 cache_dir=root / "cache", progress=False)
    by_dir = dict(zip(map(str, conversion.episode_dirs), conversion.episodes, strict=True))
    correction = by_dir[str(root / "corrections" / "synthetic" / "episode_000000")]
    # The grid starts at the first tick with every stream (joint states lag a tick behind).
    grid = len(correction.stamps_ns)
    assert correction.policy_ticks.tolist() == flags(PATTERN)[-grid:].tolist()
    assert correction.report["policy_ticks"] == int(flags(PATTERN)[-grid:].sum())
    demos = [e for d, e in by_dir.items() if "demos" in d]
    assert len(demos) == 3 and all(e.policy_ticks is None for e in demos)
    again = convert_dataset([root / "demos", root / "corrections"], profile,
                            cache_dir=root / "cache", progress=False)
    assert again.converted == 0  # from the cache, labels and all
    assert [e.policy_ticks is None for e in again.episodes] == \
        [e.policy_ticks is None for e in conversion.episodes]


def base_run(root, tmp_path, steps: int) -> TrainConfig:
    """A conv policy trained ``steps`` steps on the demonstrations, in tmp_path/base."""
    base = TrainConfig(data_dir=str(root / "demos"), out_dir=str(tmp_path / "base"),
                       profile=str(root / TINY_PROFILE_FILE), steps=steps, batch_size=8,
                       eval_every=steps, checkpoint_every=steps, cache_dir=str(root / "cache"),
                       val_fraction=0.0, progress=False)
    train_policy(base)
    return base


def test_training_continues_from_a_trained_policy_on_demonstrations_and_corrections(
        correction_data, tmp_path):
    root, _ = correction_data
    base = base_run(root, tmp_path, steps=6)
    before = load_file(str(tmp_path / "base" / CHECKPOINT))
    tuned = TrainConfig(**{**base.__dict__, "out_dir": str(tmp_path / "tuned"), "steps": 1,
                           "lr": 1e-9, "warmup_steps": 0,
                           "more_data": (str(root / "corrections"),),
                           "init_from": str(tmp_path / "base")})
    result = train_policy(tuned)
    assert result.episodes == 4
    after = load_file(str(tmp_path / "tuned" / CHECKPOINT))
    # One step at a vanishing learning rate: the weights are the base policy's EMA weights.
    for key in ("model", "ema"):
        for name, value in before.items():
            if name.startswith("ema."):
                torch.testing.assert_close(after[f"{key}.{name[4:]}"], value, atol=1e-6,
                                           rtol=0)
    normalizer = [k for k in before if k.startswith("normalizer.")]
    assert normalizer and all(torch.equal(after[k], before[k]) for k in normalizer)


def test_init_from_refuses_another_policy_family(correction_data, tmp_path):
    root, _ = correction_data
    base = base_run(root, tmp_path, steps=2)
    other = TrainConfig(**{**base.__dict__, "out_dir": str(tmp_path / "flow"), "policy": "flow",
                           "init_from": str(tmp_path / "base")})
    with pytest.raises(ValueError, match="--init-from.*'conv' policy"):
        train_policy(other)
    with pytest.raises(FileNotFoundError, match="--init-from: no checkpoint"):
        train_policy(TrainConfig(**{**base.__dict__, "out_dir": str(tmp_path / "x"),
                                    "init_from": str(tmp_path / "nowhere")}))
