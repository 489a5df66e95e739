"""Re-running an agent's method in fresh sandboxes to check its best submissions.

When an agent submits with the command that made its predictions, and the submission
is its best so far, the harness copies the agent's code (never its data or outputs, and
never through a link) into fresh sandboxes holding task variants the agent has never
seen: `reproduction_reruns` other weak teachers, and weak labels shuffled across rows.
It scores every run per item and records a verdict with its interval ("reproduced",
"not reproduced", "ignores the teacher", or "inconclusive" when the runs cannot tell;
`experiments.reproduction.judge_reproduction`) for the human. The agent is not told:
the check exists to catch methods that do not learn from the teacher.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.bus import EventBus
from agents.events import Event, ReproductionJudged, SubmissionScored
from agents.settings import AarSettings
from agents.predictions import decode_predictions
from experiments import RunEvidence, Scorer
from experiments.reproduction import ReproductionJudgement, Variant, judge_reproduction, write_variant_files
from sandboxes import Sandbox, SandboxError, create_sandbox, snapshot_files

log = logging.getLogger(__name__)

# Code the agent wrote: copied into the re-run sandbox. Data and outputs are not.
CODE_SUFFIXES = (".py", ".sh", ".json", ".txt", ".toml", ".yaml", ".yml")
MAX_CODE_BYTES = 2_000_000
PREDICTIONS = "predictions.json"


@dataclass(frozen=True)
class ReproductionRequest:
    agent_id: str
    submission_id: int
    command: str
    public_pgr: float | None
    agent_workdir: Path
    predictions: np.ndarray  # the submission's probabilities in the scorer's id order


class Reproducer:
    """Runs reproduction checks in the background; `drain()` waits for them (bounded)."""

    def __init__(self, *, bus: EventBus, settings: AarSettings, run_dir: Path, scorer: Scorer,
                 shared_dir: Path | None = None) -> None:
        """``shared_dir``: the forum's folder, which a re-run sees at ``/shared`` as the live run
        did (its posts are every agent's to read): an empty one would tell a re-run apart."""
        self._bus = bus
        self._shared_dir = shared_dir
        self._scorer = scorer  # the original task's: the original run's evidence
        self._settings = settings
        self._run_dir = run_dir
        self._tasks: set[asyncio.Task[None]] = set()
        self._best: dict[str, float] = {}

    def replay(self, events: Iterable[Event], workdir_of: Callable[[str], Path]) -> int:
        """Rebuild each agent's best from the log (crash resume) and start again the checks
        that had been started but have no verdict; returns how many."""
        judged = {e.submission_id for e in events if isinstance(e, ReproductionJudged)}
        restarted = 0
        for event in events:
            if not isinstance(event, SubmissionScored) or not event.valid or event.public_pgr is None:
                continue
            agent_id = event.agent_id or ""
            if not event.command.strip() or event.public_pgr <= self._best.get(agent_id, float("-inf")):
                continue
            if event.submission_id in judged:
                self._best[agent_id] = event.public_pgr
                continue
            self.consider(ReproductionRequest(agent_id, event.submission_id, event.command, event.public_pgr,
                                              workdir_of(agent_id), decode_predictions(event.predictions)))
            restarted += 1
        return restarted

    def consider(self, request: ReproductionRequest) -> bool:
        """Start a check if this is the agent's best scored submission so far."""
        if request.public_pgr is None or not request.command.strip():
            return False
        if request.public_pgr <= self._best.get(request.agent_id, float("-inf")):
            return False
        self._best[request.agent_id] = request.public_pgr
        task = asyncio.create_task(self._check(request), name=f"reproduce-{request.submission_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self, timeout_s: float) -> None:
        """Wait for running checks; cancel what is still running after `timeout_s`."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _check(self, request: ReproductionRequest) -> None:
        notes: list[str] = []

        async def run(variant: Variant, seed: int) -> RunEvidence | None:
            try:
                return await self._rerun(request, variant, seed)
            except (SandboxError, OSError, ValueError, KeyError) as exc:
                notes.append(f"{variant} re-run {seed} failed: {exc}")
                return None

        try:
            original = await asyncio.to_thread(self._scorer.evidence, request.predictions)
        except ValueError as exc:  # a log from before predictions were stored: nothing to compare with
            judgement = ReproductionJudgement("inconclusive", f"the original run cannot be compared: {exc}",
                                              request.public_pgr, None, None)
        else:
            base = request.submission_id * 100  # each check its own teachers and permutation
            reruns = [await run("other_teacher", base + k) for k in range(self._settings.reproduction_reruns)]
            shuffled = [await run("shuffled_weak", base)]
            judgement = await asyncio.to_thread(judge_reproduction, original, reruns, shuffled,
                                                seed=request.submission_id)
        self._bus.publish(
            ReproductionJudged(
                agent_id=request.agent_id,
                submission_id=request.submission_id,
                verdict=judgement.verdict,
                reason="; ".join([judgement.reason, *notes]),
                rerun_pgr=judgement.rerun_pgr,
                shuffled_pgr=judgement.shuffled_pgr,
                reruns=judgement.reruns,
                difference_interval=judgement.difference_interval,
            )
        )

    async def _rerun(self, request: ReproductionRequest, variant: Variant, seed: int) -> RunEvidence:
        where = self._run_dir / "reproductions" / f"{request.agent_id}-{request.submission_id}-{variant}-{seed}"
        task, files = await asyncio.to_thread(
            write_variant_files,
            where / "task",
            self._settings.testbed,
            variant,
            seed=seed,
            cache_dir=self._settings.cache_dir / "features",
            limit=self._settings.testbed_limit,
            baseline_seeds=self._settings.baseline_seeds,
        )
        code = await asyncio.to_thread(_agent_code, request.agent_workdir)
        sandbox: Sandbox = create_sandbox(self._settings.sandbox, workdir=where / "work", data_files=files,
                                          shared_dir=self._shared_dir, isolation=self._settings.isolation,
                                          accept_risk=self._settings.accept_isolation_risk,
                                          identity=str(request.agent_workdir))  # the live runs' uid
        await sandbox.start()
        try:
            for relative, content in code.items():
                await sandbox.write_file(relative, content)
            result = await sandbox.exec(["bash", "-c", request.command], timeout_s=self._settings.exec_timeout_s)
            if not result.ok:
                raise ValueError(f"exit code {result.returncode}: {result.stderr.strip()[-300:]}")
            payload = json.loads(await sandbox.read_file(PREDICTIONS, max_bytes=50_000_000))
        finally:
            await sandbox.close()
        scorer = task.scorer()
        ids, probs = payload["ids"], payload["probs"]
        error = scorer.validate(ids, probs)
        if error is not None:
            raise ValueError(f"invalid predictions: {error}")
        return scorer.evidence(scorer.ordered(ids, probs))


def _is_code(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return name.endswith(CODE_SUFFIXES) and name != PREDICTIONS


def _agent_code(workdir: Path) -> dict[str, bytes]:
    """The agent's own code files (top level and subfolders, not data/ or tmp/) by relative path.

    Read by descriptor without following any link (``snapshot_files``): agent processes may
    still be swapping files for symlinks while the host copies them.
    """
    code, notes = snapshot_files(
        str(workdir), select=_is_code, max_total_bytes=MAX_CODE_BYTES, skip_dirs=frozenset({"data", "tmp"})
    )
    if notes:
        log.info("agent code in %s: left out %d file(s): %s", workdir, len(notes), "; ".join(notes[:5]))
    return code
