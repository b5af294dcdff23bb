"""``make demo``: a fast and a slower, stronger reference program on a lite task, side by side."""

from __future__ import annotations

import warnings

import gymnasium as gym

from mle_gym.spec import load_task


def run_demo(task: str = "spooky-author", sandbox: str = "auto") -> int:
    import mle_gym  # noqa: F401 - registers the environments

    spec = load_task(task)
    programs = {
        name: (spec.folder / "solutions" / f"{name}.py").read_text() for name in ("fast", "strong")
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(spec.env_id, sandbox=sandbox, max_steps=len(programs))
        env.reset(seed=0)
        backend = env.unwrapped.sandbox.name
    for w in caught:
        print(f"WARNING: {w.message}")
    print(f"task {spec.env_id}: {spec.metric} ({spec.direction} is better), lite data, "
          f"sandbox={backend}")

    rows = []
    try:
        for name, code in programs.items():
            print(f"running {name}.py ...", flush=True)
            _, reward, _, _, info = env.step(code)
            rows.append((name, reward, info))
    finally:
        env.close()

    header = f"{'program':<8} {'reward':>8} {'score':>9} {'milestones':>10} {'duration':>9}  note"
    print("\n" + header + "\n" + "-" * len(header))
    for name, reward, info in rows:
        score = "invalid" if info["score"] is None else f"{info['score']:.4f}"
        note = info["invalid_reason"] or ", ".join(info["milestones"])
        print(f"{name:<8} {reward:>8.3f} {score:>9} {len(info['milestones']):>10} "
              f"{info['duration']:>8.2f}s  {note}")
    sample = spec.lite_scores.sample
    if sample is not None:
        print(f"\nsample submission scores {sample:.4f}; reward 1.0 = sample, 2.0 = strong reference")
    ok = all(info["valid_submission"] for _, _, info in rows)
    return 0 if ok else 1
