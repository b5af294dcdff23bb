"""Run agents x tasks x seeds through the rollout pool and append one record per episode.

Each episode is the one episode loop (:func:`mle_gym.agents.episode.play`) on the host, its
programs run by the pool (the agent writes a program, the pool runs it, the agent reads the
observation an :class:`mle_gym.episode.Episode` composes); many episodes run at once, and their programs share the
pool's bounded set of sandboxes, so a slow program never holds up another episode's agent.
Finished episodes are written as they end; a rerun skips them (see ``store.py``).
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from mle_gym import __version__
from mle_gym.agents import load_agent, resolve
from mle_gym.agents.episode import PoolStepper, StepFailed, StepRecord, play
from mle_gym.data import prepare
from mle_gym.episode import Episode
from mle_gym.leaderboard.store import EpisodeSpec, ResultsStore, RunWriter
from mle_gym.limits import validate_data
from mle_gym.llm import ENV_MODEL
from mle_gym.options import RuntimeOptions
from mle_gym.pool.base import JobRunner
from mle_gym.prompt import task_prompt
from mle_gym.spec import TaskSpec, load_task
from mle_gym.step import resolve_limits

# An agent run with a lesson book is its own row: "<agent>+lessons" (``--lessons BOOK``).
LESSONS_SUFFIX = "+lessons"


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
    lessons: bool = False,
) -> list[EpisodeSpec]:
    """Every (agent, task, seed) episode, tasks outermost so early results cover all agents.
    ``lessons``: each agent runs with a lesson book, named ``<agent>+lessons``."""
    agent_args = agent_args or {}
    suffix = LESSONS_SUFFIX if lessons else ""
    return [
        EpisodeSpec(agent + suffix, task, seed, data, max_steps, time_budget,
                    agent_args.get(agent, {}))
        for task in tasks
        for seed in seeds
        for agent in agents
    ]


def with_models(agents: Sequence[str], agent_args: dict[str, dict[str, Any]] | None,
                env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``agent_args`` with the model named for every agent that takes a ``model`` argument
    and was given none: the one ``MLE_GYM_LLM_MODEL`` names, which the agent would ask
    anyway. So the model is part of each episode's key (another model is another episode)
    and of its record (the leaderboard's row names it)."""
    env = os.environ if env is None else env
    out = {agent: dict(args) for agent, args in (agent_args or {}).items()}
    model = env.get(ENV_MODEL)
    for agent in agents:
        if not model or "model" in out.get(agent, {}):
            continue
        try:
            takes_model = "model" in inspect.signature(resolve(agent)).parameters
        except (ValueError, TypeError):
            continue  # an agent that cannot load fails in its episodes, with the reason
        if takes_model:
            out.setdefault(agent, {})["model"] = model
    return out


def model_of(agent: Any) -> str | None:
    """The model an agent asks, when it has a chat client (the ``llm`` and ``aide`` agents,
    and any agent that wraps one as ``.agent``)."""
    for obj in (agent, getattr(agent, "agent", None)):
        model = getattr(getattr(obj, "client", None), "model", None)
        if isinstance(model, str) and model:
            return model
    return None


class EpisodeRunner:
    """Plays one episode: the pool runs the programs, an Episode composes the observations.

    Each task's prompt and the pool's jobs share one set of resolved limits (the options'
    or the task's own, :func:`mle_gym.step.resolve_limits`), decided here once per task.
    """

    def __init__(self, pool: Any, env_options: dict[str, Any], lessons: str | None = None,
                 reflector: str = "rule") -> None:
        self.pool = pool
        self.env_options = env_options
        self.lessons = lessons  # the lesson book of "<agent>+lessons" episodes
        self.reflector = reflector
        self._setups: dict[str, tuple[TaskSpec, str, RuntimeOptions]] = {}
        self._lock = threading.Lock()

    def setup(self, spec: EpisodeSpec) -> tuple[TaskSpec, str, RuntimeOptions]:
        """(task, its prompt, the options its jobs run with), prepared once per task."""
        options = RuntimeOptions.of({"data": spec.data, **self.env_options})
        key = f"{spec.task} {options.key()}"
        with self._lock:
            if key not in self._setups:
                task = load_task(spec.task)
                with JobRunner._prepare_lock:  # the pool's workers may prepare it too
                    data = prepare(task, validate_data(options.data), options.data_seed)
                limits = resolve_limits(task, data.flavour, options)
                prompt = task_prompt(task, data.public, limits["time_limit"],
                                     limits["memory_limit"], limits["cpus"])
                resolved = RuntimeOptions.of(options, time_limit=limits["time_limit"],
                                             memory_limit=limits["memory_limit"],
                                             cpus=limits["cpus"])
                self._setups[key] = (task, prompt, resolved)
            return self._setups[key]

    def __call__(self, spec: EpisodeSpec, stop: threading.Event) -> dict[str, Any]:
        started = time.time()
        record: dict[str, Any] = {
            "key": spec.key(),
            **spec.as_dict(),
            "model": spec.model,
            "steps": [],
            "error": None,
            "mle_gym_version": __version__,
            "started": started,
        }
        task, prompt, options = self.setup(spec)
        try:
            agent = self._agent(spec, record)
            record["model"] = record["model"] or model_of(agent)
            episode = Episode(task, prompt, max_steps=spec.max_steps)
            budget = None if spec.time_budget is None else spec.time_budget - (time.time() - started)
            result = play(
                PoolStepper(self.pool, episode, options, tag=spec.key()), agent,
                seed=spec.seed, max_seconds=budget, stop=stop,
                on_step=lambda step: record["steps"].append(step_record(step)),
            )
            if callable(getattr(agent, "end_episode", None)):
                agent.end_episode()  # a lessons agent credits, reflects and curates now
            if result.stopped == "time budget":
                record["stopped"] = "time budget"
            elif result.stopped == "interrupted":
                record["error"] = "interrupted"
        except StepFailed as exc:  # the pool had no result: cancelled, or a worker broke
            record["error"] = "interrupted" if stop.is_set() else str(exc)
        except Exception as exc:  # an agent that raises ends its episode, not the run
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["wall_seconds"] = round(time.time() - started, 3)
        record["valid"] = any(s["valid"] for s in record["steps"])
        return record


    def _agent(self, spec: EpisodeSpec, record: dict[str, Any]) -> Any:
        if not spec.agent.endswith(LESSONS_SUFFIX):
            return load_agent(spec.agent, **spec.agent_args)
        if not self.lessons:
            raise ValueError(f"{spec.agent} needs a lesson book: run with --lessons BOOK")
        from mle_gym.lessons.agent import LessonsAgent

        inner = load_agent(spec.agent.removesuffix(LESSONS_SUFFIX), **spec.agent_args)
        record["lessons"] = self.lessons
        return LessonsAgent(inner, self.lessons, reflector=self.reflector)


def step_record(step: StepRecord) -> dict[str, Any]:
    """One step as the results store keeps it."""
    return {**asdict(step), "agent_seconds": round(step.agent_seconds, 3)}


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
    lessons: str | None = None,
    reflector: str = "rule",
) -> RunSummary:
    """Run the episodes not already in ``store``; append each record as it finishes.

    ``workers`` bounds the programs running at once (the pool's sandboxes);
    ``parallel_episodes`` bounds the episodes in flight (default: twice ``workers``, so an
    agent can think while another episode's program runs). ``lessons``: the lesson book
    that ``<agent>+lessons`` episodes read and teach (several episodes write it at once).
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
    play = EpisodeRunner(pool, env_options or {}, lessons=lessons, reflector=reflector)
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
