"""Distil lessons into the weights: supervised fine-tuning on answers written with lessons.

Each pair is (the observation without lessons -> an answer written with lessons in the
system prompt that scored well), from ``mle_gym.lessons.distill.sft_pairs``: a model
trained on them answers as if it had read the lessons, so the prompt can stop carrying them.
TRL's SFTTrainer, conversational prompt-completion data, loss on the completion only.

CPU smoke run (a tiny random Qwen2 with an offline tokenizer; nothing downloaded)::

    python -m baselines.distill_lessons --book lessons.db --model tiny --max-steps 2 --out runs/distil

A real model (a local folder or a Hub id already in the cache; bf16 on a GPU)::

    mle-gym lessons export lessons.db --sft pairs.jsonl
    python -m baselines.distill_lessons --pairs pairs.jsonl --model Qwen/Qwen2.5-3B-Instruct \\
        --bf16 --epochs 2 --out runs/distil
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `baselines` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_pairs(args: argparse.Namespace) -> list[dict[str, Any]]:
    from mle_gym.lessons.distill import read_pairs, sft_pairs

    if args.pairs:
        rows = read_pairs(args.pairs)
    elif args.book:
        rows = sft_pairs(args.book, trajectories=args.trajectories, min_reward=args.min_reward)
    else:
        raise SystemExit("give --pairs PAIRS.jsonl (mle-gym lessons export BOOK --sft ...) or --book BOOK")
    if not rows:
        raise SystemExit(
            "no supervised pairs: the book has no valid answer written with lessons that beat "
            "the plain agent; run more episodes with --lessons, or lower --min-reward")
    return rows


def conversational(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": r["prompt"]}],
         "completion": [{"role": "assistant", "content": r["completion"]}]}
        for r in rows
    ])


def load_model(name: str, rows: list[dict[str, Any]], seed: int) -> tuple[Any, Any]:
    if name == "tiny":
        from baselines.tiny_model import build_tiny_policy

        return build_tiny_policy([t for r in rows for t in (r["prompt"], r["completion"])], seed=seed)
    from mle_gym.models import load_causal_lm

    try:  # by path: a .gguf file (converted once), a folder, or a Hub id in the local cache
        model, tokenizer = load_causal_lm(name, dtype="auto")
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot load model {name!r}: {exc}. Give a .gguf file, a local "
                         "folder or a Hub id already in the cache") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default=None, help="JSONL of pairs (mle-gym lessons export --sft)")
    parser.add_argument("--book", default=None, help="or a lesson book to take the pairs from")
    parser.add_argument("--trajectories", default=None, help="with --book: trajectory files")
    parser.add_argument("--min-reward", type=float, default=None)
    parser.add_argument("--model", default="tiny", help='"tiny" (CPU smoke run), a model folder, a .gguf file or a Hub id in the cache')
    parser.add_argument("--out", required=True, help="where the fine-tuned model is saved")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="optimiser steps (overrides epochs)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=4096, help="tokens per pair (longer is cut)")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from trl import SFTConfig, SFTTrainer

    rows = load_pairs(args)
    model, tokenizer = load_model(args.model, rows, args.seed)
    config = SFTConfig(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr if args.model != "tiny" else max(args.lr, 1e-3),
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length,
        completion_only_loss=True,  # learn the answer, not the prompt
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=conversational(rows),
                         processing_class=tokenizer)
    if len(trainer.train_dataset) == 0:  # truncation kept only prompts: nothing to learn
        raise SystemExit(f"every pair is longer than --max-length {args.max_length} tokens up to "
                         "its answer; raise --max-length")
    result = trainer.train()
    trainer.save_model(args.out)
    tokenizer.save_pretrained(args.out)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    print(f"trained on {len(rows)} pair(s), {trainer.state.global_step} step(s), "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; saved to {args.out}" if losses else
          f"trained on {len(rows)} pair(s); saved to {args.out}")
    return {"pairs": len(rows), "steps": trainer.state.global_step, "losses": losses,
            "train_loss": result.training_loss, "out": args.out}


if __name__ == "__main__":
    main()
