"""Early experience (arXiv 2510.08558) on mle-gym with TRL SFT: IWM then imitation, or SR
mixed with imitation, from steps collected by ``mle-gym experience collect``.

Recipes (the same optimiser budget for each, so they compare):

* ``imitation`` — SFT on (observation, expert program): the control;
* ``iwm`` — implicit world modelling first (observation + program -> the env's report of the
  step), about one epoch, then imitation on the expert rows;
* ``sr`` — self-reflection rows (observation -> grounded reflection + expert program) mixed
  with the imitation rows.

The saved folder (model + tokenizer) is what ``--init-from`` in ``baselines/duration_grpo.py``
starts RL from. CPU, tiny random model (tests, smoke runs)::

    mle-gym experience collect --task spooky-author --alternatives 6 --out runs/exp
    python -m baselines.early_experience --experience runs/exp --recipe iwm --model tiny \
        --output-dir runs/ee-iwm --steps 40 --eval

A real model: a Hub id, a model folder or a ``.gguf`` file (GPU for a 3B model)::

    python -m baselines.early_experience --experience runs/exp --recipe sr \
        --model Qwen/Qwen2.5-3B-Instruct --bf16 --steps 300 --output-dir runs/ee-sr
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mle_gym.experience.datasets import imitation_rows, iwm_rows, parse_outcome, sr_rows
from mle_gym.prompt import LAST_HEADING

RECIPES = ("imitation", "iwm", "sr")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m baselines.early_experience",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--experience", required=True,
                   help="records from `mle-gym experience collect` (its --out folder)")
    p.add_argument("--recipe", default="iwm", choices=RECIPES)
    p.add_argument("--model", default="tiny",
                   help='"tiny" (random Qwen2, CPU) or a Hugging Face id / local folder')
    p.add_argument("--output-dir", default="runs/early-experience")
    p.add_argument("--steps", type=int, default=100,
                   help="optimiser steps in all (iwm: split between IWM and imitation)")
    p.add_argument("--iwm-fraction", type=float, default=0.5,
                   help="iwm: share of --steps spent on world modelling")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--learning-rate", type=float, default=None,
                   help="default 1e-5 for a real model, 3e-3 for the tiny one")
    p.add_argument("--max-length", type=int, default=8192, help="tokens per row")
    p.add_argument("--holdout", type=float, default=0.25,
                   help="share of alternative programs held out of IWM training (for --eval)")
    p.add_argument("--eval", action="store_true",
                   help="after IWM: predict validity and milestones of the held-out programs")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# -- data -------------------------------------------------------------------------------------


def split_iwm(rows: list[dict[str, Any]], holdout: float, seed: int
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, held out): whole programs are held out, so a held-out program was never seen
    from any state."""
    programs = sorted({r["program_sha256"] for r in rows})
    random.Random(seed).shuffle(programs)
    held = set(programs[: round(holdout * len(programs))])
    return ([r for r in rows if r["program_sha256"] not in held],
            [r for r in rows if r["program_sha256"] in held])


def chat_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL's conversational prompt-completion form (loss on the completion only)."""
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "completion": [{"role": "assistant", "content": r["completion"]}]} for r in rows]


# -- model ------------------------------------------------------------------------------------


def load_policy(args: argparse.Namespace, texts: Sequence[str]) -> tuple[Any, Any]:
    if args.model == "tiny":
        from baselines.tiny_model import build_tiny_policy

        return build_tiny_policy(list(texts), seed=args.seed)
    import torch

    from mle_gym.models import load_causal_lm

    # by path: a .gguf file (converted once), a folder, or a Hub id in the local cache
    return load_causal_lm(args.model, dtype=torch.bfloat16 if args.bf16 else "auto")


def sft(model: Any, tokenizer: Any, rows: list[dict[str, Any]], steps: int,
        args: argparse.Namespace, phase: str) -> list[float]:
    """``steps`` optimiser steps of TRL SFT on ``rows``; returns the logged losses."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if steps <= 0 or not rows:
        return []
    lr = args.learning_rate or (3e-3 if args.model == "tiny" else 1e-5)
    config = SFTConfig(
        output_dir=str(Path(args.output_dir) / f"phase-{phase}"),
        max_steps=steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=lr,
        lr_scheduler_type="constant" if args.model == "tiny" else "cosine",
        max_length=args.max_length,
        completion_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        seed=args.seed,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(chat_rows(rows)),
                         processing_class=tokenizer)
    trainer.train()
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


# -- evaluation -------------------------------------------------------------------------------


def predict_outcomes(model: Any, tokenizer: Any, rows: list[dict[str, Any]],
                     max_new_tokens: int = 160) -> list[tuple[bool | None, int | None]]:
    """Greedy IWM predictions for ``rows``, read back as (valid, milestone count)."""
    import torch

    model.eval()
    out = []
    for row in rows:
        text = tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}],
                                             tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.no_grad():
            new = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
        answer = tokenizer.decode(new[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        out.append(parse_outcome(answer))
    return out


def valid_by_likelihood(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> list[bool]:
    """Validity as the likelier of the two ways the env's report can begin (a reading that
    does not need the whole report to be generated right)."""
    import torch

    head = f"{LAST_HEADING}1)\nOutcome: "
    choices = {True: head + "valid submission", False: head + "no valid submission"}
    out = []
    for row in rows:
        text = tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}],
                                             tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        scores = {}
        for valid, completion in choices.items():
            ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
            full = torch.tensor([prompt_ids + ids], device=model.device)
            with torch.no_grad():
                logits = model(input_ids=full).logits[0, len(prompt_ids) - 1:-1]
            scores[valid] = logits.log_softmax(-1).gather(1, full[0, len(prompt_ids):, None]).sum()
        out.append(bool(scores[True] > scores[False]))
    return out


def evaluate_iwm(model: Any, tokenizer: Any, train: list[dict[str, Any]],
                 test: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy of predicted validity and milestone count on ``test``, against always
    answering the training set's majority class."""
    predictions = predict_outcomes(model, tokenizer, test)
    by_likelihood = valid_by_likelihood(model, tokenizer, test)
    valid_major = Counter(r["valid"] for r in train).most_common(1)[0][0]
    miles_major = Counter(r["milestones"] for r in train).most_common(1)[0][0]
    n = max(len(test), 1)
    return {
        "held_out": len(test),
        "parsed": sum(v is not None for v, _ in predictions),
        "valid_accuracy": sum(p[0] == r["valid"] for p, r in zip(predictions, test, strict=True)) / n,
        "valid_accuracy_by_likelihood": sum(p == r["valid"] for p, r in
                                            zip(by_likelihood, test, strict=True)) / n,
        "valid_majority_baseline": sum(r["valid"] == valid_major for r in test) / n,
        "milestones_accuracy": sum(p[1] == r["milestones"]
                                   for p, r in zip(predictions, test, strict=True)) / n,
        "milestones_majority_baseline": sum(r["milestones"] == miles_major for r in test) / n,
        "milestones_mae": sum(abs((p[1] if p[1] is not None else 0) - r["milestones"])
                              for p, r in zip(predictions, test, strict=True)) / n,
        "milestones_majority_mae": sum(abs(miles_major - r["milestones"]) for r in test) / n,
    }


# -- the recipes ------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run the recipe, save model and tokenizer to ``--output-dir``; returns a summary."""
    iwm = iwm_rows(args.experience)
    imitation = imitation_rows(args.experience)
    if not imitation:
        raise SystemExit(f"no valid expert steps in {args.experience}: collect more (or a longer "
                         "--time-limit) before training")
    iwm_train, iwm_test = split_iwm(iwm, args.holdout if args.eval else 0.0, args.seed)
    sr = sr_rows(args.experience) if args.recipe == "sr" else []
    texts = [r["prompt"] for r in imitation[:2]] + [r["completion"] for r in
                                                    imitation + iwm_train[:50] + sr[:20]]
    model, tokenizer = load_policy(args, texts)
    losses: dict[str, list[float]] = {}
    if args.recipe == "iwm":
        first = round(args.steps * args.iwm_fraction)
        losses["iwm"] = sft(model, tokenizer, iwm_train, first, args, "iwm")
        summary_eval = evaluate_iwm(model, tokenizer, iwm_train, iwm_test) if args.eval else None
        losses["imitation"] = sft(model, tokenizer, imitation, args.steps - first, args,
                                  "imitation")
    elif args.recipe == "sr":
        mixed = sr + imitation
        random.Random(args.seed).shuffle(mixed)
        losses["sr+imitation"] = sft(model, tokenizer, mixed, args.steps, args, "sr")
        summary_eval = None
    else:
        losses["imitation"] = sft(model, tokenizer, imitation, args.steps, args, "imitation")
        summary_eval = None
    out = Path(args.output_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {"recipe": args.recipe, "model": args.model, "output_dir": str(out),
               "rows": {"iwm_train": len(iwm_train), "iwm_held_out": len(iwm_test),
                        "sr": len(sr), "imitation": len(imitation)},
               "loss_first_last": {k: (v[0], v[-1]) if v else None for k, v in losses.items()},
               "iwm_eval": summary_eval}
    (out / "early_experience.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    if not torch.cuda.is_available():  # one thread: CPU runs share small machines
        torch.set_num_threads(1)
    print(json.dumps(train(parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
