"""Threads that cannot corrupt: several threads add, sample, update priorities, take state_dict() and save
one buffer at once for a bounded time; afterwards every sampled transition is one that was added, and the
buffer (and a save taken in the middle of it all) still works."""

import threading
import time

import numpy as np
import pytest

import fastrl

ENVS = 4
OBS = (2,)


def _obs(env, t):
    """The observation of env `env` at its step t: (env, t), so a transition names itself."""
    return np.array([env, t], np.float32)


@pytest.mark.parametrize("cls", [fastrl.ReplayBuffer, fastrl.PrioritizedReplayBuffer])
def test_concurrent_add_sample_update_state_and_save(tmp_path, cls):
    prioritized = cls is fastrl.PrioritizedReplayBuffer
    buf = cls(5000, OBS, np.float32, num_envs=ENVS, n_step=2, gamma=0.5, seed=0)
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"add": 0, "sample": 0, "update": 0, "state": 0, "save": 0}
    lock = threading.Lock()

    def count(name):
        with lock:
            counts[name] += 1

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as err:  # noqa: BLE001 (reported to the main thread)
                errors.append(err)
                stop.set()
        return run

    def adder(env):
        # Each adding thread owns one env's stream (the others masked out); episodes of 7 steps.
        mask = np.zeros(ENVS, bool)
        mask[env] = True
        t = 0
        while not stop.is_set():
            obs = np.zeros((ENVS, *OBS), np.float32)
            nxt = np.zeros((ENVS, *OBS), np.float32)
            obs[env], nxt[env] = _obs(env, t), _obs(env, t + 1)
            ended = (t + 1) % 7 == 0
            term = np.zeros(ENVS, bool)
            term[env] = ended
            buf.add(obs, np.full(ENVS, env * 1000 + t), np.ones(ENVS), nxt, term, np.zeros(ENVS, bool), mask=mask)
            t = 0 if ended else t + 1
            count("add")

    sampled = []

    def sampler():
        while not stop.is_set():
            if len(buf) < 64:
                time.sleep(0.001)
                continue
            b = buf.sample(64, beta=0.5) if prioritized else buf.sample(64)
            if len(sampled) < 400:  # checked afterwards
                sampled.append(b)
            count("sample")
            if prioritized:
                buf.update_priorities(b.indices, np.abs(b.reward.astype(np.float64)) + 0.1)
                count("update")

    def snapshotter():
        i = 0
        while not stop.is_set():
            if i % 2 == 0:
                state = buf.state_dict()
                assert state["slot_id"].shape == (5000,)
                count("state")
            else:
                buf.save(tmp_path / "live.bin")
                count("save")
            i += 1

    threads = [threading.Thread(target=guarded(lambda e=e: adder(e))) for e in range(ENVS)]
    threads += [threading.Thread(target=guarded(sampler)) for _ in range(2)]
    threads.append(threading.Thread(target=guarded(snapshotter)))
    for th in threads:
        th.start()
    time.sleep(2.0)
    stop.set()
    for th in threads:
        th.join(timeout=30)
        assert not th.is_alive()
    assert not errors, errors
    assert counts["add"] > 1000 and counts["sample"] > 20 and counts["save"] > 0 and counts["state"] > 0

    # every sampled transition is one that was added: obs (env, t), its action env * 1000 + t, the next obs
    # (env, t + k) one or two steps on within the same 7-step episode, the n-step reward and discount to match
    for b in sampled:
        env, t = b.obs[:, 0].astype(int), b.obs[:, 1].astype(int)
        np.testing.assert_array_equal(b.action, env * 1000 + t)
        np.testing.assert_array_equal(b.next_obs[:, 0], env)
        k = b.next_obs[:, 1].astype(int) - t
        assert np.isin(k, (1, 2)).all() and (b.next_obs[:, 1] <= (t // 7) * 7 + 7).all()
        terminated = (t + k) % 7 == 0
        np.testing.assert_allclose(b.reward, np.where(k == 2, 1.5, 1.0))
        np.testing.assert_allclose(b.discount, np.where(terminated, 0.0, 0.5**k))
    # the buffer and the file saved mid-way are both usable
    loaded = fastrl.ReplayBuffer.load(tmp_path / "live.bin")
    assert type(loaded) is cls and len(loaded) > 0
    after = buf.sample(32, beta=0.5) if prioritized else buf.sample(32)
    assert after.obs.shape == (32, 2)
    if prioritized:
        # every sampleable slot kept a positive, finite priority through the concurrent updates
        state = buf.state_dict()
        leaves = state["priorities"][state["slot_valid_pos"] >= 0]
        assert len(leaves) == len(buf) and (leaves > 0).all() and np.isfinite(leaves).all()
