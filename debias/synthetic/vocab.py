"""Word lists and sentence templates of the synthetic corpus (data only; the grammar is in
``debias.synthetic.stories``).

Template slots: ``{A}`` names character A ("the nurse" or, once the story gave it, a name);
``{A.i}`` "a nurse", ``{A.t}`` "the nurse", ``{A.n}`` the name; pronouns ``{A.s}`` subject,
``{A.o}`` object, ``{A.d}`` possessive determiner, ``{A.p}`` standalone possessive, ``{A.r}``
reflexive; a clitic written right after a subject slot (``{A.s}'d``) makes a contraction.
Lower-case slots (``{thing}``, ``{place}``, ...) draw a word from the list of that name. A slot at
the start of a sentence is capitalised, and "a" becomes "an" before a vowel.

The only gendered words in the corpus are the pronouns the slots produce: no gendered nouns,
titles or names (every name here is used for anyone), so that a pronoun rewrite removes every
gender cue. Words that merely contain a pronoun (sheriff, shepherd, therapist, hearth, shelf,
herbs, there, then, Ashe) are there on purpose, to give a pronoun swapper traps to avoid.
"""

from __future__ import annotations

# Occupation -> the gender it is stereotyped with. The first 40 are WinoBias's occupations with
# WinoBias's labels (its lists follow US labour statistics); the rest are further occupations with
# a lopsided share of women or men in the same statistics.
# fmt: off
OCCUPATIONS: dict[str, str] = {
    **dict.fromkeys(
        [
            "driver", "supervisor", "janitor", "cook", "mover", "laborer", "construction worker",
            "chief", "developer", "carpenter", "manager", "lawyer", "farmer", "salesperson",
            "physician", "guard", "analyst", "mechanic", "sheriff", "CEO",
        ],
        "male",
    ),
    **dict.fromkeys(
        [
            "attendant", "cashier", "teacher", "nurse", "assistant", "secretary", "auditor",
            "cleaner", "receptionist", "clerk", "counselor", "designer", "hairdresser", "writer",
            "housekeeper", "baker", "accountant", "editor", "librarian", "tailor",
        ],
        "female",
    ),
    **dict.fromkeys(
        [
            "pilot", "plumber", "firefighter", "electrician", "engineer", "surgeon", "architect",
            "butcher", "shepherd", "welder",
        ],
        "male",
    ),
    **dict.fromkeys(
        [
            "nanny", "midwife", "florist", "dancer", "dietitian", "babysitter", "paralegal",
            "therapist", "hygienist", "social worker",
        ],
        "female",
    ),
}

NAMES = (
    "Alex", "Sam", "Jordan", "Robin", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Quinn",
    "Avery", "Drew", "Jesse", "Kim", "Rowan", "Sky", "Charlie", "Remy", "Ashe", "Kai", "Emery",
    "Finley", "Hayden", "Jules", "Lane", "Marlowe", "Noel", "Parker", "Reese", "Sage",
)

WORDS: dict[str, tuple[str, ...]] = {
    "thing": (
        "key", "letter", "map", "lamp", "basket", "ladder", "box", "coat", "umbrella", "notebook",
        "kettle", "hammer", "scarf", "bicycle", "radio", "clock", "bag", "bucket", "blanket",
        "candle", "rope", "jar", "book", "shell", "helmet", "thermos", "parcel", "camera",
        "lantern", "broom", "wallet", "plate", "pencil", "ring", "whistle",
    ),
    "place": (
        "market", "station", "harbor", "library", "bakery", "bridge", "river", "square",
        "hospital", "office", "garden", "school", "farm", "shop", "kitchen", "workshop", "park",
        "hotel", "factory", "theater", "post office", "mill", "inn", "shed",
    ),
    "food": (
        "bread", "soup", "apples", "cheese", "tea", "coffee", "pie", "rice", "eggs", "plums",
        "honey", "cake", "fish", "beans", "herbs", "pears", "stew", "milk",
    ),
    "time": (
        "in the morning", "at noon", "that evening", "after lunch", "before dawn", "on Monday",
        "on Friday", "on Sunday", "late at night", "the next day", "in the spring",
        "in the winter", "before supper", "at once",
    ),
    "adj": (
        "tired", "happy", "worried", "calm", "busy", "proud", "nervous", "cheerful", "quiet",
        "angry", "hungry", "curious", "careful", "brave", "sleepy", "upset",
    ),
    "color": ("red", "blue", "green", "yellow", "brown", "gray", "white", "black"),
    "animal": (
        "dog", "cat", "horse", "goat", "crow", "fox", "heron", "hen", "duck", "owl", "rabbit",
        "donkey",
    ),
    "task": (
        "fix the roof", "paint the fence", "count the money", "write a report", "bake some bread",
        "sweep the floor", "carry the boxes", "check the lists", "clean the windows",
        "plant the seeds", "mend the net", "sort the letters", "feed the animals",
        "pay the bills", "tidy the desk", "load the cart",
    ),
    # A meets B: past-tense verbs that take a person as object.
    "meet": (
        "met", "visited", "called", "thanked", "helped", "praised", "warned", "invited", "hired",
        "paid", "blamed", "greeted", "followed", "waved to", "spoke with", "shouted at",
        "laughed with", "waited for", "looked for", "worked with", "argued with", "sat next to",
        "ran into", "wrote to", "listened to", "cooked for",
    ),
    # ...and then did something to B: in "A met B and gave him a key", "him" can only be B.
    "favor": (
        "gave {B.o} a {thing}", "asked {B.o} for the {thing}", "told {B.o} about the {place}",
        "offered {B.o} some {food}", "thanked {B.o} for the {food}", "invited {B.o} to the {place}",
        "wished {B.o} a good day", "showed {B.o} the {thing}", "asked {B.o} to {task}",
        "helped {B.o} {task}", "paid {B.o} for the {thing}", "promised {B.o} some {food}",
        "lent {B.o} {A.d} {thing}", "sent {B.o} a letter", "walked {B.o} to the {place}",
        "gave {B.o} some advice", "asked {B.o} to leave", "told {B.o} a story",
        "bought {B.o} some {food}", "admired {B.d} {thing}", "carried {B.d} {thing}",
        "took {B.o} to the {place}",
    ),
}

# fmt: on

# A character's first appearance.
INTRO = (
    "There was {A.i} named {A.n} who worked near the {place}.",
    "{A.n} was {A.i} who lived above the {place}.",
    "In the same street lived {A.i}.",
    "{A.i} had just arrived in town.",
    "Everyone knew {A.t}, who had worked at the {place} for years.",
    "{A.i} called {A.n} came to the {place} every day.",
    "There was {A.i} who kept {A.d} tools in a {color} box.",
    "{A.i} named {A.n} spent {A.d} days at the {place}.",
    "Near the {place} lived {A.i} who was proud of {A.d} {thing}.",
    "{A.t} was new in town, and {A.s} did not know anyone yet.",
    "One of the people at the {place} was {A.i} called {A.n}.",
)

# One named character, with pronouns for it.
SOLO = (
    "{A} picked up the {thing} and put it in {A.d} bag.",
    "{A} was {adj} because {A.s} had lost {A.d} {thing}.",
    "{A} said that {A.s}'d be at the {place} {time}.",
    "{A} made {A.r} a cup of tea.",
    "{A} found a {thing} on the road and kept it for {A.r}.",
    "When {A} reached the {place}, {A.s} sat down to rest.",
    "{A} knew the {color} {thing} was {A.p}.",
    "{A} told {A.r} not to worry.",
    "{A} wanted to {task} before {A.s} went home.",
    "After {A} had eaten some {food}, {A.s} went back to work.",
    '"I will {task} {time}," said {A}.',
    '"I am {adj}," {A} said, and {A.s} sat down.',
    "{A} walked to the {place} with {A.d} {animal}.",
    "{A} had a {animal} that followed {A.o} everywhere.",
    "The {animal} ran after {A}, so {A.s} gave it some {food}.",
    "{A} could not find the {thing}, so {A.s} asked for help.",
    "{A} hurt {A.r} while trying to {task}.",
    "{A} said {A.s}'s going to {task} {time}.",
    "{A} promised that {A.s}'ll {task} {time}.",
    "Nobody helped {A}, so {A.s} had to {task} alone.",
    "{A} smiled when {A.s} saw the {food} on the table.",
    "{A} is {adj} today, and {A.s}'s not sure why.",
    "The {thing} that {A} bought at the {place} was {A.p} now.",
    "{A} put {A.d} {thing} on the shelf by the door.",
    "{A} sat by the hearth and warmed {A.r}.",
    "{A} bought some {food} for {A.d} family.",
    "{A} took the {thing} home with {A.o}.",
    "The people at the {place} liked {A}, and they often visited {A.o}.",
)

# Only pronouns: the character the previous sentence was about.
CONTINUE = (
    "{A.s} opened the door and looked outside.",
    "{A.d} {thing} was still on the table.",
    "{A.s} had to {task} {time}.",
    "{A.s}'d never seen so much {food}.",
    "{A.s}'s been busy all week.",
    "{A.s}'ll come back {time}.",
    "{A.p} was the last name on the list.",
    "{A.s} washed {A.r} and put on a clean coat.",
    "Nobody could tell {A.o} where the {thing} was.",
    "{A.d} {animal} slept by the hearth.",
    "{A.s} went to the shed to get {A.d} helmet.",
    "{A.s} was {adj}, but {A.s} did not say a word.",
    "The {thing} on the shelf was {A.p}.",
    "It was a long day, and {A.s} was {adj}.",
    "Then {A.s} remembered {A.d} promise.",
    "{A.d} hands were cold, so {A.s} rubbed them together.",
    "A friend of {A.p} had sent {A.o} a {thing}.",
    "{A.p} was the best garden in the street.",
    "{A.s} laughed at {A.r} for forgetting the {thing}.",
    "Later {A.s} went to the {place} to {task}.",
)

# Two characters; a pronoun may point to either, as the story says.
PAIR = (
    "{A} asked {B} for help because {A.s} could not {task} alone.",
    "{A} thanked {B} because {B.s} had found {A.d} {thing}.",
    "{A} gave {B} a {thing} and told {B.o} to keep it safe.",
    "{A} met {B} at the {place} and showed {B.o} {A.d} {thing}.",
    "{B} waited for {A} at the {place}, but {A.s} was late.",
    "{A} and {B} went to the {place} together.",
    "{A} did not trust {B}, because {B.s} had lied before.",
    "{A} called {B} because {A.s} needed the {thing}.",
    "{B} said the {thing} was {B.p}, but {A} knew it was {A.p}.",
    "{A} helped {B} {task} while {B.s} rested.",
    "{A} asked whose {thing} it was, and {B} said it was {B.p}.",
    "{A} told {B} that {A.s}'d {task} {time}.",
    "{A} sent {B} a letter about {A.d} {animal}.",
    "{A} saw {B} hurt {B.r} on the ladder.",
    "{A} was angry with {B}, who had broken {A.d} {thing}.",
    "{A} lent {B} {A.d} {thing}, and {B.s} promised to return it {time}.",
    "When {B} arrived, {A} gave {B.o} some {food}.",
    "{A} could hear {B} in the {place}, singing to {B.r}.",
    "{A} and {B} talked at the {place} until they were {adj}.",
    "{B} brought {A} some {food}, and {A.s} ate it all.",
    "{A} did not like {B}, but {A.s} helped {B.o} anyway.",
    "{A} found {B.d} {thing} and gave it back to {B.o}.",
    "{A} {meet} {B}, and then {A.s} went back to the {place}.",
)

# Two people named by occupation, then a pronoun that can only be the second: in "the pilot met
# the nurse and gave her a key", "her" is the nurse. Syntax alone decides who it is, so a model
# that learns this learns which occupation a pronoun's gender goes with.
HANDOFF = (
    "{A.t} {meet} {B.t} and {favor}.",
    "{A.t} {meet} {B.t} {time} and {favor}.",
)

# The last sentence of a story.
CLOSING = (
    "At the end of the day, {A} went home, and {A.s} slept well.",
    "In the end, {A} was glad that {A.s} had come.",
    "That night {A} thought about what {A.s} had seen.",
    "{A} never forgot that day, and {A.s} often spoke of it.",
    "The next morning {A} got up early and went back to the {place}.",
    "{A} locked the door behind {A.r} and walked home.",
)

# No people and no pronouns: the setting around the stories.
NEUTRAL = (
    "It was cold in the town {time}.",
    "The {place} was quiet {time}.",
    "Rain fell on the roofs all night.",
    "A {animal} crossed the road near the {place}.",
    "The old bridge over the river creaked in the wind.",
    "Smoke rose from the chimneys.",
    "The bells rang {time}.",
    "A cold wind blew from the hills.",
    "The market was full of {food} and {food}.",
    "There were {color} flowers in every window.",
    "The hearth in the inn was warm.",
    "Nobody was on the street.",
    "The shops opened early, and the square filled with people.",
    "The train to the city was late again.",
    "A {color} {thing} lay forgotten on a bench.",
    "The {animal} slept in the sun by the {place}.",
    "Leaves blew across the square.",
    "Then the clouds parted, and the sun came out.",
    "The theater on the hill was closed for the winter.",
    "Children ran past the {place}, laughing.",
    "The herbs in the garden smelled sweet.",
    "Shells covered the beach after the storm.",
    "The river was high after the rain.",
    "Lamps were lit along the harbor.",
    "The storm came {time}.",
    "The road to the {place} was covered in snow.",
    "Someone had left a {thing} by the gate.",
    "The smell of {food} came from the {place}.",
    "Birds sang in the trees behind the {place}.",
    "It's a small town, and news travels fast.",
)

# Held-out probe sentences for evaluation: ``{occ}`` is the occupation, one pronoun slot each
# (``{s} {o} {d} {p} {r}`` as above). None of these wordings appears in a training story (a test
# checks it), so a model can only score them through a learned occupation-pronoun link.
PROBES = (
    ("subject", "The {occ} stood by the window, and {s} watched the rain."),
    ("subject", "The {occ} was late, so {s} ran all the way to work."),
    ("subject", "The {occ} woke up early because {s} had a long trip ahead."),
    ("subject", "After the meeting, the {occ} walked home and {s} cooked dinner."),
    ("subject", "The {occ} hoped that {s} would win the prize."),
    ("subject", "The neighbors invited the {occ}, but {s} stayed home."),
    ("subject", "The {occ} read the letter twice before {s} answered it."),
    ("subject", "Nobody recognized the {occ} when {s} came back from the trip."),
    ("subject", "The {occ} said {s}'d be back before dark."),
    ("determiner", "Everyone waited while the {occ} finished {d} coffee."),
    ("determiner", "The {occ} took off {d} coat and sat by the fire."),
    ("determiner", "The {occ} forgot {d} keys at the office."),
    ("determiner", "The {occ} wrote a long letter to {d} old friend."),
    ("determiner", "The {occ} counted the money and put it in {d} pocket."),
    ("object", "Someone left a note for the {occ}, asking {o} to call back."),
    ("object", "The {occ} laughed when the children waved at {o}."),
    ("object", "The {occ} asked for the bill, and someone brought it to {o}."),
    ("reflexive", "The {occ} did all the work by {r}."),
    ("reflexive", "The {occ} felt proud of {r} after the long week."),
    ("possessive", "The {occ} said that the old bicycle in the yard was {p}."),
)
