"""A tiny policy for CPU runs: no download, no hub, built from scratch in seconds.

``build_tiny_policy(texts)`` trains a byte-level BPE tokenizer offline (the ``tokenizers``
library) on the texts the policy will see (task prompts and reference programs) and builds a
randomly initialised Qwen2-architecture model from a config (hidden 64, 2 layers). It has a
Qwen-style chat template, so the trainer treats it exactly like Qwen2.5-Instruct.

A random model writes noise, and noise never reaches the sandbox (it does not parse), so
``warm_start`` first fits it briefly to (prompt, reference program) pairs. Its samples are then
mutated copies of the reference programs: some run, some crash at different points, some run
long, which is what a training run needs to exercise rewards and durations end to end.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

# The Qwen2.5 chat layout, without its default system prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts``; byte-level, so any text encodes."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        padding_side="left",  # generation pads on the left
        truncation_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_qwen2(
    vocab_size: int, hidden: int = 64, layers: int = 2, seed: int = 0
) -> Qwen2ForCausalLM:
    """A randomly initialised Qwen2 model; 8k positions so long improve prompts fit."""
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config)


def build_tiny_policy(
    texts: Sequence[str], vocab_size: int = 4096, hidden: int = 64, layers: int = 2, seed: int = 0
) -> tuple[Qwen2ForCausalLM, PreTrainedTokenizerFast]:
    """Tokenizer trained on ``texts`` and a matching random model, wired for generation."""
    tokenizer = train_tokenizer(texts, vocab_size)
    model = tiny_qwen2(len(tokenizer), hidden, layers, seed)
    for config in (model.config, model.generation_config):
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.bos_token_id = None
    return model, tokenizer


def warm_start(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    pairs: Sequence[tuple[str, str]],
    steps: int = 150,
    lr: float = 5e-3,
    seed: int = 0,
) -> list[float]:
    """Fit the model to (prompt, answer) pairs, loss on the answer only; returns the losses.

    One pair per step, in the chat layout the trainer uses, so the model learns to answer
    after the real prompt (a model fitted on answers alone writes noise after a long prompt).
    The prompt (~1000 tokens) runs without gradient and only the answer is backpropagated,
    through the prompt's key/value cache: about 3x cheaper, and the cache is exactly what
    generation will attend to.
    """
    encoded = []
    for prompt, answer in pairs:
        head = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer + IM_END, add_special_tokens=False)["input_ids"]
        prefix = torch.tensor([prompt_ids[:-1]])
        # The last prompt token predicts the first answer token, and so on.
        inputs = torch.tensor([prompt_ids[-1:] + answer_ids[:-1]])
        encoded.append((prefix, inputs, torch.tensor(answer_ids)))
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    # Decaying to 0 settles the fit: samples then stay close to the programs.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="warm start (tiny model)", leave=False):
        prefix, inputs, targets = rng.choice(encoded)
        with torch.no_grad():
            cache = model(input_ids=prefix, use_cache=True).past_key_values
        logits = model(input_ids=inputs, past_key_values=cache).logits[0]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


__all__ = ["CHAT_TEMPLATE", "build_tiny_policy", "tiny_qwen2", "train_tokenizer", "warm_start"]
