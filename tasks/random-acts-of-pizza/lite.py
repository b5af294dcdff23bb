"""Offline "lite" data for random-acts-of-pizza: synthetic Reddit pizza requests.

Each request has a title and a body built from templates and word pools (a hardship story,
optional proof, promises to pay it forward, thanks, or a careless tone), plus the requester's
account history at request time (account age, comments, posts, karma, subreddits, earlier
activity on the pizza subreddit) and the request's timestamp. The training file also carries
the fields known only at retrieval time, the outcome and the requester's flair, exactly like
the Kaggle training file; the test file keeps only the request-time fields (and not the
giver's name, which gives the answer away).

The chance of success combines, on the log-odds scale:

* the story and its tone: job loss, family, empty fridge and illness help; "just craving",
  "bored" or "drunk" hurt; proof (an imgur link) and a promise to pay it forward help; very
  short requests do worse;
* the account: brand-new and throwaway accounts are rarely trusted, karma helps with
  diminishing returns, and earlier comments on the pizza subreddit help a lot;
* interactions: proof matters much more for new, low-karma accounts, and a long story helps
  only accounts that have some history;
* the date: success was more common in the subreddit's early days (2011) than in 2013.

Words see only the first part, so a text model alone tops out well below a model that also
uses the numbers, and a linear model misses the interactions and the saturation.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 2878  # the sizes MLE-bench's split gives on the real data
N_TEST = 1162
BASE_LOGIT = -2.6

START = 1297000000  # February 2011
END = 1381000000  # October 2013

NARRATIVES = {
    # name: (effect on the log-odds, [(title phrase, opening sentence)], follow-up sentences)
    "job": (0.55, [
        ("Lost my job last week", "I got laid off from my job at the warehouse last week."),
        ("Unemployed and waiting on my first paycheck",
         "I start a new job next month but the first paycheck doesn't come until the 15th."),
        ("Laid off and running low on food",
         "The restaurant I worked at closed down and I'm out of work."),
        ("Hours got cut to nothing", "My hours got cut to almost nothing this month."),
        ("Got laid off on Monday", "I was let go on Monday along with half my department."),
    ], [
        "I've been applying everywhere but nobody is hiring right now.",
        "Unemployment hasn't kicked in yet and I'm down to my last few dollars.",
        "I've had three interviews this week and I'm hopeful something works out.",
        "I'm spending what I have left on gas to get to interviews.",
    ]),
    "family": (0.6, [
        ("Dad of two trying to feed the kids tonight",
         "My wife and I have two kids and we're stretched really thin this month."),
        ("Single mom, kids would love a pizza",
         "I'm a single mom working two jobs and this month has been rough."),
        ("Wife and I are broke until payday",
         "My wife and I are both waiting on paychecks and the cupboards are bare."),
        ("Pregnant wife and nothing in the house",
         "My wife is seven months pregnant and we used the last of our money on baby stuff."),
        ("Would love to surprise my kids with pizza",
         "My husband is deployed and it's just me and the kids until next month."),
    ], [
        "My daughter has been asking for pizza all week and I keep saying maybe.",
        "The kids have been eating pb&j for three days and they deserve something nice.",
        "We used the last of our money on diapers and formula.",
        "It would mean a lot to see the kids smile tonight.",
    ]),
    "hungry": (0.45, [
        ("Nothing in the fridge but ketchup", "My fridge is literally empty except for condiments."),
        ("Haven't eaten since yesterday", "I haven't had a real meal since yesterday morning."),
        ("Out of food until Friday", "I ran out of groceries on Monday and don't get paid until Friday."),
        ("Last meal was two days ago", "The last thing I ate was a sleeve of crackers two days ago."),
        ("Completely out of food", "All I have left in the kitchen is some rice and a jar of mustard."),
    ], [
        "I've been living on ramen and tap water for the past week.",
        "I skipped lunch and dinner yesterday to make my gas money last.",
        "The food bank near me is closed until next week.",
    ]),
    "money": (0.35, [
        ("Rent ate my whole paycheck", "Rent and the electric bill took everything I had this month."),
        ("Bank account overdrawn", "My bank account is overdrawn after an unexpected medical bill."),
        ("Car broke down and took all my money",
         "My car broke down and the repair wiped out my savings."),
        ("Bills are due and I'm out of cash", "Every bill I have came due in the same week."),
        ("Broke until payday", "I get paid on Friday but until then I have about two dollars."),
    ], [
        "I had to pay a parking ticket on top of it and it set me back even more.",
        "I've been selling some of my stuff on craigslist to cover the difference.",
        "Things should be back to normal after payday.",
    ]),
    "sick": (0.35, [
        ("Sick in bed and can't cook",
         "I've been sick with the flu all week and can barely get out of bed."),
        ("Just got out of the hospital",
         "I just got home from the hospital after surgery and can't stand long enough to cook."),
        ("Broke my arm, can't work this week", "I broke my wrist and I'm out of work until it heals."),
        ("Down with strep and no food",
         "My roommate and I both have strep throat and no energy to go shopping."),
    ], [
        "The medicine took most of what I had left.",
        "The doctor says I should be fine in a week or so.",
        "Cooking is pretty much impossible right now.",
    ]),
    "student": (0.05, [
        ("Broke college student", "I'm a college student and my financial aid hasn't come through yet."),
        ("Finals week and no money for food",
         "It's finals week and I've been studying for three days straight."),
        ("Grad student living on ramen",
         "I'm a grad student and my stipend doesn't arrive until next week."),
        ("Meal plan ran out", "My meal plan ran out and the dining hall closed for break."),
        ("Poor student in the library", "I have two exams tomorrow and no time or money to get food."),
    ], [
        "Textbooks this semester cost way more than I planned for.",
        "I work part time at the campus library but it barely covers rent.",
        "A pizza would get me through the night of studying.",
    ]),
    "celebration": (-0.2, [
        ("It's my birthday and I'm alone", "Today is my birthday and all my friends are out of town."),
        ("Finished my thesis today", "I just finished my thesis after two years of work."),
        ("Anniversary dinner on a budget",
         "It's our first anniversary and we can't afford to go out."),
        ("Just got a new job, celebrating with no money",
         "I finally got a job offer today and want to celebrate."),
    ], [
        "It would be nice to mark the day with something special.",
        "Nothing fancy, just want to do something nice tonight.",
    ]),
    "craving": (-0.6, [
        ("Just really want a pizza", "I just really want a big greasy pizza tonight."),
        ("Craving pizza tonight", "I've been craving pizza all day and can't stop thinking about it."),
        ("Haven't had pizza in forever",
         "I haven't had pizza in months and it sounds so good right now."),
        ("Pizza would make my night",
         "Everyone in my dorm ordered pizza and the smell is killing me."),
    ], [
        "Pepperoni and mushroom would be perfect.",
        "I've been thinking about it since lunch.",
    ]),
}
NARRATIVE_SHARES = {
    "job": 0.15, "family": 0.12, "hungry": 0.12, "money": 0.15, "sick": 0.06,
    "student": 0.16, "celebration": 0.08, "craving": 0.16,
}
PLACES = [
    "Ohio", "Texas", "Portland, OR", "Chicago", "Austin, TX", "the UK", "Florida", "Michigan",
    "Seattle", "NYC", "Denver", "Georgia", "Toronto", "Phoenix", "Boston", "San Diego",
    "Kansas City", "Pittsburgh", "Minneapolis", "Atlanta", "Sacramento", "Richmond, VA",
]
TITLE_FORMS = [
    "[Request] {s} in {p}", "[REQUEST] {s}, {plea}", "Request: {s}", "[Request] {p} - {s}",
    "[Request] {s}. {plea}", "[request] {s}", "[REQUEST] {s} ({p})",
]
PLEAS = [
    "would love a pizza", "anyone able to help?", "could use a pizza tonight",
    "would really appreciate it", "any help is great", "pizza would be amazing",
]
OPENERS = [
    "Hey guys, long time lurker, first time posting.", "Hi RAOP,", "So here's my situation.",
    "I never thought I'd be posting here but here goes.", "Hello everyone.", "Hey all!",
    "Not really sure how this works but I'll give it a shot.",
]
EVIDENCE = [
    "I can post a picture of my empty fridge if anyone wants proof: http://imgur.com/{c}",
    "Here's a pic of my pay stub: http://i.imgur.com/{c}.jpg",
    "Proof of my situation: http://imgur.com/a/{c}",
    "I took a photo of my layoff letter for verification: http://i.imgur.com/{c}.png",
    "Picture of my pantry, for proof: imgur.com/{c}",
]
RECIPROCITY = [
    "I promise to pay it forward as soon as I'm back on my feet.",
    "I will definitely return the favor when I get paid next Friday.",
    "Once I get my paycheck I'll pay it forward to someone here.",
    "I've given pizza on here before and I'd love to pay it back someday.",
    "I'll pay it forward the first chance I get, I promise.",
]
GRATITUDE = [
    "Thanks for reading either way.", "Any help would be greatly appreciated.",
    "Thank you all for what you do here.", "Thanks so much for considering.",
    "Even if nobody can help, thanks for reading.",
]
CARELESS = [
    "I'm kinda drunk and really want pizza lol.", "Too lazy to cook tonight.",
    "Bored at home and pizza sounds good.", "Not gonna lie, I just want a free pizza.",
    "Someone hook me up.", "Me and my buddies are high and starving haha.",
]
FILLER = [
    "I've been a redditor for a while and love this community.",
    "It's been a rough couple of weeks.",
    "Things should get better soon.",
    "I live alone with my cat.",
    "I know there are people who need it more than me.",
    "I don't usually ask for help.",
    "My roommate moved out and left me with the whole rent.",
    "I'm trying to stay positive.",
    "I'd be happy with anything, even just a small cheese.",
]
CLOSERS = [
    "Papa John's or Domino's both deliver here.", "I'd be happy with a large pepperoni.",
    "Domino's is right down the street.", "Anything from Pizza Hut would be amazing.",
    "There's a Little Caesars a few blocks away.", "",
]
SUBREDDITS = [
    "AskReddit", "funny", "pics", "gaming", "WTF", "IAmA", "todayilearned", "videos",
    "AdviceAnimals", "movies", "Music", "worldnews", "politics", "trees", "atheism", "aww",
    "fffffffuuuuuuuuuuuu", "leagueoflegends", "Minecraft", "skyrim", "explainlikeimfive",
    "technology", "science", "food", "Frugal", "Assistance", "RandomKindness", "books",
    "nfl", "nba", "soccer", "Fitness", "offbeat", "gifs", "reddit.com", "mildlyinteresting",
    "tf2", "pokemon", "cats", "DoesAnybodyElse", "self", "relationships", "Android", "apple",
    "buildapc", "cooking", "AskScience", "TwoXChromosomes", "bestof", "circlejerk", "comics",
    "Diablo", "DotA2", "fantasyfootball", "Guitar", "hockey", "history", "IWantToLearn",
    "Jokes", "lifehacks", "listentothis", "loseit", "malefashionadvice", "nosleep",
    "personalfinance", "photography", "programming", "rage", "reactiongifs", "RedditLaqueristas",
    "running", "seduction", "shittyaskscience", "SquaredCircle", "starcraft", "television",
    "tipofmytongue", "trollxchromosomes", "woahdude", "wow", "xkcd", "Drugs", "Economics",
    "canada", "unitedkingdom", "australia", "MakeupAddiction", "motorcycles", "Parenting",
    "pizza", "beer", "Libertarian", "Random_Acts_Of_Pizza",
]
NAME_PARTS = [
    "pizza", "hungry", "lurker", "panda", "ninja", "throwaway", "broke", "guy", "girl", "dude",
    "taco", "cheese", "wolf", "sleepy", "captain", "lazy", "happy", "dark", "red", "blue",
    "mr", "the", "big", "little", "nerd", "gamer", "bacon", "coffee", "moose", "tiger",
]
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

FIELDS_TRAIN = [
    "giver_username_if_known", "number_of_downvotes_of_request_at_retrieval",
    "number_of_upvotes_of_request_at_retrieval", "post_was_edited", "request_id",
    "request_number_of_comments_at_retrieval", "request_text", "request_text_edit_aware",
    "request_title", "requester_account_age_in_days_at_request",
    "requester_account_age_in_days_at_retrieval",
    "requester_days_since_first_post_on_raop_at_request",
    "requester_days_since_first_post_on_raop_at_retrieval",
    "requester_number_of_comments_at_request", "requester_number_of_comments_at_retrieval",
    "requester_number_of_comments_in_raop_at_request",
    "requester_number_of_comments_in_raop_at_retrieval",
    "requester_number_of_posts_at_request", "requester_number_of_posts_at_retrieval",
    "requester_number_of_posts_on_raop_at_request", "requester_number_of_posts_on_raop_at_retrieval",
    "requester_number_of_subreddits_at_request", "requester_received_pizza",
    "requester_subreddits_at_request", "requester_upvotes_minus_downvotes_at_request",
    "requester_upvotes_minus_downvotes_at_retrieval", "requester_upvotes_plus_downvotes_at_request",
    "requester_upvotes_plus_downvotes_at_retrieval", "requester_user_flair",
    "requester_username", "unix_timestamp_of_request", "unix_timestamp_of_request_utc",
]
# Kaggle's test.json fields without giver_username_if_known (it names the giver: a leak).
FIELDS_TEST = [
    "request_id", "request_text_edit_aware", "request_title",
    "requester_account_age_in_days_at_request",
    "requester_days_since_first_post_on_raop_at_request",
    "requester_number_of_comments_at_request", "requester_number_of_comments_in_raop_at_request",
    "requester_number_of_posts_at_request", "requester_number_of_posts_on_raop_at_request",
    "requester_number_of_subreddits_at_request", "requester_subreddits_at_request",
    "requester_upvotes_minus_downvotes_at_request", "requester_upvotes_plus_downvotes_at_request",
    "requester_username", "unix_timestamp_of_request", "unix_timestamp_of_request_utc",
]


def _pick(rng: np.random.Generator, pool: list[str]) -> str:
    return pool[int(rng.integers(len(pool)))]


def _code(rng: np.random.Generator, n: int) -> str:
    return "".join(B36[int(i)] for i in rng.integers(0, 36, size=n))


def _username(rng: np.random.Generator, throwaway: bool) -> str:
    if throwaway:
        return f"throwaway{int(rng.integers(100, 99999))}"
    a, b = _pick(rng, NAME_PARTS), _pick(rng, NAME_PARTS)
    sep = _pick(rng, ["", "_", "-", ""])
    tail = str(int(rng.integers(1, 999))) if rng.random() < 0.5 else ""
    name = f"{a}{sep}{b}{tail}"
    return name.capitalize() if rng.random() < 0.3 else name


def _account(rng: np.random.Generator) -> dict:
    """Request-time account history; the counts grow with the account's age."""
    u = rng.random()
    if u < 0.08:  # made for this request
        age = float(rng.uniform(0, 1.5))
    elif u < 0.25:
        age = float(rng.uniform(1.5, 60))
    else:
        age = float(np.exp(rng.normal(6.0, 0.9)))
    age = min(age, 2400.0)
    activity = np.exp(rng.normal(0, 1.0)) * age
    comments = int(rng.poisson(min(activity * 0.5, 3000))) if age > 0.3 else 0
    posts = int(rng.poisson(min(activity * 0.06, 600))) if age > 0.3 else 0
    plus = int(rng.poisson(comments * np.exp(rng.normal(1.3, 0.8)) + posts * 8)) + comments + posts
    minus = int(plus * float(rng.beta(7, 2)) - rng.poisson(2))
    n_subs = min(int(rng.poisson(np.sqrt(comments + posts) * 1.4)), len(SUBREDDITS) - 1)
    raop = rng.random() < min(0.05 + age / 4000 + comments / 3000, 0.3) and comments > 0
    raop_comments = int(rng.integers(1, 25)) if raop else 0
    raop_posts = int(rng.random() < 0.3) if raop else 0
    days_first = float(rng.uniform(1, min(age, 400))) if raop and age > 1 else 0.0
    return {
        "age": age, "comments": comments, "posts": posts, "plus": plus, "minus": minus,
        "n_subs": n_subs, "raop_comments": raop_comments, "raop_posts": raop_posts,
        "days_first": days_first,
    }


def _request(rng: np.random.Generator) -> tuple[dict, float, list[str]]:
    """Title, body and the text part of the log-odds, with the cues the text carries."""
    names = list(NARRATIVE_SHARES)
    shares = np.array([NARRATIVE_SHARES[n] for n in names])
    story = names[int(rng.choice(len(names), p=shares))]
    effect, openings, follow_ups = NARRATIVES[story]
    cues = [story]
    careless = rng.random() < (0.45 if story in ("craving", "celebration") else 0.06)
    evidence = rng.random() < (0.05 if careless else 0.2)
    reciprocity = rng.random() < (0.05 if careless else 0.3)
    gratitude = rng.random() < (0.2 if careless else 0.55)
    n_story = int(rng.integers(0, 4)) if not careless else int(rng.integers(0, 2))

    body: list[str] = []
    if rng.random() < 0.5:
        body.append(_pick(rng, OPENERS))
    title_phrase, opening = openings[int(rng.integers(len(openings)))]
    body.append(opening)
    body += [follow_ups[i] for i in rng.permutation(len(follow_ups))[:n_story]]
    body += [FILLER[i] for i in rng.permutation(len(FILLER))[: int(rng.poisson(0.8))]]
    if careless:
        body.append(_pick(rng, CARELESS))
        cues.append("careless")
    if evidence:
        body.append(_pick(rng, EVIDENCE).replace("{c}", _code(rng, 7)))
        cues.append("evidence")
    if reciprocity:
        body.append(_pick(rng, RECIPROCITY))
        cues.append("reciprocity")
    body.append(_pick(rng, CLOSERS))
    if gratitude:
        body.append(_pick(rng, GRATITUDE))
        cues.append("gratitude")
    text = " ".join(s for s in body if s)
    if rng.random() < 0.3:  # paragraph breaks, as Reddit posts have
        text = text.replace(". ", ".\n\n", 1)
    if rng.random() < 0.04:  # a few requests are just the title
        text = ""
    title = _pick(rng, TITLE_FORMS).format(
        s=title_phrase, p=_pick(rng, PLACES), plea=_pick(rng, PLEAS)
    )
    if careless and rng.random() < 0.3:
        title = title.upper()

    logit = effect - 1.0 * careless + 0.35 * reciprocity + 0.25 * gratitude
    logit += 0.25 * min(len(text.split()), 120) / 60 - 0.3
    return {"title": title, "text": text, "evidence": evidence, "words": len(text.split())}, logit, cues


def _account_logit(acc: dict, req: dict, t: float) -> float:
    """The account and date part of the log-odds, with its interactions."""
    young = acc["age"] < 2
    karma = max(acc["minus"], 0)
    logit = -1.5 * young - 0.5 * (2 <= acc["age"] < 30)
    logit += 1.3 * np.tanh(np.log1p(karma) / 5)  # karma helps, with diminishing returns
    logit += 1.1 * (acc["raop_comments"] > 0) + 0.5 * (acc["raop_posts"] > 0)
    low_trust = young or karma < 50
    if req["evidence"]:  # proof matters far more when the account itself says little
        logit += 2.0 if low_trust else 0.3
    if not low_trust and req["words"] > 60:
        logit += 0.6
    frac = (t - START) / (END - START)
    logit += 0.9 * (frac < 0.3) - 0.8 * frac
    return float(logit)


def _record(rng: np.random.Generator) -> tuple[dict, float]:
    """One request in the training file's layout, and its log-odds of success."""
    acc = _account(rng)
    req, text_logit, _ = _request(rng)
    t = float(rng.integers(START, END))
    logit = BASE_LOGIT + text_logit + _account_logit(acc, req, t)
    got = int(rng.random() < 1 / (1 + np.exp(-logit - rng.logistic(0, 0.3))))

    username = _username(rng, throwaway=acc["age"] < 2 and rng.random() < 0.5)
    subs = rng.choice(SUBREDDITS[:-1], size=acc["n_subs"], replace=False).tolist()
    if acc["raop_comments"] or acc["raop_posts"]:
        subs = subs[:-1] + ["Random_Acts_Of_Pizza"] if subs else ["Random_Acts_Of_Pizza"]
    subs = sorted(subs, key=str.lower)
    n_subs = len(subs)
    local = t - 3600 * int(rng.choice([0, 0, 0, 4, 5, 7]))
    gap_days = float(rng.uniform(30, 900))  # the data was retrieved months to years later
    edited_text = req["text"]
    edited: bool | float = False
    if got and rng.random() < 0.25:  # thank-you edits; the edit-aware text leaves them out
        edited_text += f"\n\nEDIT: Got a pizza! Thank you so much /u/{_username(rng, False)}!"
        edited = True
    elif rng.random() < 0.06:
        edited = True if rng.random() < 0.7 else float(round(t + rng.uniform(600, 90000)))
    giver = "N/A"
    if got and rng.random() < 0.3:
        giver = _username(rng, False)
    growth = np.exp(rng.normal(0.6, 0.5))
    upvotes = int(rng.poisson(2 + 3 * got + acc["raop_comments"] * 0.2))
    record = {
        "giver_username_if_known": giver,
        "number_of_downvotes_of_request_at_retrieval": int(rng.poisson(1.5)),
        "number_of_upvotes_of_request_at_retrieval": upvotes,
        "post_was_edited": edited,
        "request_id": f"t3_{_code(rng, int(rng.choice([5, 5, 6])))}",
        "request_number_of_comments_at_retrieval": int(rng.poisson(1 + 3 * got)),
        "request_text": edited_text,
        "request_text_edit_aware": req["text"],
        "request_title": req["title"],
        "requester_account_age_in_days_at_request": acc["age"],
        "requester_account_age_in_days_at_retrieval": acc["age"] + gap_days,
        "requester_days_since_first_post_on_raop_at_request": acc["days_first"],
        "requester_days_since_first_post_on_raop_at_retrieval": acc["days_first"] + gap_days,
        "requester_number_of_comments_at_request": acc["comments"],
        "requester_number_of_comments_at_retrieval": int(acc["comments"] * growth),
        "requester_number_of_comments_in_raop_at_request": acc["raop_comments"],
        "requester_number_of_comments_in_raop_at_retrieval": acc["raop_comments"]
        + int(rng.poisson(1 + 2 * got)),
        "requester_number_of_posts_at_request": acc["posts"],
        "requester_number_of_posts_at_retrieval": int(acc["posts"] * growth) + 1,
        "requester_number_of_posts_on_raop_at_request": acc["raop_posts"],
        "requester_number_of_posts_on_raop_at_retrieval": acc["raop_posts"] + 1,
        "requester_number_of_subreddits_at_request": n_subs,
        "requester_received_pizza": bool(got),
        "requester_subreddits_at_request": subs,
        "requester_upvotes_minus_downvotes_at_request": acc["minus"],
        "requester_upvotes_minus_downvotes_at_retrieval": int(acc["minus"] * growth),
        "requester_upvotes_plus_downvotes_at_request": acc["plus"],
        "requester_upvotes_plus_downvotes_at_retrieval": int(acc["plus"] * growth),
        "requester_user_flair": (("PIF" if rng.random() < 0.06 else "shroom") if got else None),
        "requester_username": username,
        "unix_timestamp_of_request": local,
        "unix_timestamp_of_request_utc": t,
    }
    return {k: record[k] for k in FIELDS_TRAIN}, logit


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write public/{train.json,test.json,sampleSubmission.csv} and private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    records, seen = [], set()
    while len(records) < N_TRAIN + N_TEST:
        record, _ = _record(rng)
        if record["request_id"] in seen:
            continue
        seen.add(record["request_id"])
        records.append(record)
    train, test_full = records[:N_TRAIN], records[N_TRAIN:]
    test = [{k: r[k] for k in FIELDS_TEST} for r in test_full]
    answers = pd.DataFrame({
        "request_id": [r["request_id"] for r in test_full],
        "requester_received_pizza": [int(r["requester_received_pizza"]) for r in test_full],
    })
    sample = answers.assign(requester_received_pizza=0)

    public, private = out_dir / "public", out_dir / "private"
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    (public / "train.json").write_text(json.dumps(train, indent=4))
    (public / "test.json").write_text(json.dumps(test, indent=4))
    sample.to_csv(public / "sampleSubmission.csv", index=False)
    answers.to_csv(private / "answers.csv", index=False)
