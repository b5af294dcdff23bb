"""Offline "lite" data for essay-scoring: template-built student essays scored 1-6.

Each essay answers one of six argumentative prompts. A writer has four latent skills, all
correlated through a general ability:

* fluency: how many sentences and paragraphs the essay has (counts see this);
* vocabulary: how often a plain word is replaced by a more advanced synonym ("a lot of" →
  "numerous", "shows" → "demonstrates"); only a slight trace shows in the average word length;
* mechanics: misspellings ("becuase", "alot", "dont"), a lowercase "i" and missing capitals;
  invisible to length counts, visible to word or character n-grams;
* organisation: an introduction and a conclusion, discourse connectives ("Furthermore",
  "In conclusion", "For example") versus loose joins ("Also", "and so"), counter-arguments,
  and repeated sentences in weak essays.

The score is a weighted sum of the four skills plus rater noise, cut into the six grades at
fixed thresholds chosen so the grade frequencies are close to the real competition's
(most essays get a 2, 3 or 4). A model of length alone does fairly well; one that also reads
the words does clearly better; the rater noise keeps any model far from perfect.
"""

from __future__ import annotations

import pathlib
import re
from statistics import NormalDist

import numpy as np
import pandas as pd

N_TRAIN = 2400
N_TEST = 800

# Grade frequencies of the real training set (1..6), used to place the cut points.
GRADE_FREQ = np.array([0.072, 0.273, 0.363, 0.227, 0.056, 0.009])
RHO = 0.55  # loading of each skill on the general ability
WEIGHTS = {"fluency": 0.34, "vocab": 0.24, "mech": 0.24, "org": 0.24}
RATER_NOISE = 0.42  # sd of the rater noise, relative to the sd of the skill composite

TOPICS = [
    {
        "subject": "limiting car usage",
        "question": "cities should limit car usage",
        "position": [
            "limiting car usage is a [good|beneficial|advantageous] idea",
            "cities should [try to|make an effort to] limit car usage",
            "we [need|ought] to drive less",
        ],
        "benefits": [
            "cleaner air", "less traffic", "[healthier|fitter] people", "[quieter|calmer] streets",
            "lower costs for families", "less [stress|anxiety]", "[safer|more secure] roads",
        ],
        "people": ["families", "students", "city planners", "drivers", "parents", "workers"],
        "reasons": [
            "cars [give off|emit] [a lot of|substantial amounts of] pollution",
            "people walk and ride bikes more when they do not own a car",
            "traffic jams [waste|squander] hours of time every week",
            "owning a car [costs|requires] [a lot of|a considerable amount of] money",
            "streets without cars are [safer|less hazardous] for children",
            "[most|the majority of] pollution in cities [comes from|originates from] cars",
            "public transportation can [move|transport] [a lot of|numerous] people at once",
        ],
        "examples": [
            "in Vauban, Germany, [most|the majority of] families do not own a car",
            "Paris [banned|prohibited] driving for [a few|several] days because of smog",
            "Bogota has a car-free day every year and the parks are full of people",
            "my uncle sold his car and now he rides the bus to work every day",
            "in my town the air is [bad|polluted] on days with [heavy|congested] traffic",
        ],
        "counter": [
            "cars are [needed|necessary|indispensable] for people who live far from work",
            "buses are slow and [not always|not consistently] on time",
        ],
    },
    {
        "subject": "the Electoral College",
        "question": "we should keep the Electoral College",
        "position": [
            "we should [change|replace] the Electoral College with a popular vote",
            "the Electoral College is [unfair|inequitable] to [many|numerous] voters",
            "the president should be [picked|elected] by the popular vote",
        ],
        "benefits": [
            "[a fair|an equitable] election", "more voters who care", "every vote counting the same",
            "[less|reduced] confusion", "[real|genuine] democracy",
        ],
        "people": ["voters", "citizens", "candidates", "young people", "politicians"],
        "reasons": [
            "a candidate can win the popular vote and still lose the election",
            "candidates [only|exclusively] visit the swing states",
            "voters in [big|large] states feel that their vote does not matter",
            "electors can [ignore|disregard] the wishes of the people",
            "the system was made [a long time ago|centuries ago] for a different country",
            "a tie in the Electoral College would be [bad|disastrous] for the country",
        ],
        "examples": [
            "in 2000 Al Gore won the popular vote but lost the election",
            "in 1960 some electors in Hawaii were [almost|nearly] replaced",
            "[most|the majority of] Americans say they want a direct election in polls",
            "my parents never see the candidates in our state because it is not a swing state",
        ],
        "counter": [
            "the Electoral College [gives|provides] a [clear|decisive] winner",
            "small states would be [ignored|overlooked] without it",
        ],
    },
    {
        "subject": "exploring Venus",
        "question": "studying Venus is worth the danger",
        "position": [
            "studying Venus is a [worthy|worthwhile] goal [even though|despite the fact that] "
            "it is dangerous",
            "scientists should keep [exploring|investigating] Venus",
            "the danger of Venus should not stop us from [learning|gaining knowledge]",
        ],
        "benefits": [
            "new [knowledge|insight]", "better technology", "[a lot of|extensive] data",
            "answers about Earth", "[new|innovative] machines",
        ],
        "people": ["scientists", "engineers", "astronauts", "students", "researchers"],
        "reasons": [
            "Venus is [like|comparable to] Earth in size and [maybe|possibly] once had oceans",
            "the heat and pressure on Venus can [teach|inform] us about climate change",
            "new machines made for Venus could [help|assist] people on Earth",
            "a craft floating above the clouds would be [safe|protected] from the heat",
            "Venus is the [closest|nearest] planet to Earth",
            "humans have always [explored|ventured into] dangerous places",
        ],
        "examples": [
            "NASA is working on a vehicle that can float above the storms",
            "old computers made of [simple|mechanical] parts could survive the heat",
            "no spacecraft has [lasted|survived] more than a few hours on the surface",
            "the air on Venus is [mostly|predominantly] carbon dioxide",
        ],
        "counter": [
            "Venus is too [hot|extreme] and the pressure would crush any machine",
            "the money could be [spent|invested] on problems here on Earth",
        ],
    },
    {
        "subject": "driverless cars",
        "question": "driverless cars should be developed",
        "position": [
            "driverless cars are [bad|problematic] for now",
            "we should not [use|rely on] driverless cars yet",
            "driverless cars are not [ready|prepared] for the road",
        ],
        "benefits": [
            "[safe|secure] roads", "drivers who pay attention", "[clear|explicit] laws",
            "[fewer|reduced] accidents", "jobs for drivers",
        ],
        "people": ["drivers", "passengers", "companies", "lawmakers", "taxi drivers"],
        "reasons": [
            "the car still needs a human to take over in [hard|challenging] situations",
            "nobody knows who is [responsible|liable] if a driverless car crashes",
            "the sensors can [fail|malfunction] in bad weather",
            "drivers get bored and stop paying attention",
            "a computer can be [hacked|compromised] by criminals",
            "[a lot of|countless] people would lose their jobs",
        ],
        "examples": [
            "a driverless car can not drive through road work or around an accident",
            "some states have laws that say a human must be in the car",
            "my dad says he would never trust a car without a driver",
            "in a test a car [missed|failed to notice] a sign that was covered by snow",
        ],
        "counter": [
            "driverless cars could [stop|prevent] drunk driving",
            "the cars might use less fuel",
        ],
    },
    {
        "subject": "using phones while driving",
        "question": "drivers should be able to use phones",
        "position": [
            "drivers should not use their phones while driving",
            "using a phone while driving is [dangerous|hazardous|perilous]",
            "texting and driving should be against the law",
        ],
        "benefits": [
            "[safe|secure] roads", "fewer crashes", "[careful|attentive] drivers",
            "lives that are saved", "[less|diminished] risk",
        ],
        "people": ["teenagers", "drivers", "parents", "police officers", "new drivers"],
        "reasons": [
            "looking at a phone takes your eyes off the road",
            "[a lot of|numerous] crashes are caused by texting",
            "young drivers do not have [much|extensive] experience",
            "a text message is never more [important|significant] than a life",
            "it only takes a second to [hit|collide with] someone",
            "phones can wait until you [get|arrive] home",
        ],
        "examples": [
            "my cousin crashed into a fence because he was reading a text",
            "some phones have a driving mode that [blocks|silences] messages",
            "in [many|numerous] states you can get a ticket for texting",
            "a study [showed|demonstrated] that texting is as bad as drunk driving",
        ],
        "counter": [
            "people need their phones for maps and music",
            "a hands free call is not [very|particularly] distracting",
        ],
    },
    {
        "subject": "distance learning",
        "question": "students would benefit from classes at home",
        "position": [
            "students would [not|in no way] benefit from taking classes at home",
            "distance learning is [worse|inferior] to going to school",
            "students should go to school [instead of|rather than] learning online",
        ],
        "benefits": [
            "[good|strong] friendships", "[better|superior] grades", "[help|assistance] "
            "from teachers", "social skills", "[more|greater] motivation",
        ],
        "people": ["students", "teachers", "parents", "classmates", "kids"],
        "reasons": [
            "students need to talk with their teachers face to face",
            "it is [hard|difficult] to focus at home with [a lot of|numerous] distractions",
            "school teaches students how to work with other people",
            "not every family has a [good|reliable] internet connection",
            "students who stay home can [feel|become] lonely",
            "sports and clubs are a [big|significant] part of school",
        ],
        "examples": [
            "during the pandemic my grades went down when we had online classes",
            "my little brother played video games during his online lessons",
            "my best friend and I met in the cafeteria in sixth grade",
            "a teacher can see right away when a student is [confused|perplexed]",
        ],
        "counter": [
            "some students who are sick or [bullied|harassed] need to learn at home",
            "online classes let students work at their own [speed|pace]",
        ],
    },
]

# Connectives: strong essays use the first kind, weak essays the second.
FORMAL_FIRST = ["First of all,", "To begin with,", "First,", "Firstly,"]
FORMAL_ADD = ["Furthermore,", "In addition,", "Moreover,", "Additionally,",
              "Another reason is that", "Also,"]
FORMAL_EXAMPLE = ["For example,", "For instance,", "To illustrate,"]
FORMAL_CONCLUDE = ["In conclusion,", "To sum up,", "In summary,", "Overall,"]
LOOSE = ["Also", "And", "So", "Another thing is", "And also", "Plus", "But"]

# Misspellings that students really make, keyed by the correct form.
MISSPELL = {
    "because": ["becuase", "becase", "cause"], "a lot of": ["alot of"],
    "do not": ["dont", "don't"], "does not": ["doesnt"], "can not": ["cant", "cannot"],
    "people": ["poeple", "peopel"], "their": ["there", "thier"], "believe": ["beleive"],
    "different": ["diffrent"], "really": ["realy"], "which": ["wich"], "until": ["untill"],
    "environment": ["enviroment"], "government": ["goverment"], "definitely": ["definately"],
    "probably": ["probly"], "would": ["whould"], "thought": ["thougt"], "it is": ["its"],
    "they are": ["there", "their"], "too": ["to"], "something": ["somthing"],
    "important": ["importent"], "especially": ["expecially"], "to": ["too"],
    "through": ["threw", "thru"], "beautiful": ["beatiful"], "opinion": ["opinon"],
    "decision": ["desicion"], "dangerous": ["dangerus"], "necessary": ["neccessary"],
    "experience": ["experiance"], "everyone": ["every one"], "a lot": ["alot"],
}
# Very common words are slipped less often per use, or weak essays would be full of them.
COMMON = {"to": 0.25, "because": 0.5, "do not": 0.5, "it is": 0.4, "people": 0.6, "their": 0.6}
_MISSPELL_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, MISSPELL), key=len,
                                                   reverse=True)) + r")\b")
_MARKUP_RE = re.compile(r"\[([^\]]+)\]")
_SLOT_RE = re.compile(r"\{(\w+)\}")
_POOL = {"position": "position", "people": "people", "reason": "reasons",
         "example": "examples", "counter": "counter"}


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


class _Writer:
    """Writes one essay for one student with a shared random generator."""

    def __init__(self, rng: np.random.Generator, topic: dict, skills: dict[str, float]) -> None:
        self.rng = rng
        self.t = topic
        self.s = skills
        self.p_adv = _sigmoid(1.7 * skills["vocab"] - 0.4)
        self.p_err = _sigmoid(-1.3 - 1.5 * skills["mech"])
        self.p_formal = _sigmoid(1.8 * skills["org"] + 0.2)

    def choice(self, items: list[str]) -> str:
        return items[int(self.rng.random() * len(items))]

    def words(self, text: str) -> str:
        """Resolve [plain|advanced|...] markup: better writers pick later options."""

        def pick(m: re.Match) -> str:
            options = m.group(1).split("|")
            return options[int(self.rng.binomial(len(options) - 1, self.p_adv))]

        return _MARKUP_RE.sub(pick, text)

    def fill(self, frame: str) -> str:
        """Fill the {slots} a frame uses (only those: drawing is the slow part)."""
        t = self.t
        slots: dict[str, str] = {}
        for name in dict.fromkeys(_SLOT_RE.findall(frame)):  # ordered: no hash randomness
            if name in ("subject", "question"):
                slots[name] = t[name]
            elif name == "benefit2":
                continue
            elif name == "benefit":
                i = int(self.rng.random() * len(t["benefits"]))
                j = (i + 1 + int(self.rng.random() * (len(t["benefits"]) - 1))) % len(t["benefits"])
                slots["benefit"], slots["benefit2"] = t["benefits"][i], t["benefits"][j]
            else:
                slots[name] = self.choice(t[_POOL[name]])
        return self.words(frame.format(**slots))

    def connective(self, formal: list[str]) -> str:
        if self.rng.random() < self.p_formal:
            return self.choice(formal) + " "
        if self.rng.random() < 0.5:
            return self.choice(LOOSE) + " "
        return ""

    def intro(self) -> list[str]:
        out = [
            self.fill(self.choice([
                "[Today|Nowadays|In modern society] [a lot of|many|numerous] people [talk about|"
                "debate|discuss] whether {question}.",
                "[Some|Certain] people think that {question}, [but|while] others do not agree.",
                "Have you ever [thought|wondered] about {subject}?",
            ])),
            self.fill(self.choice([
                "[I think|I believe|I am convinced] that {position}.",
                "In my [opinion|view], {position}.",
                "This essay will [explain|argue|demonstrate] why {position}.",
            ])),
        ]
        if self.rng.random() < self.p_formal:
            out.append(self.fill("There are [a few|several] reasons [for this|that support "
                                 "this position]."))
        return out

    def body(self, first: bool) -> list[str]:
        """A paragraph: a topic sentence, then support, sometimes a counter-argument."""
        start = self.connective(FORMAL_FIRST if first else FORMAL_ADD)
        topic = self.fill(self.choice([
            "{reason}.", "{subject} [leads to|results in|brings] {benefit}.",
            "one [big|major|significant] reason is that {reason}.",
        ]))
        sents = [start + topic if start else topic[0].upper() + topic[1:]]
        n_support = 1 + int(self.rng.poisson(np.exp(0.45 + 0.45 * self.s["fluency"])))
        frames = [
            "This [is important|matters|is significant] because {reason}.",
            "[This shows|This demonstrates|This illustrates] that {reason}.",
            "Because of this, we [get|obtain|enjoy] {benefit}.",
            "[A lot of|Many|Numerous] {people} [think|believe|maintain] that {reason}.",
            "It is [clear|evident|apparent] that {subject} [is good for|benefits] {people}.",
            "{benefit} and {benefit2} are [good|valuable|invaluable] for everyone.",
        ]
        for _ in range(n_support):
            if self.rng.random() < 0.35:
                ex = self.fill("{example}.")
                con = self.connective(FORMAL_EXAMPLE)
                sents.append(con + ex if con else ex[0].upper() + ex[1:])
            else:
                sents.append(self.fill(self.choice(frames)))
        if self.rng.random() < 0.5 * self.p_formal:
            sents.append(self.fill("[Some|Certain] people [say|argue|contend] that {counter}."))
            sents.append(self.fill("However, {benefit} [is|remains] more [important|"
                                   "significant] than that."))
        return sents

    def conclusion(self) -> list[str]:
        c = self.connective(FORMAL_CONCLUDE)
        first = self.fill("{position}.")
        out = [c + first if c else first[0].upper() + first[1:]]
        out.append(self.fill("[It gives|It provides|It offers] {benefit} and {benefit2}."))
        if self.rng.random() < self.p_formal:
            out.append(self.fill("[That is why|For these reasons|This is why] {people} should "
                                 "[think|reflect] [about|carefully about] {subject}."))
        return out

    def weak_filler(self) -> str:
        return self.fill(self.choice([
            "i think {position} because it is [good|helpful].",
            "{subject} is [good|nice] and it is [good|fine] for {people}.",
            "that is why {position}.", "{reason} and that is bad.",
            "{people} [like|enjoy] it and i like it too.",
        ]))

    def mechanics(self, sentence: str) -> str:
        """Introduce misspellings and capitalisation slips at the writer's error rate."""
        p = self.p_err

        def swap(m: re.Match) -> str:
            if self.rng.random() < p * COMMON.get(m.group(1), 1.0):
                return self.choice(MISSPELL[m.group(1)])
            return m.group(1)

        out = _MISSPELL_RE.sub(swap, sentence)
        if self.rng.random() < p:
            out = re.sub(r"\bI\b", "i", out)
        if self.rng.random() < p * 0.8:
            out = out[0].lower() + out[1:]
        if self.rng.random() < p * 0.5:
            out = out.rstrip(".")
        return out

    def essay(self) -> str:
        s, rng = self.s, self.rng
        n_body = max(1, int(round(1.6 + 0.9 * s["fluency"] + 0.35 * s["org"]
                                   + rng.normal(0, 0.5))))
        paragraphs: list[list[str]] = []
        if rng.random() < _sigmoid(1.5 * s["org"] + 0.8):
            paragraphs.append(self.intro())
        for k in range(n_body):
            paragraphs.append(self.body(first=k == 0))
        if rng.random() < _sigmoid(1.6 * s["org"] + 0.3):
            paragraphs.append(self.conclusion())
        # Weak writers add loose filler and repeat themselves.
        n_weak = int(rng.poisson(2.0 * (1 - self.p_formal)))
        for _ in range(n_weak):
            para = paragraphs[int(rng.integers(len(paragraphs)))]
            para.insert(int(rng.integers(len(para) + 1)), self.weak_filler())
        if rng.random() < 0.5 * (1 - self.p_formal):
            para = paragraphs[-1]
            para.append(para[0])
        # Poorly organised essays run their paragraphs together.
        if len(paragraphs) > 1 and rng.random() < _sigmoid(-2.0 * s["org"] - 1.2):
            paragraphs = [sum(paragraphs, [])]
        texts = []
        for para in paragraphs:
            sents = [self.mechanics(x[0].upper() + x[1:]) for x in para]
            texts.append(" ".join(sents))
        return "\n\n".join(texts)


def _hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique 7-character hex ids, like the real essay_id values."""
    numbers = rng.choice(16**7, size=n, replace=False)
    return [f"{x:07x}" for x in numbers]


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST

    names = list(WEIGHTS)
    general = rng.normal(size=n)
    skills = RHO * general[:, None] + np.sqrt(1 - RHO**2) * rng.normal(size=(n, len(names)))
    w = np.array([WEIGHTS[k] for k in names])
    composite = skills @ w
    # Variance of the composite: loadings on the general factor plus the unique parts.
    sd = np.sqrt((RHO * w.sum()) ** 2 + (1 - RHO**2) * (w**2).sum())
    latent = composite / sd + rng.normal(0, RATER_NOISE, size=n)
    cuts = [NormalDist(0, float(np.sqrt(1 + RATER_NOISE**2))).inv_cdf(q)
            for q in np.cumsum(GRADE_FREQ)[:-1]]
    scores = 1 + np.searchsorted(np.array(cuts), latent)

    topic_idx = rng.integers(len(TOPICS), size=n)
    texts = []
    for i in range(n):
        skill = {k: float(skills[i, j]) for j, k in enumerate(names)}
        texts.append(_Writer(rng, TOPICS[topic_idx[i]], skill).essay())

    ids = _hex_ids(rng, n)
    train = pd.DataFrame({"essay_id": ids[:N_TRAIN], "full_text": texts[:N_TRAIN],
                          "score": scores[:N_TRAIN]})
    test = pd.DataFrame({"essay_id": ids[N_TRAIN:], "full_text": texts[N_TRAIN:]})
    answers = pd.DataFrame({"essay_id": test["essay_id"], "score": scores[N_TRAIN:]})
    # Like MLE-bench's sample submission: random grades, so it scores about zero.
    sample = pd.DataFrame({"essay_id": test["essay_id"],
                           "score": rng.integers(1, 7, size=N_TEST)})

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
