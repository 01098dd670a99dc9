"""A seeded generator of simple children's stories: characters, places, objects and
feelings; past tense; a beginning, a problem or wish, and an end.

Each story picks a hero, a friend, a place and an object, then one of a dozen plots
(lost and found, a new friend, sharing, a fear, building, baking, a gift, rain, helping
an animal, a race, a trip, a mess). Every beat has several phrasings, so a model must
learn sentences, not memorise stories.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from textgen.data.storybook import words as W

STORIES = 3000  # about 1.5 MB of text


@dataclass
class Character:
    name: str
    kind: str  # "girl", "boy", or an animal
    he: str  # subject pronoun

    @property
    def him(self) -> str:
        return {"he": "him", "she": "her"}[self.he]

    @property
    def his(self) -> str:
        return {"he": "his", "she": "her"}[self.he]

    @property
    def He(self) -> str:
        return self.he.capitalize()

    @property
    def His(self) -> str:
        return self.his.capitalize()


def article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def capitalize(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:] if sentence else sentence


class StoryWriter:
    """Writes one story from a random generator; `say` keeps the sentences."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.sentences: list[str] = []
        self.hero = self.character()
        self.friend = self.character(avoid=self.hero.name)
        self.place, self.at, self.sights, self.spots = rng.choice(W.PLACES)
        noun, adjectives = rng.choice(W.OBJECTS)
        self.thing = f"{rng.choice(adjectives)} {noun}"
        self.adult, self.adult_he = rng.choice(W.ADULTS)

    def character(self, avoid: str = "") -> Character:
        rng = self.rng
        while True:
            if rng.random() < 0.65:
                kind = rng.choice(("girl", "boy"))
                name, he = rng.choice(W.KIDS[kind]), "she" if kind == "girl" else "he"
            else:
                kind, names, _ = rng.choice(W.ANIMALS)
                name, he = rng.choice(names), rng.choice(("he", "she"))
            if name != avoid:
                return Character(name, kind, he)

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def say(self, *options: str) -> None:
        self.sentences.append(capitalize(self.pick(*options)))

    def text(self) -> str:
        paragraphs, current = [], []
        for sentence in self.sentences:
            current.append(sentence)
            if len(current) >= 3 and self.rng.random() < 0.35:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        return "\n".join(paragraphs)

    # --- beginnings and endings ---------------------------------------------------------

    def begin(self) -> None:
        h, rng = self.hero, self.rng
        size = self.pick("little", "small", "happy", "kind", "curious", "brave", "shy", "funny")
        who = f"{size} {h.kind}"
        home = next((home for kind, _, home in W.ANIMALS if kind == h.kind), "a little house")
        self.say(f"once upon a time, there was {article(who)} named {h.name}.",
                 f"there once was {article(who)} named {h.name}.",
                 f"{h.name} was {article(who)} who lived in {home}.",
                 f"once upon a time, {article(who)} named {h.name} lived in {home}.")
        if rng.random() < 0.7:
            self.say(f"{h.he} loved to play {self.at} the {self.place}.",
                     f"{h.he} liked to play with {h.his} friend {self.friend.name}.",
                     f"{h.he} had {article(self.thing)} that {h.he} loved very much.",
                     f"every day, {h.he} went to the {self.place} to play.",
                     f"{h.he} was always happy and liked to laugh.")

    def end(self, feeling: str = "happy", with_friend: bool = False, outside: bool = True) -> None:
        """A closing line that fits: only plots where the friend took part may end with the friend."""
        h, f = self.hero, self.friend
        endings = [f"that night, {h.name} went to bed with a big smile.",
                   f"{h.name} was very {feeling}. It was the best day ever.",
                   f"{h.name} smiled. {h.He} felt {feeling} all day long.",
                   "the end."]
        if with_friend:
            endings += [f"from that day on, {h.name} and {f.name} were best friends.",
                        f"{h.name} hugged {f.name} and said, \"Thank you for being my friend.\""]
        if outside:
            endings.append(f"then they went home and had {self.pick(*W.FOODS)}.")
        self.say(*endings)

    # --- plots ----------------------------------------------------------------------------

    def lost_and_found(self) -> None:
        h, f, thing = self.hero, self.friend, self.thing
        self.say(f"{self.pick(*W.TIMES)}, {h.name} went to the {self.place} with {h.his} {thing}.",
                 f"{self.pick(*W.TIMES)}, {h.name} took {h.his} {thing} to the {self.place}.")
        self.say(f"{h.he} played with it near the {self.pick(*self.sights).split()[-1]}.",
                 f"{h.he} ran and jumped and played all day.",
                 f"{h.he} saw {self.pick(*self.sights)} and ran to look.")
        self.say(f"when it was time to go home, {h.name} could not find {h.his} {thing}.",
                 f"then {h.name} looked down. {h.His} {thing} was gone!",
                 f"but soon {h.name} saw that {h.his} {thing} was not there.")
        self.say(f"{h.name} was very sad. {h.He} started to cry.",
                 f"{h.name} felt sad and scared.",
                 f"\"Oh no! Where is my {thing}?\" {h.name} said.")
        self.say(f"{f.name} saw {h.name} crying and came to help.",
                 f"just then, {h.his} friend {f.name} came by.",
                 f"{f.name} said, \"Do not be sad. I will help you look.\"")
        spot = self.pick(*self.spots)
        self.say(f"they looked {self.pick(*self.spots)}, but it was not there.",
                 "they looked and looked everywhere.",
                 f"{h.name} and {f.name} looked high and low.")
        self.say(f"then {f.name} found the {thing} {spot}!",
                 f"at last, {h.name} saw the {thing} {spot}.",
                 f"then {f.name} shouted, \"Look! It is {spot}!\"")
        self.say(f"{h.name} was so happy. {h.He} gave {f.name} a big hug.",
                 f"\"Thank you, {f.name}!\" said {h.name}. {h.He} was happy again.",
                 f"{h.name} smiled and held {h.his} {thing} tight.")
        self.end(with_friend=True)

    def new_friend(self) -> None:
        h, f = self.hero, self.friend
        self.say(f"{self.pick(*W.TIMES)}, {h.name} went to the {self.place}.",
                 f"{self.pick(*W.TIMES)}, {h.name} was playing {self.at} the {self.place}.")
        self.say(f"there {h.he} saw {article(f.kind)} named {f.name} sitting all alone.",
                 f"{h.he} saw {article(f.kind)} who looked sad. The {f.kind} was {f.name}.",
                 f"{h.he} met {article(f.kind)} named {f.name} who had no one to play with.")
        self.say(f"{h.name} walked over and said, \"Hi! Do you want to play with me?\"",
                 f"\"Why are you sad?\" asked {h.name}. \"I have no friends,\" said {f.name}.",
                 f"{h.name} wanted to help. {h.He} said, \"You can play with me!\"")
        game = self.pick(*W.GAMES)
        self.say(f"{f.name} smiled. They played {game} together.",
                 f"so {h.name} and {f.name} played {game} all afternoon.",
                 f"they played {game} and laughed and laughed.")
        self.say(f"{h.name} shared {h.his} {self.thing} with {f.name}.",
                 f"they saw {self.pick(*self.sights)} and ran to look.",
                 f"{f.name} showed {h.name} {self.pick(*self.sights)}.")
        self.say(f"{f.name} was not sad anymore.",
                 f"{f.name} felt happy to have a new friend.",
                 f"\"This is fun!\" said {f.name}.")
        self.end(with_friend=True)

    def sharing(self) -> None:
        h, f, thing = self.hero, self.friend, self.thing
        self.say(f"{h.name} had {article(thing)}. {h.He} loved it very much.",
                 f"{self.pick(*W.TIMES)}, {h.name} got {article(thing)} from {h.his} {self.adult}.")
        self.say(f"{h.name} took the {thing} to the {self.place}.",
                 f"{h.he} played with the {thing} {self.at} the {self.place} all morning.")
        self.say(f"{f.name} came and asked, \"Can I play with your {thing}?\"",
                 f"{f.name} saw the {thing} and wanted to play with it too.")
        self.say(f"\"No! It is mine!\" said {h.name}.",
                 f"but {h.name} did not want to share. {h.He} held the {thing} tight.")
        self.say(f"{f.name} was sad and walked away.",
                 f"{f.name} felt sad. {self.pick('He', 'She')} sat down and looked at the ground.")
        self.say(f"{h.his} {self.adult} saw this and said, \"It is nice to share, {h.name}.\"",
                 f"{h.name} looked at {f.name}. {h.He} did not feel good.",
                 f"{h.name} thought about it. Playing alone was not fun.")
        self.say(f"so {h.name} gave the {thing} to {f.name} and said, \"We can play together.\"",
                 f"{h.name} ran to {f.name} and said, \"I am sorry. Let's share the {thing}.\"")
        self.say(f"they took turns with the {thing}. It was much more fun.",
                 f"{f.name} smiled and they played with the {thing} together.")
        self.say(f"{h.name} learned that sharing makes everyone happy.",
                 f"{h.name} was glad {h.he} shared.")
        self.end(with_friend=True)

    def fear(self) -> None:
        h = self.hero
        fear, scary = self.rng.choice(W.SCARY)
        self.say(f"{h.name} was afraid of {fear}.",
                 f"{h.name} did not like {fear}. It made {h.him} scared.")
        self.say(f"{self.pick(*W.TIMES)}, {h.name} saw {scary}.",
                 f"{self.pick(*W.TIMES)}, {h.name} had to go near {scary}.")
        self.say(f"{h.he} felt scared and wanted to run away.",
                 f"{h.his} legs shook. \"I am scared,\" {h.he} said.",
                 f"{h.he} hid behind {h.his} {self.adult}.")
        self.say(f"{h.his} {self.adult} held {h.his} hand and said, \"Do not be afraid. I am here.\"",
                 f"{h.his} {self.adult} gave {h.him} a hug. \"You are brave,\" {self.adult_he} said.",
                 f"{h.his} friend {self.friend.name} said, \"I will stay with you.\"")
        self.say(f"{h.name} took a big breath.",
                 f"{h.name} counted to three.",
                 f"{h.name} closed {h.his} eyes and then opened them.")
        self.say(f"{h.he} looked at {scary} again. It was not so bad!",
                 f"{h.he} saw that {scary} was not scary at all.",
                 f"{h.he} was brave, and soon {h.he} was not scared anymore.")
        self.say(f"{h.name} felt proud.",
                 f"{h.name} smiled. {h.He} was brave now.")
        self.end("proud")

    def building(self) -> None:
        h, f = self.hero, self.friend
        thing, stuff, place = self.rng.choice(W.BUILT)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} and {f.name} wanted to build {article(thing)}.",
                 f"{self.pick(*W.TIMES)}, {h.name} had an idea. \"Let's make {article(thing)}!\"")
        self.say(f"they found lots of {stuff} in the {place}.",
                 f"they got some {stuff} and started to work.")
        self.say(f"they made the {thing} big and tall.",
                 f"{h.name} put the {stuff} on top, and {f.name} helped.")
        self.say(f"but then, the {thing} fell down!",
                 f"oh no! The {thing} fell over.",
                 f"then a big wind came, and the {thing} fell down.")
        self.say(f"{h.name} was sad. {f.name} was sad too.",
                 f"{h.name} wanted to cry.",
                 f"\"Oh no,\" said {f.name}. \"Our {thing} is gone.\"")
        self.say(f"\"Let's try again,\" said {h.name}.",
                 f"{f.name} said, \"We can make it again!\"",
                 f"but {h.name} did not give up.")
        self.say("this time they worked slowly and carefully.",
                 f"they tried again, and this time the {thing} stood up tall.")
        self.say(f"the new {thing} was even better than before!",
                 f"at last, the {thing} was done. It was the best {thing} ever.")
        self.end("proud", with_friend=True)

    def baking(self) -> None:
        h = self.hero
        food = self.pick(*W.BAKED)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} helped {h.his} {self.adult} make {food}.",
                 f"{self.pick(*W.TIMES)}, {h.name} and {h.his} {self.adult} wanted to bake {food}.")
        self.say("they put flour, eggs and sugar in a big bowl.",
                 f"{h.name} put the milk and the eggs in the bowl.")
        self.say(f"{h.name} mixed and mixed. It was hard work!",
                 f"{h.name} stirred with a big spoon.")
        self.say(f"then {h.his} {self.adult} put it in the hot oven.",
                 "they waited and waited for the oven.")
        self.say("soon the kitchen smelled so good.",
                 "the smell was sweet and warm.")
        self.say(f"when it was ready, {h.name} shared it with {self.friend.name}.",
                 f"{h.name} gave some to {h.his} friend {self.friend.name}.",
                 f"{h.name} took a big bite. \"Yum!\" {h.he} said.")
        self.say("everyone said it was the best they ever had.",
                 f"{self.friend.name} said, \"This is so yummy! Thank you!\"")
        self.end(outside=False)

    def gift(self) -> None:
        h = self.hero
        gift = self.pick(*W.GIFTS)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} wanted to make {h.his} {self.adult} happy.",
                 f"it was {h.his} {self.adult}'s birthday, and {h.name} wanted to make a gift.")
        self.say(f"{h.he} decided to make {gift}.",
                 f"{h.he} had an idea. {h.He} would make {gift}!")
        self.say(f"{h.he} worked very hard. {h.He} used {self.pick('red', 'blue', 'yellow', 'green')} and {self.pick('pink', 'purple', 'orange', 'white')} colors.",
                 f"{h.he} sat at the table and worked all morning.")
        self.say(f"{h.his} friend {self.friend.name} came to help.",
                 f"it was not easy, but {h.name} did not stop.")
        self.say(f"when it was done, {h.name} gave {h.his} {self.adult} the gift.",
                 f"{h.name} ran to {h.his} {self.adult}. \"This is for you!\" {h.he} said.")
        self.say(f"{h.his} {self.adult} smiled a big smile. \"I love it!\" {self.adult_he} said.",
                 f"{h.his} {self.adult} was so happy that {self.adult_he} gave {h.name} a big hug.")
        self.end(outside=False)

    def rain(self) -> None:
        h = self.hero
        self.say(f"{self.pick(*W.TIMES)}, {h.name} wanted to go to the {self.place}.",
                 f"{h.name} and {self.friend.name} wanted to play {self.at} the {self.place}.")
        self.say("but it started to rain. Drip, drop, drip!",
                 "but then, dark clouds came, and it began to rain.")
        self.say(f"{h.name} was sad. {h.He} could not go outside.",
                 f"{h.name} looked out the window and felt sad.")
        self.say(f"{h.his} {self.adult} said, \"Let's play inside!\"",
                 f"so {h.he} played with {h.his} {self.thing} inside.",
                 f"{h.he} drew a picture of the {self.place} with {h.his} crayons.")
        self.say("they built a fort and read a book.",
                 "they played a game and had a snack.")
        self.say("after a while, the rain stopped and the sun came out.",
                 "soon the sun came out again.")
        self.say(f"there was a big rainbow in the sky! {h.name} jumped with joy.",
                 f"{h.name} ran outside and jumped in a puddle. Splash!")
        self.end(outside=False)

    def rescue(self) -> None:
        h = self.hero
        animal, part = self.rng.choice(W.HURT_ANIMALS)
        stuck = self.pick(*W.STUCK_PLACES)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} was playing {self.at} the {self.place}.",
                 f"{self.pick(*W.TIMES)}, {h.name} went for a walk to the {self.place}.")
        self.say(f"{h.he} heard a small sound. It was a little {animal} {stuck}.",
                 f"{h.he} saw a little {animal} {stuck}. It could not get down.")
        self.say(f"the {animal} had hurt {part}. It looked scared.",
                 f"the little {animal} was cold and scared.")
        self.say(f"{h.name} wanted to help. {h.He} called {h.his} {self.adult}.",
                 f"\"Do not worry, little {animal},\" said {h.name}. \"I will help you.\"")
        self.say(f"{h.his} {self.adult} came and gently picked up the {animal}.",
                 f"{h.name} and {h.his} {self.adult} helped the {animal} very carefully.")
        self.say(f"they gave the {animal} some food and water and a warm bed.",
                 f"they took care of the {animal} until it was well again.")
        self.say(f"soon the {animal} was happy and strong.",
                 f"the {animal} was safe now, and it was not scared anymore.")
        self.end()

    def race(self) -> None:
        h, f = self.hero, self.friend
        faller, helper = (h, f) if self.rng.random() < 0.5 else (f, h)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} and {f.name} went to the {self.place}.",
                 f"{h.name} and {h.his} friend {f.name} liked to run fast.")
        self.say(f"\"Let's have a race!\" said {f.name}.",
                 f"{h.name} said, \"I can run faster than you!\"")
        self.say(f"they ran and ran. {h.name} was fast, and {f.name} was fast too.",
                 "ready, set, go! They ran as fast as they could.")
        self.say(f"then {faller.name} fell down and hurt {faller.his} knee.",
                 f"but {faller.name} tripped on a rock and fell.")
        self.say(f"{helper.name} stopped running and came back to help {faller.him}.",
                 f"{helper.name} did not keep running. {helper.He} ran back to {faller.name}.")
        self.say(f"\"Are you okay?\" asked {helper.name}. \"Yes, I am okay,\" said {faller.name}.",
                 f"{helper.name} helped {faller.name} up, and they sat down on the grass together.")
        self.say("they did not care who won. They laughed and walked home together.",
                 f"{h.name} said, \"Friends are more important than winning.\"")
        self.end(with_friend=True)

    def trip(self) -> None:
        h = self.hero
        place, sights = self.rng.choice(W.TRIPS)
        first, second = self.rng.sample(sights, 2)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} went to the {place} with {h.his} {self.adult}.",
                 f"{self.pick(*W.TIMES)}, {h.name}'s {self.adult} said, \"Today we will go to the {place}!\"")
        self.say(f"{h.name} was very excited. {h.He} had never been to the {place}.",
                 f"{h.name} jumped up and down. {h.He} was so excited!")
        self.say(f"at the {place}, {h.name} saw {first}.",
                 f"first, they saw {first}.")
        self.say(f"then {h.he} saw {second}. \"Wow!\" said {h.name}.",
                 f"next, they saw {second}. {h.name} laughed and clapped.")
        self.say(f"they had {self.pick(*W.FOODS)} for lunch.",
                 f"{h.name} got to pet a little animal. It was so soft.")
        self.say(f"{h.name} liked {second} the best.",
                 f"it was a long day, and {h.name} was tired.")
        self.say(f"on the way home, {h.name} fell asleep in the car.",
                 f"{h.name} told {self.friend.name} all about the {place}.")
        self.end(outside=False)

    def mess(self) -> None:
        h = self.hero
        stuff, did, spot = self.rng.choice(W.MESSES)
        self.say(f"{self.pick(*W.TIMES)}, {h.name} was playing with {stuff}.",
                 f"{h.name} liked to play with {stuff}.")
        self.say(f"{h.he} {did}. It made a big mess!",
                 f"oops! {h.name} {did}.")
        self.say(f"{h.his} {self.adult} came in and saw the mess.",
                 f"when {h.his} {self.adult} saw {spot}, {self.adult_he} was not happy.")
        self.say(f"\"{h.name}, what did you do?\" asked {h.his} {self.adult}.",
                 f"{h.name} felt bad. {h.He} looked at the floor.")
        self.say(f"\"I am sorry,\" said {h.name}. \"I will clean it up.\"",
                 f"{h.name} said sorry and got a cloth.")
        self.say(f"{h.he} cleaned {spot} until it was shiny.",
                 f"{h.he} worked hard, and soon {spot} was clean again.")
        self.say(f"{h.his} {self.adult} smiled and said, \"Thank you for cleaning up.\"",
                 f"{h.his} {self.adult} gave {h.him} a hug. \"Good job,\" {self.adult_he} said.")
        self.end(outside=False)

    PLOTS = ("lost_and_found", "new_friend", "sharing", "fear", "building", "baking", "gift", "rain",
             "rescue", "race", "trip", "mess")

    def write(self) -> str:
        self.begin()
        getattr(self, self.pick(*self.PLOTS))()
        return self.text()


def little_stories(seed: int = 0, stories: int = STORIES) -> Iterator[str]:
    """`stories` stories from one seeded random generator."""
    rng = random.Random(seed)
    for _ in range(stories):
        yield StoryWriter(rng).write()
