"""Offline "lite" data for tweet-sentiment: template tweets with a marked sentiment span.

Each tweet is a list of whitespace tokens glued from parts: an opener or @mention, an everyday
event ("stuck in traffic", "studying for finals"), a time word, and, for positive and negative
tweets, one sentiment phrase (an optional intensifier, a core such as "can't wait",
"miss you" or "worst day ever", and trailing "!!" or "..." attached to its last word), often
followed by an emoticon, a hashtag or a link. Some tweets carry a second phrase of the same
feeling, a contrasting phrase of the other feeling ("work was awful but ... so happy"), or a
negation ("not bad" is positive, "not fun" negative).

`selected_text` is the span of tokens that carries the labelled sentiment, as a human annotator
would mark it, with the annotators' habits and noise:

* neutral tweets: mostly the whole text, sometimes the tweet without its opener or link;
* positive / negative tweets: the sentiment phrase; sometimes one token more on either side,
  the emoticon after it, both phrases, the intensifier dropped or the trailing punctuation
  stripped; short tweets (and some others) are selected whole.

A baseline that copies neutral tweets and looks up single words in a small lexicon scores
moderately; a model that learns from the training spans which tokens (in context) belong to the
selection, and where spans start and end, scores clearly better.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 3000
N_TEST = 1000
SENTIMENTS = ("neutral", "positive", "negative")
PRIORS = np.array([0.405, 0.312, 0.283])  # as in the Kaggle training set

NAMES = ["@jess_b", "@mikey22", "@sarahlou", "@djmark", "@katie_x", "@tomwilson", "@lilmiss",
         "@benji", "@annaxo", "@chrisp", "@emmyrose", "@jayjay", "@nickyd", "@laurenk"]
OPENERS = ["omg", "lol", "haha", "well", "ok so", "hey", "oh", "wow", "hmm", "yeah", "so", "aww",
           "argh", "man"]
EVENTS = [
    "just got home from work", "going to the mall with my sister", "watching the game",
    "finally finished my homework", "waiting for the bus", "my phone is almost dead",
    "at the airport", "stuck in traffic", "making pancakes for breakfast",
    "the weekend is almost here", "studying for finals", "listening to the new album",
    "heading to bed", "it is raining again", "cleaning my room", "up early for work",
    "trying to fix my laptop", "back from the gym", "watching a movie", "on my way to school",
    "just woke up", "at my grandma's house", "getting ready for the party", "doing laundry",
    "my mom made dinner", "driving to the beach", "the concert was last night",
    "working a double shift", "my cat is sleeping on my keyboard", "reading in the park",
    "got a new haircut", "the car broke down", "twitter is slow", "eating ice cream",
    "painting my nails", "the dog ate my sandwich", "moving to a new apartment",
    "first day at the new job", "watching the rain", "packing for the trip",
]
COMMENTS = [
    "need more coffee", "guess i'll just wait", "going to call my mom later",
    "then dinner with the girls", "might go to bed early", "the weather is weird",
    "have to be up at six", "my brother is still asleep", "not sure what to wear",
    "work again tomorrow", "then off to the library", "the new episode is on later",
    "still have to pack", "my sister is visiting", "the traffic here is crazy",
    "going out with friends later", "no plans for the weekend", "the bus is late",
]
TIMES = ["today", "tonight", "this morning", "right now", "again", "all day", "tomorrow",
         "this weekend", "lately", "at last"]
QUESTIONS = [
    "anyone know what time the show starts", "where are you guys", "did you see the news",
    "what are you doing tonight", "is it friday yet", "who is going to the game",
    "has anyone tried the new place downtown", "what should i watch next",
]
TAILS_NEUTRAL = ["lol", "haha", "#fb", "#random", "http://bit.ly/4kx2p", "http://twitpic.com/3fz8",
                 "...", "hmm", "#tuesday"]

POSITIVE = [
    "love it", "so happy", "can't wait", "awesome", "had a great time", "best day ever",
    "thank you", "thanks", "excited", "good luck", "happy mother's day", "congrats", "enjoy",
    "glad", "proud of you", "so much fun", "amazing", "beautiful", "yay", "nice", "love you",
    "cool", "sweet", "lovely", "have a great day", "feeling good", "good morning", "not bad",
    "made my day", "looking forward to it", "hope you feel better", "so cute", "well done",
    "haha that's brilliant", "great", "perfect", "fantastic", "i'm so lucky", "good times",
    "the best",
]
NEGATIVE = [
    "sad", "hate", "miss you", "sucks", "tired", "bored", "feel sick", "hurts",
    "worst day ever", "not happy", "annoying", "boring", "sorry", "poor thing", "depressed",
    "lonely", "wish i could go", "stupid", "broke", "not fair", "can't sleep", "headache",
    "disappointed", "failed", "not fun", "i'm so done", "this is awful", "missing you",
    "no one cares", "terrible", "scared", "crying", "i feel bad", "ruined my day",
    "that's horrible", "bad", "upset", "ugh hate this", "so over it", "pissed off",
]
# Single-word cores that take an intensifier ("so tired", "really cool").
GRADABLE = {"awesome", "excited", "glad", "amazing", "beautiful", "nice", "cool", "sweet", "lovely",
            "great", "perfect", "fantastic", "sad", "tired", "bored", "annoying", "boring",
            "sorry", "depressed", "lonely", "stupid", "broke", "disappointed", "terrible",
            "scared", "bad", "upset"}
INTENSIFIERS = ["so", "really", "very", "soooo", "totally", "sooo", "just", "super"]
PUNCT = ["", "", "", "!", "!!", "!!!", "...", ".", "!!!!"]
EMOTICONS = {"positive": [":)", ":D", "<3", ";)", "=)", "xx"],
             "negative": [":(", ":'(", ":/", "D:", "=("]}
HASHTAGS = {"positive": ["#happy", "#love", "#winning", "#blessed"],
            "negative": ["#fail", "#fml", "#sad", "#mondays"]}
CONTRAST = {"positive": ["work was awful but", "i was sad earlier but", "hate mondays but",
                         "so tired but"],
            "negative": ["i love summer but", "it was fun but", "great weather but",
                         "happy for them but"]}

# Annotator habits for positive / negative tweets.
P_WHOLE = 0.10  # select the whole tweet anyway
P_WHOLE_SHORT = 0.55  # ... when the tweet has at most four tokens
P_EXTEND_LEFT = 0.22  # one to three tokens more on the left
P_EXTEND_RIGHT = 0.15  # one or two tokens more on the right
P_WITH_EMOTICON = 0.45  # an emoticon right after the phrase is included
P_BOTH_PHRASES = 0.5  # with two phrases, select from the first to the second
P_DROP_INTENSIFIER = 0.12
P_STRIP_PUNCT = 0.3  # "happy!!" selected as "happy"
P_CUT_WORD = 0.06  # the selection starts inside a word ("appy!!"), a quirk of the real labels
P_NEUTRAL_PART = 0.15  # neutral: select part of the tweet instead of all of it


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.random() * len(items))]


def _phrase(rng: np.random.Generator, sentiment: str) -> list[str]:
    """Tokens of one sentiment phrase; the first may be an intensifier."""
    core = _pick(rng, POSITIVE if sentiment == "positive" else NEGATIVE).split()
    if core[0] in GRADABLE and rng.random() < 0.4:
        core = [_pick(rng, INTENSIFIERS)] + core
    core[-1] += _pick(rng, PUNCT)
    if rng.random() < 0.15:
        core[0] = core[0].upper() if rng.random() < 0.3 else core[0].capitalize()
    return core


def _context(rng: np.random.Generator) -> list[str]:
    """Everyday chatter: an event, maybe a time word, maybe a second remark."""
    tokens = _pick(rng, EVENTS).split()
    if rng.random() < 0.4:
        tokens += _pick(rng, TIMES).split()
    if rng.random() < 0.55:
        tokens[-1] += _pick(rng, [",", "...", ".", "", " -", "!"])
        tokens += _pick(rng, COMMENTS).split()
    return tokens


def _neutral(rng: np.random.Generator) -> tuple[list[str], int, int]:
    """A neutral tweet and its selected span [a, b)."""
    head: list[str] = []
    if rng.random() < 0.25:
        head.append(_pick(rng, NAMES))
    if rng.random() < 0.25:
        head.extend(_pick(rng, OPENERS).split())
    if rng.random() < 0.2:
        body = (_pick(rng, QUESTIONS) + "?").split()
    else:
        body = _context(rng)
        body[-1] += _pick(rng, PUNCT)
    tail = [_pick(rng, TAILS_NEUTRAL)] if rng.random() < 0.3 else []
    tokens = head + body + tail
    if rng.random() < P_NEUTRAL_PART and (head or tail):
        return tokens, len(head), len(head) + len(body)
    return tokens, 0, len(tokens)


def _polar(rng: np.random.Generator, sentiment: str) -> tuple[list[str], int, int]:
    """A positive or negative tweet and its selected span [a, b)."""
    pre: list[str] = []
    if rng.random() < 0.25:
        pre.append(_pick(rng, NAMES))
    if rng.random() < 0.2:
        pre.extend(_pick(rng, OPENERS).split())
    layout = rng.random()
    context = _context(rng)
    phrase = _phrase(rng, sentiment)
    if layout < 0.5:  # context, then the phrase; sometimes a contrast of the other feeling
        if rng.random() < 0.3:
            context += _pick(rng, CONTRAST[sentiment]).split()
        tokens = pre + context + phrase
    elif layout < 0.85:  # the phrase, then the context
        tokens = pre + phrase + context
    else:  # a short tweet: the phrase alone, maybe with a mention
        tokens = pre + phrase
    a = len(pre) + (len(context) if layout < 0.5 else 0)
    b = a + len(phrase)
    second = None
    if rng.random() < 0.15:
        more = _phrase(rng, sentiment)
        second = (len(tokens), len(tokens) + len(more))
        tokens += more
    if rng.random() < 0.35:
        if b == len(tokens) and rng.random() < P_WITH_EMOTICON:
            b += 1
        tokens.append(_pick(rng, EMOTICONS[sentiment]))
    if rng.random() < 0.12:
        tokens.append(_pick(rng, HASHTAGS[sentiment] + TAILS_NEUTRAL))

    # The annotator's span.
    if rng.random() < (P_WHOLE_SHORT if len(tokens) <= 4 else P_WHOLE):
        return tokens, 0, len(tokens)
    if second and rng.random() < P_BOTH_PHRASES:
        b = second[1]
    if b - a > 1 and tokens[a].lower() in INTENSIFIERS and rng.random() < P_DROP_INTENSIFIER:
        a += 1
    if a > 0 and rng.random() < P_EXTEND_LEFT:
        a = max(0, a - 1 - int(rng.integers(3)))
    if b < len(tokens) and rng.random() < P_EXTEND_RIGHT:
        b = min(len(tokens), b + 1 + int(rng.integers(2)))
    return tokens, a, b


def _strip_end(selected: str) -> str:
    stripped = selected.rstrip("!.")
    return stripped if stripped.strip() else selected


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    labels = rng.choice(len(SENTIMENTS), size=n, p=PRIORS)
    texts, selected = [], []
    for k in range(n):
        sentiment = SENTIMENTS[labels[k]]
        if sentiment == "neutral":
            tokens, a, b = _neutral(rng)
        else:
            tokens, a, b = _polar(rng, sentiment)
        sel = " ".join(tokens[a:b])
        if sentiment != "neutral" and rng.random() < P_STRIP_PUNCT:
            sel = _strip_end(sel)
        if len(tokens[a]) > 3 and rng.random() < P_CUT_WORD:
            sel = sel[1 + int(rng.integers(2)):]
        text = " ".join(tokens)
        # Raw tweets often start with a space; a few have doubled spaces.
        if rng.random() < 0.3:
            text = " " + text
        if rng.random() < 0.05:
            text = text.replace(" ", "  ", 1)
        texts.append(text)
        selected.append(sel)

    numbers = rng.choice(16**10, size=n, replace=False)
    ids = [f"{x:010x}" for x in numbers]
    sentiments = np.array(SENTIMENTS)[labels]
    train = pd.DataFrame({"textID": ids[:N_TRAIN], "text": texts[:N_TRAIN],
                          "selected_text": selected[:N_TRAIN], "sentiment": sentiments[:N_TRAIN]})
    test = pd.DataFrame({"textID": ids[N_TRAIN:], "text": texts[N_TRAIN:],
                         "sentiment": sentiments[N_TRAIN:]})
    answers = pd.DataFrame({"textID": test["textID"], "selected_text": selected[N_TRAIN:]})
    # Like MLE-bench's sample submission: every selected_text empty, which scores 0.
    sample = pd.DataFrame({"textID": test["textID"], "selected_text": ""})

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
