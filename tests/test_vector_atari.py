"""Atari vector env: ale-py's C++ vector env with DQN preprocessing behind gymnasium's VectorEnv API."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete
from gymnasium.vector import AutoresetMode

from fastrl.vector.atari import AtariVectorEnv, is_atari_id

pytestmark = pytest.mark.atari

NEXT, SAME, DISABLED = AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED


def make(env_id="ALE/Pong-v5", num_envs=2, mode=NEXT, seed=0, num_threads=2, **kwargs):
    kwargs.setdefault("episode_statistics", True)  # most tests here check the whole-game statistics
    return AtariVectorEnv(env_id, num_envs, seed=seed, num_threads=num_threads, autoreset_mode=mode, **kwargs)


def is_reset_stack(obs):
    """(N,) bool: the stack is a reset one, zero frames then the (non-blank) reset frame, as ale-py pads."""
    return (obs[:, :-1] == 0).all(axis=(1, 2, 3)) & (obs[:, -1] != 0).any(axis=(1, 2))


def rollout(env, actions, reset_on_end=False):
    """Steps ``env`` through ``actions`` (T, N); returns a list of per-step tuples (copies)."""
    obs, _ = env.reset()
    out = [(obs.copy(), None, None, None, {})]
    for a in actions:
        obs, r, te, tr, info = env.step(a)
        out.append((obs.copy(), r.copy(), te.copy(), tr.copy(), info))
        if reset_on_end and (te | tr).any():
            obs, _ = env.reset(options={"reset_mask": te | tr})
            out.append((obs.copy(), None, None, None, {}))
    return out


def test_ids_and_defaults():
    assert is_atari_id("ALE/Pong-v5") and is_atari_id("PongNoFrameskip-v4") and is_atari_id("ALE/Breakout-v5")
    assert is_atari_id("Pong-v4") and is_atari_id("BreakoutNoFrameskip-v4")
    assert not is_atari_id("CartPole-v1") and not is_atari_id("FrozenLake-v1") and not is_atari_id("ALE/Pongg-v5")
    v5 = make("ALE/Pong-v5", 1)
    v4 = make("PongNoFrameskip-v4", 1)
    assert v5.options["repeat_action_probability"] == 0.25 and v5.options["episodic_life"] is False
    assert v4.options["repeat_action_probability"] == 0.0 and v4.options["episodic_life"] is True
    for env in (v5, v4):
        assert env.options["frameskip"] == 4 and env.options["noop_max"] == 30
        assert env.options["reward_clipping"] is True
        assert env.options["max_num_frames_per_episode"] == 108_000
        env.close()


def test_spaces_shapes_dtypes():
    env = make(num_envs=3)
    assert env.single_observation_space == Box(0, 255, (4, 84, 84), np.uint8)
    assert env.observation_space.shape == (3, 4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.single_action_space == Discrete(6)
    assert env.action_space.shape == (3,)
    assert env.metadata["autoreset_mode"] == NEXT
    obs, info = env.reset()
    assert obs.shape == (3, 4, 84, 84) and obs.dtype == np.uint8
    assert is_reset_stack(obs).all()
    assert info["lives"].dtype == np.int64 and info["_lives"].all()
    obs, r, te, tr, info = env.step(np.zeros(3, dtype=np.int64))
    assert obs.shape == (3, 4, 84, 84) and obs.dtype == np.uint8
    assert r.dtype == np.float64 and te.dtype == np.bool_ and tr.dtype == np.bool_
    assert r.shape == te.shape == tr.shape == (3,)
    assert set(info) == {"lives", "_lives", "frame_number", "_frame_number", "episode_frame_number",
                         "_episode_frame_number"}
    assert env.observation_space.contains(obs)
    env.close()


def test_frame_stack_shift_rewards_and_next_step_resets():
    """Invariants over a few hundred steps: the stack shifts by one frame per step, rewards are clipped
    scores, and the step after an end is a reset (fresh stack, reward 0, no end) in NEXT_STEP mode."""
    n, steps = 4, 300
    env = make("PongNoFrameskip-v4", n, seed=3, max_episode_steps=70)
    rng = np.random.default_rng(0)
    prev, _ = env.reset()
    ends = resets = 0
    prev_done = np.zeros(n, dtype=bool)
    nonzero = 0
    lengths = np.zeros(n, dtype=int)
    for _ in range(steps):
        obs, r, te, tr, info = env.step(rng.integers(0, 6, n))
        assert set(np.unique(r)) <= {-1.0, 0.0, 1.0}
        nonzero += int(np.count_nonzero(r))
        for i in range(n):
            if prev_done[i]:
                resets += 1
                assert r[i] == 0.0 and not te[i] and not tr[i]
                assert is_reset_stack(obs[i : i + 1])[0]
            else:
                np.testing.assert_array_equal(obs[i, :3], prev[i, 1:])
        lengths = np.where(prev_done, 0, lengths + 1)  # a reset step starts a new episode at 0
        done = te | tr
        if done.any():
            ends += int(done.sum())
            assert info["_episode"].tolist() == done.tolist()
            np.testing.assert_array_equal(info["episode"]["l"][done], lengths[done])
        # The time limit counts agent steps (70 steps = 280 frames after the reset no-ops).
        assert not (lengths > 70).any()
        assert (tr == (lengths == 70)).all()
        prev, prev_done = obs, done
    assert ends >= 8 and resets >= 4 and nonzero > 0
    env.close()


def test_same_step_and_disabled_match_next_step():
    """One env, sticky actions on: SAME_STEP and DISABLED produce NEXT_STEP's trajectory (minus the reset
    steps), with final observations and infos where episodes end."""
    steps = 160
    actions = np.random.default_rng(1).integers(0, 6, (steps, 1))
    kw = dict(num_envs=1, seed=5, max_episode_steps=37)
    with make(mode=NEXT, **kw) as env:
        nxt = rollout(env, actions)
    # Split NEXT_STEP's run into episodes; its reset steps carry the next episode's first observation.
    same_actions, expected = [], []  # expected[k] = (obs, r, te, tr, final_obs or None)
    k = 1
    while k < len(nxt):
        obs, r, te, tr, _ = nxt[k]
        same_actions.append(actions[k - 1])
        if te[0] or tr[0]:
            if k + 1 < len(nxt):
                expected.append((nxt[k + 1][0], r, te, tr, obs))  # obs after the reset
                k += 2
                continue
            same_actions.pop()  # the run ended on an episode end: no reset observation to compare
            break
        expected.append((obs, r, te, tr, None))
        k += 1
    assert sum(e[4] is not None for e in expected) >= 3
    with make(mode=SAME, **kw) as env:
        env.reset()
        for a, (obs_e, r_e, te_e, tr_e, final_e) in zip(same_actions, expected, strict=True):
            obs, r, te, tr, info = env.step(np.asarray(a))
            np.testing.assert_array_equal(obs, obs_e)
            assert (r == r_e).all() and (te == te_e).all() and (tr == tr_e).all()
            if final_e is None:
                assert "final_obs" not in info
            else:
                assert info["_final_obs"].tolist() == [True] and info["_final_info"].tolist() == [True]
                np.testing.assert_array_equal(info["final_obs"][0], final_e[0])
                assert info["final_info"]["_lives"].tolist() == [True]
                assert is_reset_stack(obs)[0]  # the returned observation is the reset one
                assert info["episode"]["l"][0] == 37 and info["_episode"].tolist() == [True]
    with make(mode=DISABLED, **kw) as env:
        env.reset()
        for a, (obs_e, r_e, te_e, tr_e, final_e) in zip(same_actions, expected, strict=True):
            obs, r, te, tr, info = env.step(np.asarray(a))
            assert (r == r_e).all() and (te == te_e).all() and (tr == tr_e).all()
            if final_e is None:
                np.testing.assert_array_equal(obs, obs_e)
            else:
                np.testing.assert_array_equal(obs[0], final_e[0])
                with pytest.raises(RuntimeError, match="reset_mask"):
                    env.step(np.asarray(a))
                obs, info = env.reset(options={"reset_mask": te | tr})
                np.testing.assert_array_equal(obs, obs_e)


def test_seeding_threads_and_async_stepping():
    actions = np.random.default_rng(2).integers(0, 6, (60, 3))
    with make(num_envs=3, seed=11, num_threads=1) as env:
        a = rollout(env, actions)
        b = rollout(env, actions)  # reset() without a seed continues the streams: a different run
        env.reset(seed=11)
        c = [(env.reset(seed=11)[0],)] + [(env.step(x)[0],) for x in actions]
    with make(num_envs=3, seed=11, num_threads=3) as env:
        d = rollout(env, actions)
    with make(num_envs=1, seed=12) as env:  # env 1 of the seeded batch gets seed 11 + 1
        e = rollout(env, actions[:, 1:2])
    with make(num_envs=3, seed=None) as env:
        env.reset(seed=[11, 12, 13])
        f_obs = [env.step_async(x) or env.step_wait()[0] for x in actions]
    for t in range(len(actions) + 1):
        np.testing.assert_array_equal(a[t][0], c[t][0])
        np.testing.assert_array_equal(a[t][0], d[t][0])
        np.testing.assert_array_equal(a[t][0][1], e[t][0][0])
        if t:
            np.testing.assert_array_equal(a[t][0], f_obs[t - 1])
            assert (a[t][1] == d[t][1]).all()
    assert any((a[t][0] != b[t][0]).any() for t in range(len(actions) + 1))


def test_episodic_life_and_whole_game_statistics():
    """Breakout: a life loss terminates the episode without resetting the game; the next step is a NOOP
    with reward 0; the statistics report whole games with raw scores."""
    n = 2
    env = make("ALE/Breakout-v5", n, seed=7, episodic_life=True, repeat_action_probability=0.0)
    raw = make("ALE/Breakout-v5", n, seed=7, episodic_life=True, repeat_action_probability=0.0,
               reward_clipping=False)
    rng = np.random.default_rng(3)
    obs, info = env.reset()
    raw.reset()
    lives = info["lives"].copy()
    assert (lives == 5).all()
    life_losses = games = 0
    score = np.zeros(n)
    pending = np.zeros(n, dtype=bool)
    frame = info["episode_frame_number"].copy()
    for _ in range(700):
        a = rng.integers(0, 4, n)
        obs, r, te, tr, info = env.step(a)
        _, r_raw, te_raw, _, info_raw = raw.step(a)
        assert (te == te_raw).all()
        np.testing.assert_array_equal(r, np.clip(r_raw, -1, 1))
        assert (r[pending] == 0).all()
        score += r_raw
        lost = te & (info["lives"] < lives) & (info["lives"] > 0)
        life_losses += int(lost.sum())
        # The game goes on after a life loss: the frame counter keeps counting.
        assert (info["episode_frame_number"][pending] > frame[pending]).all()
        frame = info["episode_frame_number"].copy()
        if "episode" in info:
            games += int(info["_episode"].sum())
            done = info["_episode"]
            assert not (lost & done).any()
            np.testing.assert_array_equal(info["episode"]["r"][done], score[done])
            np.testing.assert_array_equal(info["episode"]["r"], info_raw["episode"]["r"])
            score[done] = 0
        pending = lost
        lives = info["lives"].copy()
    assert life_losses >= 4 and games >= 1
    env.close()
    raw.close()


def test_bad_actions_leave_env_usable():
    actions = np.random.default_rng(4).integers(0, 6, (20, 2))
    with make(seed=9) as env, make(seed=9) as twin:
        env.reset()
        twin.reset()
        bad = [
            np.zeros(3, dtype=np.int64),  # wrong batch size
            np.zeros((2, 1), dtype=np.int64),  # wrong shape
            np.zeros(2, dtype=np.float32),  # no silent cast from float
            np.zeros(2, dtype=bool),
            np.array([0, 6]),  # out of Discrete(6)
            np.array([-1, 0]),
            np.array([0, 2**40], dtype=np.uint64),
        ]
        for t, a in enumerate(actions):
            with pytest.raises(ValueError, match="actions"):
                env.step(bad[t % len(bad)])
            with pytest.raises(ValueError, match="actions"):
                env.step_async(bad[(t + 1) % len(bad)])
            out, ref = env.step(a.astype(np.int32)), twin.step(list(a))
            np.testing.assert_array_equal(out[0], ref[0])
            assert (out[1] == ref[1]).all()


def test_bad_arguments_and_call_order():
    with pytest.raises(TypeError, match="frame_skip"):
        make(frame_skip=4)
    with pytest.raises(ValueError, match="repeat_action_probability"):
        make(repeat_action_probability=1.5)
    with pytest.raises(ValueError, match="noop_max"):
        make(noop_max=-1)
    with pytest.raises(TypeError, match="episodic_life"):
        make(episodic_life=1)
    with pytest.raises(ValueError, match="seed"):
        make(seed=2**31 - 1)
    with pytest.raises(ValueError, match="env_id"):
        AtariVectorEnv("CartPole-v1", 1, seed=None, num_threads=None, autoreset_mode=NEXT)
    with make() as env:
        with pytest.raises(RuntimeError, match="reset"):
            env.step(np.zeros(2, dtype=np.int64))
        env.reset()
        with pytest.raises(RuntimeError, match="step_async"):
            env.step_wait()
        env.step_async(np.zeros(2, dtype=np.int64))
        with pytest.raises(gym.error.AlreadyPendingCallError, match="Calling `step_async` while waiting"):
            env.step_async(np.zeros(2, dtype=np.int64))
        with pytest.raises(RuntimeError, match="Calling `reset` while waiting"):
            env.reset()
        env.step_wait()
        with pytest.raises(ValueError, match="reset_mask"):
            env.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
        with pytest.raises(TypeError, match="reset_mask"):
            env.reset(options={"reset_mask": np.ones(2, dtype=np.int64)})
        with pytest.raises(ValueError, match="seed"):
            env.reset(seed=[1, 2, 3])
        obs, info = env.reset(options={"reset_mask": np.array([False, True])})
        assert info["_lives"].tolist() == [False, True]
        env.step(np.zeros(2, dtype=np.int64))


def test_episodic_life_same_step_equals_disabled():
    """Episodic life under SAME_STEP and DISABLED: a life loss continues the game from the observation at
    the loss (final_obs == returned obs); both modes give the same run and the same whole-game statistics."""
    n = 2
    kw = dict(num_envs=n, seed=21, episodic_life=True, repeat_action_probability=0.0)
    actions = np.random.default_rng(6).integers(0, 4, (400, n))
    same = make("ALE/Breakout-v5", mode=SAME, **kw)
    dis = make("ALE/Breakout-v5", mode=DISABLED, **kw)
    np.testing.assert_array_equal(same.reset()[0], dis.reset()[0])
    life_losses = games = 0
    for a in actions:
        obs_s, r_s, te_s, tr_s, info_s = same.step(a)
        obs_d, r_d, te_d, tr_d, info_d = dis.step(a)
        assert (r_s == r_d).all() and (te_s == te_d).all() and (tr_s == tr_d).all()
        ended = te_d | tr_d
        assert ("episode" in info_s) == ("episode" in info_d)
        if "episode" in info_s:
            games += int(info_s["_episode"].sum())
            np.testing.assert_array_equal(info_s["_episode"], info_d["_episode"])
            np.testing.assert_array_equal(info_s["episode"]["r"], info_d["episode"]["r"])
            np.testing.assert_array_equal(info_s["episode"]["l"], info_d["episode"]["l"])
        if ended.any():
            assert info_s["_final_obs"].tolist() == ended.tolist()
            for i in np.flatnonzero(ended):
                np.testing.assert_array_equal(info_s["final_obs"][i], obs_d[i])
            lost = ended & (info_s["final_info"]["lives"] > 0)
            life_losses += int(lost.sum())
            # A life loss goes on from the same observation; a game over starts a fresh stack.
            for i in np.flatnonzero(lost):
                np.testing.assert_array_equal(obs_s[i], obs_d[i])
            obs_d, info_r = dis.reset(options={"reset_mask": ended})
            np.testing.assert_array_equal(info_r["lives"][lost], info_s["final_info"]["lives"][lost])
        np.testing.assert_array_equal(obs_s, obs_d)
    assert life_losses >= 4 and games >= 1
    same.close()
    dis.close()


def test_reset_noops_up_to_noop_max():
    """k no-op frames at reset, k uniform in [0, noop_max]: the episode frame counter after reset is k."""
    with make(num_envs=8, noop_max=2, repeat_action_probability=0.0) as env:
        seen = set()
        for s in range(2):
            seen |= set(env.reset(seed=8 * s)[1]["episode_frame_number"].tolist())
    assert seen == {0, 1, 2}
    with make(num_envs=4, noop_max=0) as env:
        assert (env.reset()[1]["episode_frame_number"] == 0).all()


def _area_taps(n_src, n_dst):
    """Area interpolation (cv2.INTER_AREA) along one axis as (n_dst, 4) source indices and weights: each
    output pixel averages the source pixels its footprint covers, weighted by the covered fraction (a
    footprint of 2.5 or 1.9 pixels touches at most 4 of them)."""
    scale = n_src / n_dst
    idx = np.zeros((n_dst, 4), dtype=np.int64)
    w = np.zeros((n_dst, 4))
    for i in range(n_dst):
        lo, hi = i * scale, (i + 1) * scale
        for k, j in enumerate(range(int(np.floor(lo)), min(int(np.ceil(hi)), n_src))):
            idx[i, k], w[i, k] = j, (min(hi, j + 1) - max(lo, j)) / scale
    return idx, w


def test_matches_gymnasium_atari_env_for_a_whole_game():
    """Reference: gymnasium's own AtariEnv (one frame per step, no sticky actions), driven by hand with the
    DQN preprocessing written out: the same reset no-ops, the action repeated 4 frames, rewards summed,
    the max of the last two grayscale screens, area-resized to 84x84 (within float rounding, 0.5)."""
    (iy, wy), (ix, wx) = _area_taps(210, 84), _area_taps(160, 84)

    def resize(frame):  # elementwise, no BLAS: (210, 160) uint8 -> (84, 84) float64
        rows = (frame[iy].astype(np.float64) * wy[:, :, None]).sum(axis=1)
        return (rows[:, ix] * wx[None]).sum(axis=2)

    env = make("BreakoutNoFrameskip-v4", 1, seed=3, num_threads=1, episodic_life=False, reward_clipping=False)
    ref = gym.make("BreakoutNoFrameskip-v4", obs_type="grayscale", disable_env_checker=True)
    obs, info = env.reset()
    screen, _ = ref.reset(seed=0)
    for _ in range(int(info["episode_frame_number"][0])):  # the same number of reset no-ops
        screen, *_ = ref.step(0)
    assert np.abs(resize(screen) - obs[0, -1]).max() <= 0.5 + 1e-9
    rng = np.random.default_rng(0)
    steps = 0
    while steps < 2000:
        steps += 1
        a = int(rng.integers(0, 4))
        reward, screens = 0.0, []
        for _ in range(4):
            screen, r, term, trunc, ref_info = ref.step(a)
            reward += r
            screens.append(screen)
            if term:
                break
        prev = obs
        obs, r, te, tr, info = env.step(np.array([a]))
        assert r[0] == reward and te[0] == term and not tr[0]
        assert info["lives"][0] == ref_info["lives"]
        assert info["episode_frame_number"][0] == ref_info["episode_frame_number"]
        np.testing.assert_array_equal(obs[0, :3], prev[0, 1:])
        if len(screens) == 4:  # a game over inside the frame skip leaves the pooling buffers part-stale
            pooled = np.maximum(screens[-1], screens[-2])
            assert np.abs(resize(pooled) - obs[0, -1]).max() <= 0.5 + 1e-9
        if term:
            break
    assert term and steps > 100  # one whole game
    env.close()
    ref.close()


def test_episode_statistics_are_opt_in():
    with make("PongNoFrameskip-v4", 1, seed=0, max_episode_steps=5, episode_statistics=False) as env:
        env.reset()
        for _ in range(6):
            *_, infos = env.step(np.zeros(1, np.int64))
            assert "episode" not in infos and "_episode" not in infos
    with pytest.raises(TypeError, match="episode_statistics"):
        make(episode_statistics="yes")
