"""A tiny, randomly initialised chat model and an offline-trained tokenizer for TRL tests.

Nothing is downloaded: the tokenizer is a byte-level BPE trained with ``tokenizers`` on the
task descriptions and reference programs in this repository, and the model is a Qwen2
architecture built from a config (hidden size 64, 2 layers). The chat template is TRL's
Qwen2.5 template, which renders tools and which TRL knows how to parse tool calls from, so
``GRPOTrainer(environment_factory=...)`` accepts the pair.

    model, tokenizer = build_tiny_model_and_tokenizer(tmp_path)   # also saved to tmp_path/"tiny-lm"

Texts the test will feed the model again and again (the task prompt, a target completion)
can be passed as ``focus``: they weigh heavily in the BPE training and merges may cross
word boundaries, so a ~5,000-character prompt becomes a few hundred tokens and a CPU
training step stays quick. Run torch code under ``torch_threads(1)`` on a shared machine:
two torch threads on two busy cores are several times slower than one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Qwen's chat markers, plus the tool-call tags so they stay single tokens.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
]


def default_corpus() -> list[str]:
    """Text shaped like what the model will see: task descriptions, programs, tool JSON."""
    texts = []
    for pattern in ("tasks/*/description.md", "tasks/*/solutions/*.py", "mle_gym/prompt.py"):
        texts += [p.read_text() for p in sorted(REPO.glob(pattern))]
    texts.append('{"name": "run_code", "arguments": {"code": "import pandas as pd"}}')
    return texts


def build_tokenizer(
    corpus: Iterable[str] | None = None, vocab_size: int = 2048, focus: Sequence[str] = ()
) -> Any:
    """A byte-level BPE (any text encodes, nothing is unknown) with a tool-aware chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from trl.chat_template_utils import qwen2_5_chat_template

    texts = list(corpus if corpus is not None else default_corpus()) + list(focus) * 20
    bpe = Tokenizer(models.BPE())
    # Without the word-splitting regex, merges span words: the focus texts compress hard.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=not focus)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",  # TRL generates from left-padded prompts
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[3:]})
    tokenizer.chat_template = qwen2_5_chat_template
    return tokenizer


def build_tiny_model(tokenizer: Any, hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Any:
    """A randomly initialised Qwen2 causal LM sized for the tokenizer; float32, CPU."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,  # the task prompt with tool schemas is ~1-2k tokens
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_tiny_model_and_tokenizer(
    tmp_path: Path,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    focus: Sequence[str] = (),
) -> tuple[Any, Any]:
    """Build both, save them to ``tmp_path/"tiny-lm"`` (loadable by path), and return them."""
    tokenizer = build_tokenizer(corpus, focus=focus)
    model = build_tiny_model(tokenizer, seed=seed)
    folder = Path(tmp_path) / "tiny-lm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def teach_completion(
    model: Any, tokenizer: Any, prompt_ids: list[int], completion: str, max_steps: int = 400
) -> int:
    """Overfit the model until greedy decoding after ``prompt_ids`` yields ``completion``.

    Lets a test make a tiny model take a chosen action (say, one exact tool call) so a
    trainer's whole path, tool execution included, runs. Returns the optimiser steps used;
    raises AssertionError when ``max_steps`` were not enough.
    """
    import torch

    target = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + target])
    labels = ids.clone()
    labels[0, : len(prompt_ids)] = -100  # learn the completion only
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(1, max_steps + 1):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        if step % 10 == 0:
            with torch.no_grad():  # teacher-forced argmax equals greedy decoding once all match
                logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
            if logits.argmax(-1).tolist() == target:
                model.eval()
                return step
    raise AssertionError(f"the tiny model did not learn the completion in {max_steps} steps")


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
