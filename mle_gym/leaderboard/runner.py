"""Run agents x tasks x seeds through the rollout pool and append one record per episode.

Each episode is a short loop on the host (the agent writes a program, the pool runs it, the
agent reads the observation); many episodes run at once, and their programs share the
pool's bounded set of sandboxes, so a slow program never holds up another episode's agent.
Finished episodes are written as they end; a rerun skips them (see ``store.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mle_gym import __version__
from mle_gym.agents import load_agent
from mle_gym.env import MLEEnv
from mle_gym.instrument import extract_code
from mle_gym.leaderboard.store import EpisodeSpec, ResultsStore, RunWriter
from mle_gym.step import StepOutcome


@dataclass
class RunSummary:
    run_id: str
    path: str
    planned: int
    skipped: int
    finished: int = 0
    errors: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


def plan(
    agents: Sequence[str],
    tasks: Sequence[str],
    seeds: Sequence[int],
    data: str = "lite",
    max_steps: int = 3,
    time_budget: float | None = None,
    agent_args: dict[str, dict[str, Any]] | None = None,
) -> list[EpisodeSpec]:
    """Every (agent, task, seed) episode, tasks outermost so early results cover all agents."""
    agent_args = agent_args or {}
    return [
        EpisodeSpec(agent, task, seed, data, max_steps, time_budget, agent_args.get(agent, {}))
        for task in tasks
        for seed in seeds
        for agent in agents
    ]


class EpisodeRunner:
    """Plays one episode: the env builds observations, the pool runs the programs."""

    def __init__(self, pool: Any, env_options: dict[str, Any]) -> None:
        self.pool = pool
        self.env_options = env_options

    def __call__(self, spec: EpisodeSpec, stop: threading.Event) -> dict[str, Any]:
        from mle_gym.pool import StepJob

        started = time.time()
        record: dict[str, Any] = {
            "key": spec.key(),
            **spec.as_dict(),
            "steps": [],
            "error": None,
            "mle_gym_version": __version__,
            "started": started,
        }
        options = {"data": spec.data, **self.env_options}
        env = MLEEnv(spec.task, max_steps=spec.max_steps, **options)
        try:
            agent = load_agent(spec.agent, **spec.agent_args)
            if callable(getattr(agent, "reset", None)):
                agent.reset(env.spec_task.slug, spec.seed)
            obs, _ = env.reset(seed=spec.seed)
            done = False
            while not done and not stop.is_set():
                if spec.time_budget is not None and time.time() - started >= spec.time_budget:
                    record["stopped"] = "time budget"
                    break
                t0 = time.monotonic()
                code = extract_code(agent.act(obs))
                thinking = time.monotonic() - t0
                job = StepJob(task=spec.task, program=code, options=options, tag=spec.key())
                result = self.pool.submit(job).result()
                if result.error:
                    record["error"] = f"step {len(record['steps']) + 1}: {result.error}"
                    break
                outcome = StepOutcome(info=result.info)
                obs, reward, terminated, truncated, info = env.advance(code, outcome)
                record["steps"].append(
                    {
                        "reward": float(reward),
                        "score": None if info["score"] is None else float(info["score"]),
                        "private_score": result.private_score,
                        "valid": bool(info["valid_submission"]),
                        "duration": float(info["duration"]),
                        "milestones": list(info["milestones"]),
                        "invalid_reason": info["invalid_reason"],
                        "timed_out": bool(info["timed_out"]),
                        "agent_seconds": round(thinking, 3),
                    }
                )
                if callable(getattr(agent, "observe", None)):
                    agent.observe(float(reward), info)
                done = terminated or truncated
            if stop.is_set() and not done:
                record["error"] = "interrupted"
        except Exception as exc:  # an agent that raises ends its episode, not the run
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            env.close()
        record["wall_seconds"] = round(time.time() - started, 3)
        record["valid"] = any(s["valid"] for s in record["steps"])
        return record


def run(
    episodes: Sequence[EpisodeSpec],
    store: ResultsStore,
    workers: int = 2,
    backend: str = "local",
    sandbox: str = "docker",
    parallel_episodes: int | None = None,
    env_options: dict[str, Any] | None = None,
    progress: bool = True,
    run_id: str | None = None,
    pool_options: dict[str, Any] | None = None,
) -> RunSummary:
    """Run the episodes not already in ``store``; append each record as it finishes.

    ``workers`` bounds the programs running at once (the pool's sandboxes);
    ``parallel_episodes`` bounds the episodes in flight (default: twice ``workers``, so an
    agent can think while another episode's program runs).
    """
    from tqdm.auto import tqdm

    from mle_gym.pool import RolloutPool

    done_keys = store.finished_keys()
    todo = [e for e in episodes if e.key() not in done_keys]
    writer: RunWriter = store.writer(run_id)
    summary = RunSummary(writer.run_id, str(writer.path), len(episodes), len(episodes) - len(todo))
    if not todo:
        writer.close()
        writer.path.unlink(missing_ok=True)
        return summary
    stop = threading.Event()
    bar = tqdm(total=len(todo), desc="episodes", unit="ep", disable=not progress)
    parallel = parallel_episodes or 2 * workers
    pool = RolloutPool(backend=backend, workers=workers, sandbox=sandbox, **(pool_options or {}))
    play = EpisodeRunner(pool, env_options or {})
    try:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="episode") as threads:
            queue = list(reversed(todo))
            running: set[Future] = set()
            try:
                while queue or running:
                    while queue and len(running) < parallel:
                        running.add(threads.submit(play, queue.pop(), stop))
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        record = future.result()
                        writer.append(record)
                        summary.records.append(record)
                        summary.finished += 1
                        summary.errors += bool(record["error"])
                        bar.update(1)
            except BaseException:
                # Ctrl-C: stop starting steps and cancel the pool's jobs, so the episode
                # threads return (their records say "interrupted") before the executor joins.
                stop.set()
                pool.cancel_all()
                raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_pending=True)
        bar.close()
        writer.close()
    return summary
