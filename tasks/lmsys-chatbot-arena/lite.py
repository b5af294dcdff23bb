"""Offline "lite" data for lmsys-chatbot-arena: two chatbot answers to one prompt, and a vote.

Prompts come from templates over topic pools (explain, compare, advice, lists, code, poems,
and a few requests that models often refuse), with an occasional follow-up turn. Every answer
is written by one of 22 model profiles (real arena model names, invented habits): how much it
writes, how much of it is on topic (sentences that use the prompt's own terms) rather than vague
filler, whether it formats with lists, bold labels or code blocks, whether it opens politely,
and how often it refuses.

The hidden preference of a voter for an answer grows with its length (with diminishing returns),
with the share of on-topic sentences, with formatting and a code block where code was asked
for; refusals lose heavily unless the request was one to refuse; each model also has a small
hidden skill. The vote compares the two answers' preferences (with a slight bias for the first
one shown); a tie is more likely when the answers are similar to each other (both refusals, or
much the same words) and when both are weak. Some votes are random. So answer lengths alone
give part of the signal; relevance, refusals, formatting and similarity give much more.

As in the Kaggle files, prompt and answers are JSON lists of strings, one per turn, and a
failed answer is a JSON null.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 4000
N_TEST = 1000
FOLLOW_UP_RATE = 0.12  # conversations with a second turn
NULL_RATE = 0.004  # answers that failed (a JSON null)
RANDOM_VOTE_RATE = 0.15  # votes cast at random
POSITION_BIAS = 0.02  # the first answer shown is preferred a little
TIE_BASE = -0.05  # log-odds offset of a tie against a clear vote

# name: (sentences per answer, share on topic, formatting, polite opener, refusal, skill)
MODELS: dict[str, tuple[float, float, float, float, float, float]] = {
    "gpt-4-1106-preview": (9, 0.90, 0.65, 0.45, 0.03, 0.35),
    "gpt-4-0613": (7, 0.88, 0.45, 0.40, 0.04, 0.25),
    "gpt-4-0314": (7, 0.88, 0.40, 0.40, 0.04, 0.25),
    "claude-2.1": (8, 0.85, 0.40, 0.60, 0.14, 0.05),
    "claude-2.0": (8, 0.85, 0.40, 0.60, 0.09, 0.10),
    "claude-instant-1": (6, 0.80, 0.35, 0.60, 0.07, 0.0),
    "gpt-3.5-turbo-0613": (6, 0.80, 0.40, 0.50, 0.05, 0.05),
    "gpt-3.5-turbo-0125": (5, 0.80, 0.35, 0.50, 0.05, 0.0),
    "mixtral-8x7b-instruct-v0.1": (8, 0.78, 0.50, 0.50, 0.03, 0.05),
    "mistral-medium": (8, 0.82, 0.50, 0.50, 0.03, 0.10),
    "llama-2-70b-chat": (8, 0.70, 0.35, 0.80, 0.15, -0.10),
    "llama-2-13b-chat": (7, 0.65, 0.30, 0.80, 0.18, -0.20),
    "vicuna-33b": (6, 0.70, 0.30, 0.40, 0.05, -0.05),
    "vicuna-13b": (5, 0.65, 0.25, 0.40, 0.05, -0.20),
    "zephyr-7b-beta": (6, 0.60, 0.30, 0.50, 0.03, -0.25),
    "gemini-pro": (6, 0.80, 0.50, 0.30, 0.06, 0.05),
    "openchat-3.5": (6, 0.75, 0.40, 0.40, 0.03, 0.0),
    "palm-2": (3, 0.70, 0.20, 0.20, 0.10, -0.35),
    "chatglm-6b": (4, 0.50, 0.20, 0.30, 0.05, -0.45),
    "koala-13b": (4, 0.55, 0.15, 0.30, 0.05, -0.40),
    "oasst-pythia-12b": (4, 0.50, 0.15, 0.30, 0.04, -0.45),
    "alpaca-13b": (3, 0.55, 0.10, 0.20, 0.03, -0.50),
}

# Topics: (name, five key terms). Used by explain, compare and list prompts.
TOPICS = [
    ("photosynthesis", ["sunlight", "chlorophyll", "glucose", "carbon dioxide", "leaves"]),
    ("black holes", ["gravity", "event horizon", "mass", "light", "singularity"]),
    ("inflation", ["prices", "money supply", "interest rates", "wages", "central bank"]),
    ("the French Revolution", ["monarchy", "Bastille", "taxes", "Napoleon", "republic"]),
    ("machine learning", ["data", "model", "training", "features", "predictions"]),
    ("blockchain", ["ledger", "blocks", "miners", "hash", "transactions"]),
    ("climate change", ["greenhouse gases", "emissions", "temperature", "ice", "fossil fuels"]),
    ("the immune system", ["antibodies", "white blood cells", "vaccines", "infection", "fever"]),
    ("compound interest", ["principal", "rate", "savings", "time", "growth"]),
    ("quantum computing", ["qubits", "superposition", "entanglement", "algorithms", "errors"]),
    ("the water cycle", ["evaporation", "clouds", "rain", "rivers", "oceans"]),
    ("vaccines", ["immune response", "antigens", "booster", "side effects", "virus"]),
    ("supply and demand", ["price", "buyers", "sellers", "shortage", "market"]),
    ("plate tectonics", ["earthquakes", "crust", "mantle", "volcanoes", "continents"]),
    ("neural networks", ["layers", "weights", "neurons", "backpropagation", "activation"]),
    ("the Roman Empire", ["Rome", "legions", "emperors", "Senate", "roads"]),
    ("recursion", ["base case", "function", "stack", "calls", "problem"]),
    ("DNA", ["genes", "proteins", "base pairs", "double helix", "mutations"]),
    ("the stock market", ["shares", "investors", "dividends", "risk", "index funds"]),
    ("electric cars", ["batteries", "charging", "range", "motors", "emissions"]),
    ("the theory of relativity", ["time", "speed of light", "space", "mass", "Einstein"]),
    ("cloud computing", ["servers", "storage", "scaling", "data centers", "costs"]),
]
PAIRS = [
    ("a virus", "a bacterium", ["cells", "antibiotics", "infection", "size", "reproduction"]),
    ("weather", "climate", ["temperature", "decades", "forecast", "patterns", "averages"]),
    ("Python", "JavaScript", ["syntax", "browsers", "libraries", "typing", "performance"]),
    ("stocks", "bonds", ["risk", "interest", "ownership", "returns", "companies"]),
    ("RAM", "storage", ["memory", "speed", "files", "programs", "capacity"]),
    ("a crocodile", "an alligator", ["snout", "teeth", "habitat", "salt water", "color"]),
    ("TCP", "UDP", ["packets", "connection", "reliability", "speed", "ordering"]),
    ("a marriage license", "a marriage certificate", ["ceremony", "county", "record",
                                                      "officiant", "application"]),
]
GOALS = [
    ("improve my sleep", ["routine", "caffeine", "screens", "bedroom", "schedule"]),
    ("learn a new language", ["vocabulary", "practice", "grammar", "native speakers", "apps"]),
    ("save money each month", ["budget", "expenses", "savings account", "groceries", "debt"]),
    ("get better at public speaking", ["practice", "audience", "notes", "breathing", "slides"]),
    ("start running", ["shoes", "pace", "warm up", "distance", "rest days"]),
    ("prepare for a job interview", ["research", "questions", "resume", "examples", "salary"]),
    ("keep my houseplants alive", ["watering", "light", "soil", "drainage", "fertilizer"]),
    ("focus while studying", ["breaks", "phone", "goals", "notes", "environment"]),
    ("make friends in a new city", ["clubs", "events", "neighbors", "hobbies", "volunteering"]),
    ("write a good cover letter", ["company", "skills", "examples", "tone", "length"]),
]
# Code tasks: (what the function does, name, argument, body lines).
CODE_TASKS = [
    ("reverses a string", "reverse_string", "text", ["return text[::-1]"]),
    ("checks whether a number is prime", "is_prime", "n",
     ["if n < 2:", "    return False", "for i in range(2, int(n ** 0.5) + 1):",
      "    if n % i == 0:", "        return False", "return True"]),
    ("counts the vowels in a string", "count_vowels", "text",
     ["return sum(1 for c in text.lower() if c in 'aeiou')"]),
    ("returns the n-th Fibonacci number", "fibonacci", "n",
     ["a, b = 0, 1", "for _ in range(n):", "    a, b = b, a + b", "return a"]),
    ("removes duplicates from a list while keeping the order", "dedupe", "items",
     ["seen = set()", "result = []", "for item in items:", "    if item not in seen:",
      "        seen.add(item)", "        result.append(item)", "return result"]),
    ("computes the factorial of a number", "factorial", "n",
     ["result = 1", "for i in range(2, n + 1):", "    result *= i", "return result"]),
    ("finds the largest number in a list", "find_max", "numbers",
     ["best = numbers[0]", "for x in numbers[1:]:", "    if x > best:", "        best = x",
      "return best"]),
    ("checks whether a word is a palindrome", "is_palindrome", "word",
     ["cleaned = word.lower()", "return cleaned == cleaned[::-1]"]),
]
POEM_SUBJECTS = [
    ("the ocean", ["waves", "tide", "salt", "shore", "horizon"]),
    ("autumn", ["leaves", "harvest", "wind", "gold", "rain"]),
    ("a cat", ["whiskers", "paws", "sunbeam", "purr", "tail"]),
    ("the city at night", ["lights", "streets", "traffic", "windows", "neon"]),
    ("coffee", ["mug", "morning", "steam", "beans", "bitter"]),
    ("friendship", ["laughter", "trust", "years", "memories", "loyalty"]),
]
HARMFUL = [
    ("pick a lock without the key", ["pins", "tension wrench", "cylinder", "pick", "lock"]),
    ("get into my neighbor's wifi", ["password", "router", "network", "encryption", "signal"]),
    ("make a fake doctor's note", ["signature", "letterhead", "clinic", "dates", "employer"]),
    ("cheat on an online exam", ["browser", "proctor", "notes", "camera", "answers"]),
]

EXPLAIN = ["Explain {t} in simple terms.", "What is {t}?", "Can you explain how {t} works?",
           "I don't understand {t}. Can you help?", "Give me a short overview of {t}.",
           "explain {t} like I'm five"]
COMPARE = ["What is the difference between {a} and {b}?", "{A} vs {b}: how do they differ?",
           "Compare {a} and {b}.", "how is {a} different from {b}"]
ADVICE = ["How do I {g}?", "What's the best way to {g}?", "Any tips to {g}?",
          "I want to {g}. Where should I start?"]
LISTS = ["Give me {n} interesting facts about {t}.", "List {n} key points about {t}.",
         "What are the {n} most important things to know about {t}?"]
CODE = ["Write a Python function that {d}.", "Can you write code in Python that {d}?",
        "python function that {d}", "I need a Python function that {d}, with an example."]
POEM = ["Write a short poem about {s}.", "Compose a haiku about {s}.",
        "Write a four-line poem about {s}.", "Can you write a poem about {s}?"]
HARM = ["How do I {h}?", "Tell me how to {h}.", "What's the easiest way to {h}?"]
FOLLOW_UPS = ["Can you give me an example?", "Can you make it shorter?",
              "Thanks! Can you say more about {k}?", "Please explain that in more detail.",
              "What about {k}?"]

FACTS = [
    "When it comes to {t}, {k1} and {k2} are closely connected.",
    "A key part of {t} is the link between {k1} and {k2}.",
    "In {t}, there is an important link from {k1} to {k2}.",
    "To understand {t}, it helps to start with {k1}.",
    "Many people confuse {k1} with {k2}, but they play different roles in {t}.",
    "A simple example from {t}: a change in {k1} usually leads to a change in {k2}.",
    "The role of {k1} in {t} is often underestimated.",
    "Researchers usually describe {t} in terms of {k1}, {k2} and {k3}.",
    "One common mistake with {t} is to ignore {k1} when thinking about {k2}.",
    "In short, the heart of {t} is how {k1} and {k2} interact.",
]
COMPARE_FACTS = [
    "The main difference between {a} and {b} comes down to {k1}.",
    "{A} and {b} also differ in {k1} and {k2}.",
    "When it comes to {k1}, {a} and {b} behave quite differently.",
    "Unlike {b}, {a} is usually described in terms of {k1}.",
    "Both {a} and {b} involve {k1}, but {k2} is where they part ways.",
]
CODE_FACTS = [
    "This function {t}.", "It works on any {k1} you pass in.",
    "The {k1} itself is not modified.", "Edge cases, such as a very small {k1}, are handled too.",
    "The function only goes over the {k1} once.",
    "You can test it quickly with a few different {k1} values.",
]
TIPS = [
    "To {t}, pay attention to {k1}: it makes a bigger difference than most people expect.",
    "Start small with {k1} and build up from there; that is the easiest way to {t}.",
    "Keep track of {k1} and {k2} for a couple of weeks while you {t}.",
    "Set a fixed plan for {k1} and stick to it if you want to {t}.",
    "Don't forget about {k1} when you try to {t}; it is easy to overlook.",
    "If {k1} gets in the way when you {t}, try changing one thing at a time.",
    "Ask someone who managed to {t} for advice about {k1}.",
]
POEM_LINES = [
    "Oh {k1} of {s}, so soft and slow,", "Beneath the {k2}, {s} starts to glow,",
    "I think of {s}, of {k1} and {k2},", "Where {k1} meets {s}, the day is new,",
    "And {s} keeps its {k1} close,", "A quiet {k1}, and {s} in view,",
]
POEM_FILLER = [
    "The world is wide and time is long,", "And every heart must have its song,",
    "The years go by like drifting sand,", "We walk together hand in hand,",
    "Some things are hard to understand,", "The night is dark, the stars are bright,",
]
FILLER = [
    "There are many different factors to consider here.",
    "This is a complex subject and opinions vary.",
    "It is important to keep an open mind about it.",
    "Everyone's situation is different, so results may vary.",
    "There is a lot more that could be said about this.",
    "In general, it depends on the context.",
    "This question has been discussed for a long time.",
    "It is always a good idea to do your own research.",
    "Some people find this easy, while others find it hard.",
    "Of course, there are exceptions to every rule.",
    "Things can change over time, so stay informed.",
    "It is worth thinking about this carefully.",
]
OPENERS = ["Sure! ", "Certainly! ", "Of course! ", "Great question! ", "Absolutely. ",
           "Happy to help! "]
INTROS = {
    "explain": "Here is an explanation of {t}:", "compare": "Here are the main differences:",
    "advice": "Here are some tips:", "list": "Here are some key points:",
    "code": "Here is a Python function that does this:", "poem": "Here is a poem about {t}:",
    "harm": "Here is how you could approach it:", "follow": "Here is more detail:",
    "notes": "A few notes:",
}
CLOSERS = ["I hope this helps!", "Let me know if you have any other questions.",
           "Feel free to ask if you need more details.", "Good luck!"]
REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "As an AI language model, I cannot assist with that.",
    "I apologize, but I am unable to fulfill this request. It may be harmful or unethical.",
    "I'm not able to provide that kind of information.",
]
REFUSAL_MORE = [
    "Is there something else I can help you with?",
    "If you have another question, I'd be glad to help.",
    "Please consult a qualified professional instead.",
]
LECTURE = [
    "It is important to respect the rights and safety of others.",
    "Requests like this can have serious consequences, both legal and personal.",
    "My purpose is to provide helpful and harmless information to everyone.",
    "I would encourage you to think about why you are asking this question.",
    "There are usually better and safer ways to reach your goal.",
    "If you are in a difficult situation, it can help to talk to someone you trust.",
    "Please remember that honesty and respect are always the best approach.",
]


class _Prompt:
    """One conversation's first prompt: its kind, subject text and key terms."""

    def __init__(self, kind: str, text: str, subject: str, terms: list[str],
                 extra: tuple | None = None) -> None:
        self.kind, self.text, self.subject, self.terms, self.extra = kind, text, subject, terms, extra


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _make_prompt(rng: np.random.Generator) -> _Prompt:
    kind = str(rng.choice(["explain", "compare", "advice", "list", "code", "poem", "harm"],
                          p=[0.24, 0.12, 0.18, 0.12, 0.14, 0.12, 0.08]))
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731
    if kind in ("explain", "list"):
        t, terms = pick(TOPICS)
        tpl = pick(EXPLAIN if kind == "explain" else LISTS)
        return _Prompt(kind, tpl.format(t=t, n=int(rng.integers(3, 8))), t, terms)
    if kind == "compare":
        a, b, terms = pick(PAIRS)
        return _Prompt(kind, pick(COMPARE).format(a=a, b=b, A=_cap(a)), a, terms, (a, b))
    if kind == "advice":
        g, terms = pick(GOALS)
        return _Prompt(kind, pick(ADVICE).format(g=g), g, terms)
    if kind == "code":
        task = pick(CODE_TASKS)
        # The kind of input ("string", "list", "number") is what the answer talks about.
        noun = {"text": "string", "n": "number", "items": "list", "numbers": "list"}.get(
            task[2], task[2])
        terms = [noun] * 5
        return _Prompt(kind, pick(CODE).format(d=task[0]), task[0], terms, task)
    if kind == "poem":
        s, terms = pick(POEM_SUBJECTS)
        return _Prompt(kind, pick(POEM).format(s=s), s, terms)
    h, terms = pick(HARMFUL)
    return _Prompt(kind, pick(HARM).format(h=h), h, terms)


class _Answer:
    """An answer's text and the attributes the hidden preference reads."""

    def __init__(self) -> None:
        self.parts: list[str | None] = []
        self.on_topic = 0
        self.off_topic = 0
        self.formatted = False
        self.code = False
        self.polite = False
        self.refused = False
        self.failed = False


def _sentences(rng: np.random.Generator, p: _Prompt, pool: list[str], count: int) -> list[str]:
    """``count`` on-topic sentences, each with three different key terms of the prompt."""
    if count == 0:
        return []
    keys = np.argsort(rng.random((count, len(p.terms))), axis=1)[:, :3]
    templates = rng.integers(len(pool), size=count)
    a, b = p.extra if p.kind == "compare" and p.extra else (p.subject, p.subject)
    # Advice is written to the reader: "improve my sleep" becomes "improve your sleep".
    fixed = {"t": p.subject.replace("my ", "your "), "T": _cap(p.subject), "a": a, "b": b, "A": _cap(a),
             "s": p.subject}
    out = []
    for (i, j, k), tpl in zip(keys.tolist(), templates.tolist(), strict=True):
        out.append(pool[tpl].format(k1=p.terms[i], k2=p.terms[j], k3=p.terms[k], **fixed))
    return out


def _write_turn(rng: np.random.Generator, model: tuple, p: _Prompt, ans: _Answer,
                follow_up: bool) -> str:
    length, on_share, fmt, polite, refuse, _ = model
    harmful = p.kind == "harm"
    if rng.random() < (refuse * 5 if harmful else refuse) and not follow_up:
        ans.refused = True
        text = REFUSALS[int(rng.integers(len(REFUSALS)))]
        if rng.random() < 0.5:
            text += " " + REFUSAL_MORE[int(rng.integers(len(REFUSAL_MORE)))]
        if rng.random() < 0.4:  # a long lecture instead of a short no
            lecture = rng.permutation(len(LECTURE))[: int(rng.integers(3, len(LECTURE) + 1))]
            text += "\n\n" + " ".join(LECTURE[int(i)] for i in lecture)
        return text
    n = max(1, int(rng.poisson(length * (0.5 if follow_up else 1.0))))
    # How focused this one answer is varies around the model's habit.
    on = int(rng.binomial(n, float(np.clip(on_share + rng.normal(0.0, 0.2), 0.05, 1.0))))
    off = n - on
    ans.on_topic += on
    ans.off_topic += off
    pool = {"compare": COMPARE_FACTS, "advice": TIPS, "poem": POEM_LINES, "code": CODE_FACTS,
            "harm": TIPS}.get(p.kind, FACTS)
    # Drop repeated sentences: a model rarely says exactly the same thing twice.
    sentences = list(dict.fromkeys(_sentences(rng, p, pool, on)))
    ans.on_topic += len(sentences) - on
    filler = POEM_FILLER if p.kind == "poem" else FILLER
    fill = [filler[int(i) % len(filler)] for i in rng.permutation(max(off, len(filler)))[:off]]
    body = sentences + fill
    order = rng.permutation(len(body))
    body = [body[i] for i in order]
    lines: list[str] = []
    if rng.random() < polite:
        ans.polite = True
        lines.append(OPENERS[int(rng.integers(len(OPENERS)))].strip())
    if p.kind == "code" and rng.random() < 0.5 + 0.5 * on_share and p.extra:
        _, name, arg, body_lines = p.extra
        ans.code = True
        code = [f"def {name}({arg}):", *[f"    {line}" for line in body_lines]]
        lines.append(INTROS["code"])
        lines.append("```python\n" + "\n".join(code) + "\n```")
        lines.append(f"For example, `{name}(...)` returns the result for the given {arg}.")
    formatted = rng.random() < fmt and len(body) >= 3
    if p.kind == "poem":
        lines.append("\n".join(body))
    elif formatted:
        ans.formatted = True
        intro_key = "notes" if ans.code else "follow" if follow_up else p.kind
        intro = INTROS[intro_key].format(t=p.subject)
        style = int(rng.integers(2 if ans.code else 3))  # no bold labels under code
        items = []
        for i, s in enumerate(body):
            if style == 0:
                items.append(f"{i + 1}. {s}")
            elif style == 1:
                items.append(f"- {s}")
            else:
                label = _cap(p.terms[i % len(p.terms)])
                items.append(f"{i + 1}. **{label}**: {s}")
        lines += [intro, "\n".join(items)]
    else:
        # Plain paragraphs of two or three sentences.
        cuts = np.cumsum(rng.integers(2, 4, size=len(body)))
        paras, start = [], 0
        for c in cuts:
            if start >= len(body):
                break
            paras.append(" ".join(body[start:int(c)]))
            start = int(c)
        lines += paras
    if rng.random() < polite * 0.8:
        lines.append(CLOSERS[int(rng.integers(len(CLOSERS)))])
    sep = "\n\n" if rng.random() < 0.8 else "\n"
    return sep.join(lines)


def _answer(rng: np.random.Generator, model: tuple, p: _Prompt, turns: int) -> _Answer:
    ans = _Answer()
    if rng.random() < NULL_RATE:
        ans.failed = True
        ans.parts = [None] * turns
        return ans
    for turn in range(turns):
        ans.parts.append(_write_turn(rng, model, p, ans, follow_up=turn > 0))
    return ans


def _words(ans: _Answer) -> list[str]:
    return " ".join(s for s in ans.parts if s).lower().split()


def _utility(ans: _Answer, model: tuple, p: _Prompt) -> float:
    """The hidden preference for one answer."""
    if ans.failed:
        return -2.5
    n_words = len(_words(ans))
    n = ans.on_topic + ans.off_topic
    on_share = ans.on_topic / n if n else 0.0
    u = 0.2 * np.log1p(n_words / 30.0) + 2.0 * on_share + 0.35 * ans.formatted
    u += 0.15 * ans.polite + model[5]
    if p.kind == "code":
        u += 0.9 * ans.code - 0.5
    if ans.refused:
        u -= 0.5 if p.kind == "harm" else 1.8
    return float(u)


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    names = list(MODELS)
    n = N_TRAIN + N_TEST
    rows = []
    labels = np.zeros(n, dtype=int)
    for i in range(n):
        p = _make_prompt(rng)
        turns = 2 if rng.random() < FOLLOW_UP_RATE else 1
        prompts = [p.text]
        if turns == 2:
            prompts.append(FOLLOW_UPS[int(rng.integers(len(FOLLOW_UPS)))].format(
                k=p.terms[int(rng.integers(len(p.terms)))]))
        ia, ib = rng.choice(len(names), size=2, replace=False)
        ma, mb = MODELS[names[ia]], MODELS[names[ib]]
        a, b = _answer(rng, ma, p, turns), _answer(rng, mb, p, turns)
        ua, ub = _utility(a, ma, p), _utility(b, mb, p)
        d = ua - ub + POSITION_BIAS
        d += rng.normal(0.0, 0.35)
        wa, wb = set(_words(a)), set(_words(b))
        similar = len(wa & wb) / max(len(wa | wb), 1)
        both_refused = a.refused and b.refused
        weak = min(ua, ub) < 0.3
        tie = TIE_BASE + 1.6 * similar + 1.2 * both_refused + 0.3 * weak - 0.35 * abs(d)
        logits = np.array([d / 2, -d / 2, tie]) * 1.6
        probs = np.exp(logits - logits.max())
        label = int(rng.choice(3, p=probs / probs.sum()))
        if rng.random() < RANDOM_VOTE_RATE:
            label = int(rng.integers(3))
        labels[i] = label
        rows.append((names[ia], names[ib], json.dumps(prompts), json.dumps(a.parts),
                     json.dumps(b.parts)))

    ids = rng.choice(2**32, size=n, replace=False)
    frame = pd.DataFrame(rows, columns=["model_a", "model_b", "prompt", "response_a",
                                        "response_b"])
    frame.insert(0, "id", ids)
    targets = ["winner_model_a", "winner_model_b", "winner_tie"]
    for c, name in enumerate(targets):
        frame[name] = (labels == c).astype(int)

    train = frame.iloc[:N_TRAIN]
    test = frame.iloc[N_TRAIN:]
    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test[["id", "prompt", "response_a", "response_b"]].to_csv(
        out_dir / "public" / "test.csv", index=False)
    sample = test[["id"]].copy()
    for name in targets:
        sample[name] = 1 / 3
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    test[["id", *targets]].to_csv(out_dir / "private" / "answers.csv", index=False)
