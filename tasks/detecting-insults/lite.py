"""Offline "lite" data for detecting-insults: synthetic forum comments, some of them insults.

Comments are built from sentence templates and word pools about politics, sports, technology,
entertainment and local news, in the style of the Kaggle files: every comment is wrapped in
literal double quotes and some carry unicode escapes written out as text (``\\u2019``,
``\\xa0``, ``\\\\xc2\\\\xa0``, ``\\n``). About 18% of the dates are blank.

What decides the label, and what each kind of model can see:

* insult words ("idiot", "moron", "loser" ...) appear in insults AND in comments about third
  parties ("the mayor is an idiot"), in denials ("you are not an idiot", "I never said you
  are an idiot"), in self-mockery and in talk about insults ("calling people morons ..."),
  which are not insults (Kaggle's guidelines). The same sentence frames are used for either
  target, and comments that aim an insult word at someone usually also address the reader
  and name a third party elsewhere, so what decides the label is word order (whom the word is
  aimed at, and whether it is denied): word pairs and triples catch it, single words only
  partly;
* many comments say "you" without insulting anybody ("you make a good point");
* insult words are often disguised ("m0r0n", "id*ot", "stuuupid", "L O S E R"), which
  character n-grams recognise and a word tokenizer turns into rare, unseen tokens;
* some insults use no insult word at all ("nobody cares what you think").

A few labels are flipped at random and some comment kinds are insults only part of the time
(sarcasm), so a perfect score is out of reach.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 2400
N_TEST = 1600
LABEL_NOISE = 0.01  # share of labels flipped
BLANK_DATE = 0.18  # share of comments without a timestamp, as in the Kaggle files
DISGUISE = 0.5  # chance that an insult word is disguised (both classes alike)

INSULT_NOUNS = [
    "idiot", "moron", "loser", "clown", "fool", "imbecile", "retard", "jackass", "dumbass",
    "asshole", "troll", "douchebag", "hypocrite", "coward", "dork", "twit", "scumbag", "bigot",
    "dimwit", "nitwit", "buffoon", "jerk",
]
INSULT_ADJS = [
    "stupid", "pathetic", "ignorant", "clueless", "dumb", "worthless", "brainless", "sad",
    "fat", "ugly", "miserable", "delusional", "useless", "spineless", "braindead", "idiotic",
]
PROFANE = ["fucking", "damn", "goddamn", "freaking", "bloody", "friggin"]
THIRD_PARTIES = [
    "the mayor", "the senator", "the governor", "the president", "the coach", "the ref",
    "that reporter", "the author of this article", "the CEO", "the quarterback", "that singer",
    "the city council", "the commissioner", "our congressman", "the GM", "the judge",
    "the pitcher", "the head of the union", "the new manager", "that blogger",
]
THIRD_GROUPS = [
    "the refs", "these politicians", "the owners", "Congress", "the fans in Boston",
    "the media", "the lawyers", "the bankers", "the voters in that district", "the critics",
    "the players on that team", "the city planners", "the protesters", "the executives",
]
TOPIC_NOUNS = [
    "the tax plan", "the budget", "the new stadium", "the election", "health care", "the trade",
    "the draft", "the defense", "the new phone", "the update", "this album", "the movie",
    "the bridge project", "the school board vote", "the gas tax", "the bailout", "the playoff format",
    "the merger", "the new law", "the season finale", "the zoning change", "the game last night",
    "the rate hike", "the speech", "the recall", "the pension reform", "the bus plan",
]
OPINIONS = [
    "is going to hurt small businesses", "makes no sense to me", "was a long time coming",
    "will cost more than they admit", "is better than most people think", "was a total mess",
    "deserves a second look", "is the best thing to happen here in years",
    "will be forgotten in a month", "is mostly hype", "could change everything",
    "was handled badly from the start", "looks good on paper", "is way overpriced",
    "was the right call", "needs more public input", "is getting too much attention",
]
NEUTRAL_SENTENCES = [
    "I have lived here for twenty years and never seen anything like it.",
    "Does anyone know when the next meeting is?",
    "Great game last night, the defense finally showed up.",
    "My brother works there and says the same thing.",
    "Check the numbers before you decide.",
    "The article leaves out the most important part.",
    "I used to think that too, but the data says otherwise.",
    "That was the best concert I have been to all year.",
    "Let us wait and see what happens next week.",
    "The traffic on that road is terrible every morning.",
    "Honestly the second half was much better than the first.",
    "This is the third time this year they have raised prices.",
    "I switched phones last month and I am much happier.",
    "Good luck to everyone running in the marathon.",
    "The old system worked fine, why change it?",
    "They should have traded him before the deadline.",
    "Nice to see some good news for once.",
    "I read the whole report and it is pretty balanced.",
    "Where can I find the full schedule?",
    "This song has been stuck in my head all day.",
]
YOU_NEUTRAL = [
    "you make a good point about {topic}",
    "I see what you mean, but {topic} {opinion}",
    "thanks for the link, you are right about {topic}",
    "you should read the whole thing before deciding",
    "I agree with you on {topic}",
    "you might want to check the date on that story",
    "you are wrong about {topic}",
    "you are an expert on this, what do you think",
    "have you seen what {third} said about {topic}?",
    "you are right, {topic} {opinion}",
    "I respectfully disagree with you, {topic} {opinion}",
    "if you look at the numbers, {topic} {opinion}",
    "you can watch the replay online",
    "did you see {topic}?",
    "you are welcome to come to the next meeting",
    "I think you are confusing {topic} with something else",
]
# Insults aimed at someone, written once: {who} is the person being answered ("you") in an
# insult and someone outside the conversation ("the mayor", "the refs") otherwise. {a}, {be}
# and {nouns} follow the target's number.
AIMED_FRAMES = [
    "{who} {be} such {a} {adj} {nouns}",
    "{who} {be} {a} {nouns}",
    "what {a} {adj} {nouns} {who} {be}",
    "{who} {be} {a} {profane} {nouns}",
    "{who} {be} the biggest {nouns} around here",
    "only {a} {nouns} like {whom} would say that",
    "{who} must be {a} {adj} {nouns} to believe that",
    "{who} {be} too {adj} to understand {topic}",
    "{who} {be} acting like {a} {nouns} again",
    "I can't believe how {adj} {who} {be}",
    "{who} {be} {a} bigger {nouns} than {other}",
    "{who} {be} {adj}",
    "{poss} take on {topic} is {adj}",
]
# Lead-ins used with either target ("you know, you are ..." / "you know, the mayor is ...").
LEADS = [
    "you know, ", "you realize ", "you have to admit ", "don't you think ", "trust me, ",
    "face it, ", "honestly, ", "seriously, ", "let's be honest, ", "clearly ",
]
DENIALS = [
    "I never said ", "nobody here thinks ", "I don't think ", "no one is saying ",
    "it's not true that ", "I didn't mean that ",
]
# Only ever said to the person being answered.
DIRECT_EXTRA = [
    "shut up, you {adj} {noun}",
    "go away, you {noun}",
    "keep talking, you {noun}",
    "get lost, you {adj} {noun}",
    "u r a {adj} {noun}",
    "you {adj} {noun}",
]
# Only ever said about others.
THIRD_EXTRA = [
    "{group} are a bunch of {adj} {noun}s",
    "whoever hired {third} is {a} {noun}",
    "{third} should resign, what {a} {noun}",
]
# Insults without an insult word.
WORDLESS_INSULTS = [
    "nobody cares what you think",
    "go back to your mom's basement",
    "did your mother drop you on your head as a baby",
    "learn to read before you post",
    "your ignorance is astounding",
    "get a life and stop posting here",
    "you clearly have no idea what you are talking about",
    "do the world a favor and stop typing",
    "people like you are the reason this country is in trouble",
    "you have the brains of a doorknob",
    "I have seen smarter comments from a toddler",
    "crawl back under your rock",
]
SELF_MOCK = [
    "I'm such an {noun}, I forgot to record it",
    "I was a {adj} {noun} to believe them last year",
    "call me an {noun} but I still like {topic}",
    "I felt like a total {noun} after reading that",
    "you must think I am an {noun}, but hear me out",
    "I am too {adj} to understand {topic}",
]
# Talk about insults, or a denial: these mention "you" and an insult word, yet insult nobody.
ABOUT_INSULTS = [
    "calling people {noun}s does not win the argument",
    "there is no need to call anyone an {noun} here",
    "I would never call you an {noun}, you just have the facts wrong",
    "you are not a {noun}, just misinformed",
    "please keep it civil, nobody here is a {noun}",
    "whoever called you a {noun} should apologize",
    "you are not {adj}, you just need better sources",
]
PROFANE_NEUTRAL = [
    "that was a {profane} great goal",
    "this {profane} weather needs to stop",
    "holy shit, {topic} {opinion}",
    "{topic} is {profane} ridiculous",
    "damn, I did not see that coming",
    "{profane} finally, {topic} {opinion}",
]
SARCASM = [
    "nice job, genius",
    "wow, you are a real genius",
    "brilliant argument, Einstein",
    "thanks for sharing your wisdom, professor",
]
THIRD_MENTIONS = [
    "{third} said {topic} {opinion}",
    "I heard {third} on the radio this morning",
    "{group} will never admit it",
    "{group} said {topic} {opinion}",
    "{group} had a rough week",
    "ask {group} what happened to {topic}",
    "{third} voted against {topic}",
    "ask {third} what happened to {topic}",
    "{third} had a rough week",
    "{third} is up for reelection next year",
    "{third} is on TV again tonight",
    "{third} is right about one thing",
    "{group} are meeting again next week",
]
OPENERS = ["@{handle} ", "{handle}, ", "lol ", "Wow. ", "Really? ", "Ok ", "Sorry but ", "LOL "]
HANDLES = [
    "Mike", "jenny_k", "truthseeker", "Dave", "bigred", "sportsfan77", "Patriot1776", "Sam",
    "realist", "kevin", "Maria", "guest", "jt23", "Liberty", "grumpy", "Tom", "Anna",
]
LEET = {"o": "0", "i": "1", "e": "3", "a": "@", "s": "$"}


def _pick(rng: np.random.Generator, pool: list[str]) -> str:
    return pool[int(rng.integers(len(pool)))]


def _disguise(rng: np.random.Generator, word: str) -> str:
    """Spell an offensive word the way commenters dodge filters."""
    kind = int(rng.integers(5))
    if kind == 0:  # leetspeak
        return "".join(LEET.get(c, c) if rng.random() < 0.7 else c for c in word)
    if kind == 1 and len(word) > 3:  # asterisks inside the word
        k = max(1, len(word) // 3)
        start = 1 + int(rng.integers(len(word) - k - 1))
        return word[:start] + "*" * k + word[start + k :]
    if kind == 2:  # stretched vowels
        vowels = [i for i, c in enumerate(word) if c in "aeiou"]
        if vowels:
            i = vowels[int(rng.integers(len(vowels)))]
            return word[: i + 1] + word[i] * int(rng.integers(2, 5)) + word[i + 1 :]
        return word
    if kind == 3:  # shouting
        return word.upper()
    return " ".join(word.upper())  # spaced letters


def _fill(rng: np.random.Generator, template: str) -> str:
    """Fill a template's slots; offensive words may be disguised."""
    def offensive(pool: list[str]) -> str:
        word = _pick(rng, pool)
        return _disguise(rng, word) if rng.random() < DISGUISE else word

    def plural(word: str) -> str:
        return word + ("es" if word.endswith("s") else "s")

    out = template
    for slot, make in (
        ("{nouns}", lambda: offensive([plural(w) for w in INSULT_NOUNS])),
        ("{noun}", lambda: offensive(INSULT_NOUNS)),
        ("{adj}", lambda: offensive(INSULT_ADJS)),
        ("{profane}", lambda: offensive(PROFANE)),
        ("{third}", lambda: _pick(rng, THIRD_PARTIES)),
        ("{group}", lambda: _pick(rng, THIRD_GROUPS)),
        ("{topic}", lambda: _pick(rng, TOPIC_NOUNS)),
        ("{opinion}", lambda: _pick(rng, OPINIONS)),
        ("{a}", lambda: "a"),
    ):
        while slot in out:
            out = out.replace(slot, make(), 1)
    # "an" before a consonant (or "a" before a vowel) would look machine-made.
    words = [w for w in out.split(" ") if w]
    for i in range(len(words) - 1):
        nxt = words[i + 1].lstrip("*").lower()
        if words[i] in ("a", "an") and nxt:
            words[i] = "an" if nxt[0] in "aeiou" and not nxt.startswith("use") else "a"
    return " ".join(words)


def _aimed(rng: np.random.Generator, at_you: bool, denied: bool = False) -> str:
    """An insult frame aimed at the reader (an insult) or at a third party (not one).

    ``denied`` turns the frame aimed at the reader into a denial ("you are not an idiot",
    "I never said you are an idiot"), which is not an insult either.
    """
    if rng.random() < 0.2 and not denied:
        return _pick(rng, DIRECT_EXTRA if at_you else THIRD_EXTRA)
    frame = _pick(rng, AIMED_FRAMES)
    if denied:
        while not frame.startswith("{who}"):  # frames that a denial can lead into
            frame = _pick(rng, AIMED_FRAMES)
        if frame.startswith("{who} {be} ") and rng.random() < 0.6:
            frame = frame.replace("{who} {be} ", "{who} {be} not ", 1)
        else:
            frame = _pick(rng, DENIALS) + frame
    if at_you:
        plural = rng.random() < 0.15
        who = _pick(rng, ["you guys", "you people", "you two"]) if plural else "you"
        be, poss = "are", "your"
    else:
        plural = rng.random() < 0.4
        who = _pick(rng, THIRD_GROUPS if plural else THIRD_PARTIES)
        be, poss = ("are" if plural else "is"), who + ("'" if who.endswith("s") else "'s")
    # Contractions keep "are" and "is" alone from telling the two targets apart.
    if rng.random() < 0.35 and not frame.endswith("{be}") and (be == "is" or who == "you"):
        be = {"are": "'re", "is": "'s"}[be]
    lead = _pick(rng, LEADS) if rng.random() < 0.5 and not denied else ""
    other = _pick(rng, THIRD_PARTIES)
    if not plural:
        frame = frame.replace("{nouns}", "{noun}")
    frame = frame.replace("{a} ", "" if plural else "{a} ")
    frame = frame.replace(" {be}", be) if be.startswith("'") else frame
    return lead + (frame.replace("{who}", who).replace("{whom}", who).replace("{be}", be)
                   .replace("{poss}", poss).replace("{other}", other))


def _sentence(rng: np.random.Generator, template: str) -> str:
    text = _fill(rng, template)
    if not text.endswith((".", "?", "!")):
        text += _pick(rng, [".", ".", ".", "!", "!!", ""])
    return text[0].upper() + text[1:] if rng.random() < 0.8 else text


def _neutral(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return _pick(rng, NEUTRAL_SENTENCES)
    return _sentence(rng, "{topic} {opinion}")


# Comment kinds: (template pool, probability the comment is an insult, share of comments).
KINDS: dict[str, tuple[list[str], float, float]] = {
    "direct": (["<aimed at you>"], 0.97, 0.22),
    "wordless": (WORDLESS_INSULTS, 0.94, 0.05),
    "sarcasm": (SARCASM, 0.6, 0.03),
    "plain": ([], 0.01, 0.17),
    "you_neutral": (YOU_NEUTRAL, 0.02, 0.08),
    "third": (["<aimed at others>"], 0.03, 0.22),
    "self": (SELF_MOCK, 0.03, 0.04),
    "about": (ABOUT_INSULTS, 0.06, 0.12),
    "profane": (PROFANE_NEUTRAL, 0.03, 0.07),
}


def _comment(rng: np.random.Generator, kind: str) -> str:
    """One comment: the sentence that sets its kind, mixed with filler sentences."""
    pool = KINDS[kind][0]
    parts = [_neutral(rng) for _ in range(int(rng.poisson(0.7)))]
    # Filler that addresses the reader or names a third party. Comments that aim an insult
    # word at someone nearly always do both, whoever the target is, so neither "you" nor
    # "the mayor" alone says whom the insult word is aimed at.
    aimed = kind in ("direct", "third", "about")
    if rng.random() < (0.9 if aimed else 0.4):
        parts.append(_sentence(rng, _pick(rng, YOU_NEUTRAL)))
    if rng.random() < (0.9 if aimed else 0.4):
        parts.append(_sentence(rng, _pick(rng, THIRD_MENTIONS)))
    order = rng.permutation(len(parts))
    parts = [parts[i] for i in order]
    if kind in ("direct", "third") or (kind == "about" and rng.random() < 0.6):
        key = _sentence(rng, _aimed(rng, kind != "third", denied=kind == "about"))
        parts.insert(int(rng.integers(len(parts) + 1)), key)
    elif pool:
        parts.insert(int(rng.integers(len(parts) + 1)), _sentence(rng, _pick(rng, pool)))
    elif not parts:
        parts.append(_neutral(rng))
    text = " ".join(parts)
    if rng.random() < 0.2:
        text = _pick(rng, OPENERS).replace("{handle}", _pick(rng, HANDLES)) + text
    if rng.random() < 0.05:
        text = text.upper()
    elif rng.random() < 0.15:
        text = text.lower()
    return text


def _escape_style(rng: np.random.Generator, text: str) -> str:
    """Write the comment as the Kaggle files do: quoted, with escapes spelled out."""
    u = rng.random()
    if u < 0.25:  # unicode escapes as text
        text = text.replace("'", "\\u2019")
        text = text.replace(". ", ".\\xa0 ") if rng.random() < 0.5 else text
        text = text.replace("! ", "!\\n") if rng.random() < 0.3 else text
    elif u < 0.35:  # double-escaped utf-8 bytes
        words = text.split(" ")
        text = words[0]
        for w in words[1:]:
            text += ("\\\\xc2\\\\xa0" if rng.random() < 0.08 else " ") + w
        text = text.replace("'", "\\\\'").replace(". ", ".\\\\n")
    return '"' + text + '"'


def _date(rng: np.random.Generator) -> str:
    if rng.random() < BLANK_DATE:
        return ""
    day = pd.Timestamp("2012-03-01") + pd.Timedelta(seconds=int(rng.integers(0, 120 * 86400)))
    return day.strftime("%Y%m%d%H%M%SZ")


def _draw(rng: np.random.Generator, n: int, avoid: set[str]) -> tuple[list[str], list[str], list[int]]:
    kinds = list(KINDS)
    shares = np.array([KINDS[k][2] for k in kinds])
    comments, dates, labels = [], [], []
    while len(comments) < n:
        kind = kinds[int(rng.choice(len(kinds), p=shares / shares.sum()))]
        text = _escape_style(rng, _comment(rng, kind))
        if text in avoid:  # Kaggle's test comments never appear in train
            continue
        label = int(rng.random() < KINDS[kind][1])
        if rng.random() < LABEL_NOISE:
            label = 1 - label
        comments.append(text)
        dates.append(_date(rng))
        labels.append(label)
    return comments, dates, labels


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write public/{train.csv,test.csv,sample_submission_null.csv} and private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    tr_comments, tr_dates, tr_labels = _draw(rng, N_TRAIN, set())
    te_comments, te_dates, te_labels = _draw(rng, N_TEST, set(tr_comments))

    train = pd.DataFrame({"Insult": tr_labels, "Date": tr_dates, "Comment": tr_comments})
    answers = pd.DataFrame({"Insult": te_labels, "Date": te_dates, "Comment": te_comments})
    test = answers[["Date", "Comment"]]
    sample = answers.assign(Insult=0)

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission_null.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
