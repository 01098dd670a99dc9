"""Repetition detectors and metrics on plain text (the cast metrics come from textgen.cast).

Detectors, each finding with its kind, character span, sentence, the word that makes the
repetition (`word_start`/`word_end`, where attribution asks the model) and an explanation:

- self-object: the subject of a clause comes back as its object ("Doug saw Doug.", "The
  little red hen helped the little red hen.", "Max is watching Max."). Rule: split the
  sentence into clauses at , ; : quotes, dashes and "and"/"but"/"then"/"so"/"because"/
  "when"/"while"; drop a time opener ("Every morning", "Suddenly"); the subject is a name
  (up to three capitalised words: "Mr. Fox", "Aunt May") or a determiner and one to three
  words ("the little bunny"); a clause after "and"/"then"/"but" that starts with a verb
  shares the name subject of the clause before ("Ava woke up and hugged Ava."). Then up to
  three helpers, "not" or adverbs ("did not", "quickly"), a lower-case verb (after a form
  of "be" only an -ing verb, or an adjective and a to-infinitive: "was happy to see"), up
  to two to-infinitives ("wanted to hug", "went to see"), up to two prepositions or
  particles ("play with", "went home with"), and the same subject again, word for word.
  Not errors: reflexives ("saw himself"), new referents ("a dog", "another dog"), a longer
  name ("Tom saw Tom Brown"), an object qualified by "of" ("the king of the north"),
  "that" objects ("lies that way"), copulas ("Kim is Kim"), a noun that modifies the real
  object ("the duck pond"), and the subject of a second clause: the repeat followed by a
  helper ("Ben knew Ben had to try") or by a verb after know/think/say/hope...
  ("Lily thought Lily liked cake").
  Known misses: pronoun subjects ("He saw him"), passives, subjects in an earlier clause
  other than the one right before, objects after three or more prepositions; and one
  known false alarm: a noun-noun object after a perception verb ("The boy saw the boy
  scout.").
- immediate-repeat: a word written twice in a row ("the the", also across a line break).
  Not reported: grammatical doubles ("had had", "that that", "whoever wins wins", "showed
  her her hat"), sound words and cheers ("ha ha", "knock knock", "hip hip"), intensifiers
  ("very very"), and a repeat with punctuation between ("Go, go!").
- phrase-loop: a phrase of two or more words repeated back to back within a sentence
  ("and they played and they played and they played"); the finding spans every repeat,
  the last partial one too. Not reported: reduplications with "and"/"or" ("bigger and
  bigger"), idioms ("hand in hand", "as still as still"), one word over and over ("tick
  tick tick tick": an immediate repeat's case), and fewer than four repeats with
  punctuation inside ("Come in, come in!", "Thank you, thank you, thank you"): human
  writers use all of these on purpose. Known miss: a loop of three comma-separated repeats.
- repeated-sentence: a sentence of three or more words equal (ignoring case, spacing and
  punctuation) to an earlier sentence of the same story, or a shorter statement written a
  third time in a row ("They played. They played. They played."); "Tom ran. Tom ran." and
  "Oh no! ... Oh no!" are a storyteller's. A hard-wrapped sentence (a line break, then
  more of it in lower case) is one sentence. "Mr." does not end a sentence,
  and a quoted exclamation with its speech tag is one sentence ("“Run!” said Tim.").
  Human writers repeat short sentences on purpose ("They were happy."); the human
  baseline shows how often.
Metrics over a set of stories: seq-rep-n (Welleck et al. 2019), distinct-n, rep-l and the
rate of each finding kind per 1,000 words.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


KINDS = ("self-object", "immediate-repeat", "phrase-loop", "repeated-sentence")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters of any script: "Zoë", "José"
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*[\"”’]?")
CLAUSE_BREAK = re.compile(r"[,;:\"“”()—–]|--|\b(?:and|but|then|so|because|when|while)\b", re.IGNORECASE)
DETERMINERS = {"the", "his", "her", "their", "my", "your", "its", "our", "this", "that"}
NEW_REFERENT = {"a", "an", "another", "other", "some", "one", "two", "three", "many", "every", "each", "no"}
PREPOSITIONS = {"at", "with", "to", "for", "on", "after", "about", "like", "near", "behind", "under", "into"}
NOT_VERBS = DETERMINERS | NEW_REFERENT | PREPOSITIONS | {"and", "or", "was", "were", "is", "are", "not", "very", "too", "so"}
REFLEXIVES = {"himself", "herself", "itself", "themselves", "myself", "yourself", "ourselves"}
PRONOUNS = {"he", "she", "it", "they", "i", "you", "we", "him", "them", "me", "us"}
GRAMMATICAL_DOUBLES = {"had", "that"}
# sounds, cheers and baby talk are written doubled on purpose
SOUND_DOUBLES = {"twinkle", "hooray", "hurray", "tock", "dong", "ding", "ha", "ho", "hee", "la", "bye", "yum", "knock", "choo", "no", "yes", "tick", "boo", "woof", "meow",
                 "quack", "moo", "oink", "tweet", "chirp", "beep", "hip", "boom", "buzz", "toot", "honk", "baa",
                 "zoom", "vroom", "splash", "tap", "clap", "bang", "pop", "peep", "drip", "puff", "chug", "ring", "cuckoo",
                 "tut", "night", "bow", "wow", "hoo", "wee", "yay", "zip", "bzz", "ah", "oh", "uh", "mm", "hmm", "shh", "sh",
                 "tra", "fa", "da", "na", "pom", "rat", "tat", "cha", "clip", "clop", "flip", "flop", "pitter", "patter",
                 "tum", "rub", "dub", "boing", "cluck", "ribbit", "hiss", "roar", "grr", "caw", "coo", "hoot",
                 "neigh", "bleat", "mew", "purr", "squeak", "whoosh", "swish", "thump", "bump", "plop", "ting", "dum",
                 "tweedle", "doo", "bam", "pow", "wham", "bonk", "ooh", "aah", "wah"}
# "whoever wins wins", "the kids who sang sang", "what it is is": the double is grammatical after these
# "very very", "many many": intensifiers
INTENSIFIERS = {"very", "many", "much", "long", "far", "so", "really"}
IDIOM_NOUNS = {"hand", "side", "day", "face", "one", "little", "step", "arm", "cheek", "heart", "head", "back", "eye", "year",
               "night", "time", "bit", "row", "nose", "toe", "shoulder", "house", "door", "room", "tree", "word", "drop", "inch"}
IDIOM_LINKS = {"in", "by", "to", "after", "upon", "for", "on"}
DOUBLE_OPENERS = {"who", "whoever", "whatever", "whichever", "what", "whom"}
# words after an object that still end the noun phrase (otherwise "the duck pond": duck is a modifier)
TITLE_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Prof|Mt)\.\s*$")
SPEECH_END = re.compile(r"[!?,][\"”’]\s*$")
HELPERS = {"is", "was", "were", "are", "am", "be", "been", "being", "has", "have", "had", "do", "does", "did", "will", "would",
           "can", "could", "should", "shall", "must", "may", "might", "not", "never", "didn't", "don't", "doesn't", "won't",
           "can't", "couldn't", "wasn't", "isn't"}
BE_FORMS = {"is", "was", "were", "are", "am", "be", "been", "being", "isn't", "wasn't"}
OBJECT_DETERMINERS = {"the", "his", "her", "their", "my", "your", "its", "our"}  # not "that": "lies that way" is another way
ADVERBS = {"also", "always", "just", "still", "soon", "often", "even", "almost", "quickly", "then", "really", "once", "again"}
LY_ADJECTIVES = {"lonely", "silly", "friendly", "ugly", "lovely", "jolly", "curly", "holy", "early", "only", "family", "sally",
                 "lily", "molly", "polly", "holly", "billy", "emily", "kelly", "belly", "jelly", "fly", "reply", "apply"}
PARTICLES = {"home", "away", "along", "up", "down", "out", "back", "over", "around", "off", "in", "into", "onto", "from", "by", "past", "toward", "towards"}
NOT_NAMES_FIRST = {"once", "one", "then", "there", "when", "the", "a", "an", "suddenly", "later", "soon", "next", "finally", "now",
                   "today", "yesterday", "after", "before", "but", "and", "so", "oh", "yes", "no", "hello", "hi", "please",
                   "look", "come", "let", "go", "what", "where", "why", "how", "who", "if"}
# after these verbs the object is followed by a verb ("The dog saw the dog run"), not a second noun
VERBS_WITH_CLAUSE = {"let", "lets", "make", "makes", "made", "help", "helps", "helped", "watch", "watches", "watched", "see",
                     "sees", "saw", "hear", "hears", "heard", "feel", "felt", "have", "had", "bid", "want", "wanted", "asked",
                     "told", "taught", "needed", "let's"}
TIME_WORDS = {"yesterday", "today", "tonight", "tomorrow", "again", "too", "now", "then", "later", "soon", "first", "last",
              "instead", "anyway", "already", "still", "together", "alone", "well", "hard", "fast", "home"}
# "Lily thought Lily could do it": after these the second name starts a clause of its own
COMPLEMENT_VERBS = {"knew", "know", "knows", "thought", "think", "thinks", "hoped", "hope", "hopes", "said", "say", "says",
                    "wished", "wish", "believed", "believe", "guessed", "guess", "decided", "felt", "remembered", "forgot",
                    "realized", "noticed", "dreamed", "dreamt", "pretended", "promised"}
FUNCTION_WORDS = PRONOUNS | HELPERS | {"and", "or", "but", "so", "not", "to", "of", "as", "if", "than", "next", "first", "last", "same",
                                        "other", "one", "rest"}
# a clause may open with a time phrase before its subject ("Every morning the puppy licked the puppy.")
LEAD_IN = re.compile(r"\s*(?:(?:suddenly|later|soon|next|finally|now|today|yesterday|meanwhile|afterwards|at last)\b"
                     r"|(?:every|each|one|next|that|this|the next|later that)\s+(?:day|morning|night|evening|afternoon|week|time"
                     r"|summer|winter|spring|autumn|fall)\b|(?:in|on) the (?:morning|evening|afternoon|end|way home)\b)",
                     re.IGNORECASE)
PHRASE_ENDS = DETERMINERS | NEW_REFERENT | PREPOSITIONS | {"in", "around", "all", "again", "and", "but", "then", "so", "because", "when", "while", "very",
                              "too", "today", "every", "there", "here", "back", "away", "up", "down", "out", "off", "over",
                              "by", "from", "of", "until", "before", "as", "once"}


@dataclass
class Finding:
    kind: str
    start: int  # character offsets in the story text
    end: int
    text: str
    sentence: str
    explanation: str
    # the word that makes the repetition (the object, the second word, the first word of the
    # first repeat): where attribution asks what the model thought
    word_start: int = -1
    word_end: int = -1

    def __post_init__(self) -> None:
        if self.word_start < 0:  # the first word of the span
            match = WORD.search(self.text)
            self.word_start, self.word_end = ((self.start + match.start(), self.start + match.end()) if match
                                              else (self.start, self.end))

    @property
    def word(self) -> str:
        return self.text[self.word_start - self.start: self.word_end - self.start]

    def to_dict(self) -> dict:
        return {**asdict(self), "word": self.word}


def _words(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    return [(m.group(), offset + m.start(), offset + m.end()) for m in WORD.finditer(text)]


def sentences_of(story: str) -> list[tuple[str, int]]:
    """Sentences with their start offsets. "Mr." and "Dr." do not end a sentence, a quoted
    question or exclamation followed by its speech tag (“Run!” said Tim.) is one sentence, and
    so is a sentence hard-wrapped over lines (a line break, then more of it in lower case)."""
    spans: list[list[int]] = []
    for match in SENTENCE.finditer(story):
        if not match.group().strip():
            continue
        if spans:
            previous = story[max(spans[-1][0], spans[-1][1] - 64): spans[-1][1]]  # its end decides: linear, however long
            gap = story[spans[-1][1]: match.start()]
            starts_lower = match.group().lstrip()[:1].islower()
            joined = ("\n" not in gap and (TITLE_END.search(previous) or (SPEECH_END.search(previous) and starts_lower))) or (
                # a hard-wrapped line: one line break inside a sentence that goes on in lower case
                gap.count("\n") == 1 and not gap.strip() and starts_lower and not re.search(r"[.!?\"”’:;]\s*$", previous))
            if joined:
                spans[-1][1] = match.end()
                continue
        spans.append([match.start(), match.end()])
    return [(story[start:end], start) for start, end in spans]


def _is_name(word: str, first_in_clause: bool) -> bool:
    base = re.split(r"['’]", word.lower())[0]  # "I'm", "She's": a pronoun, not a name
    return word[0].isupper() and base not in PRONOUNS | DETERMINERS | NEW_REFERENT and not (
        first_in_clause and word.lower() in NOT_NAMES_FIRST | PHRASE_ENDS | HELPERS | NOT_VERBS)


def _verb_like(word: str, subject: tuple[str, ...]) -> bool:
    lowered = word.lower()
    return word[:1].islower() and lowered not in NOT_VERBS | PRONOUNS | PHRASE_ENDS | HELPERS and lowered not in subject


def _is_adverb(word: str) -> bool:
    return word in ADVERBS or (len(word) > 4 and word.endswith("ly") and word not in LY_ADJECTIVES)


def _name_run(words: list[tuple[str, int, int]], index: int, first: bool) -> int:
    """How many capitalised words from `index` form one name ("Mr Brown", "Aunt Rose"), at most 3."""
    size = 0
    while index + size < len(words) and size < 3 and _is_name(words[index + size][0], first and size == 0):
        size += 1
    return size


def find_self_objects(story: str) -> list[Finding]:
    findings = []
    for sentence, sentence_start in sentences_of(story):
        cut = [0] + [m.end() for m in CLAUSE_BREAK.finditer(sentence)] + [len(sentence)]
        last_subject = None  # (form, words) of the sentence's latest clause subject, for "Ava woke up and hugged Ava"
        for begin, end in itertools.pairwise(cut):
            clause = sentence[begin:end]
            lead = LEAD_IN.match(clause)
            words = [w for w in _words(clause, sentence_start + begin) if not lead or w[1] - sentence_start - begin >= lead.end()]
            # a doubled word ("The the dog") is an immediate repeat of its own; read the clause without it
            words = [w for k, w in enumerate(words) if k == 0 or w[0].lower() != words[k - 1][0].lower()]
            if not words:
                continue
            lowered = [w.lower() for w, _, _ in words]
            joined_by = sentence[max(0, begin - 4): begin].strip().lower()
            candidates = []  # (form, subject words, index of the first word after the subject)
            run = _name_run(words, 0, True)
            if run and re.search(r"['’]s$", lowered[run - 1]):
                # "Mia's mom hugged Mia's mom": a possessive name is a determiner; the whole phrase must come back
                candidates += [("noun", tuple(lowered[:run + size]), run + size) for size in (1, 2, 3)
                               if run + size < len(words) and not set(lowered[run:run + size]) & FUNCTION_WORDS]
            elif run:
                candidates.append(("name", tuple(lowered[:run]), run))
            elif lowered[0] in DETERMINERS:
                candidates += [("noun", tuple(lowered[1:1 + size]), 1 + size) for size in (1, 2, 3)
                               if 1 + size < len(words) and not set(lowered[1:1 + size]) & FUNCTION_WORDS]
            elif (last_subject and joined_by in ("and", "then", "but") and words[0][0][0].islower()
                  and lowered[0] not in NOT_VERBS | PRONOUNS | PHRASE_ENDS | NEW_REFERENT):
                candidates.append((*last_subject, 0))
            for form, subject, index in candidates:
                found = _self_object(story, sentence, words, lowered, form, subject, index)
                if found:
                    findings.append(found)
                    break
            # only the clause right before may lend its subject (a noun phrase's end is unknown: never lent)
            last_subject = ("name", tuple(lowered[:run])) if run else None
    return findings


def _self_object(story: str, sentence: str, words, lowered, form: str, subject: tuple[str, ...], index: int) -> Finding | None:
    """A finding when the words from `index` are helpers/adverbs, a verb, at most two prepositions
    or particles, and then the subject again as the object."""
    skipped = 0
    copula = False  # after a form of "be" only an -ing verb takes an object ("Max is watching Max"; "Men are men" is not one)
    while index < len(words) and skipped < 3 and (lowered[index] in HELPERS or _is_adverb(lowered[index])):
        copula = copula or lowered[index] in BE_FORMS
        index, skipped = index + 1, skipped + 1
    if index >= len(words):
        return None
    liked = skipped and lowered[index] in ("like", "likes")  # "did not like": after a helper, "like" is the verb
    if not words[index][0][0].islower() or (lowered[index] in NOT_VERBS | PRONOUNS | PHRASE_ENDS and not liked):
        return None
    if copula and not lowered[index].endswith("ing"):
        # "Lily was happy to see Lily": an adjective, "to" and a verb; otherwise "Men are men" is no object
        if not (index + 2 < len(words) and lowered[index + 1] == "to" and _verb_like(words[index + 2][0], subject)):
            return None
        index += 2
    if lowered[index] in subject or (set(subject) <= SOUND_DOUBLES and lowered[index] in SOUND_DOUBLES):
        return None  # "Tick tick tick", "Ding dong ding dong": sounds, not a subject and its verb
    verb = index
    index += 1
    # "wanted to hug", "went to see", "likes to play with": follow "to" to the verb that takes the object
    for _ in range(2):
        if index + 1 < len(words) and lowered[index] == "to" and _verb_like(words[index + 1][0], subject):
            verb, index = index + 1, index + 2
    while index < len(words) and index - verb <= 2 and lowered[index] in PREPOSITIONS | PARTICLES:
        index += 1
    if index >= len(words) or lowered[index] in REFLEXIVES | NEW_REFERENT:
        return None
    if form == "noun" and lowered[index] in OBJECT_DETERMINERS:
        index += 1
    last = index + len(subject) - 1
    if last >= len(words) or tuple(lowered[index: last + 1]) != subject:
        return None
    if last + 1 < len(words) and lowered[last + 1] == "of" and story[words[last][2]: words[last + 1][1]].strip() == "":
        return None  # "the king met the king of the north": the object is another king
    if last + 1 < len(words) and (lowered[last + 1] in HELPERS or (
            lowered[verb] in COMPLEMENT_VERBS and _verb_like(words[last + 1][0], subject) and lowered[last + 1] not in TIME_WORDS)):
        return None  # "Ben knew Ben had to try", "Mom said Mom was proud": the second one is a subject
    if form == "name":
        if last + 1 < len(words) and _is_name(words[last + 1][0], False) and story[words[last][2]: words[last + 1][1]].strip() == "":
            return None  # "Tom saw Tom Brown": a longer name, another person
    elif (last + 1 < len(words) and words[last][0].islower() and lowered[last + 1] not in PHRASE_ENDS | TIME_WORDS
          and not _is_adverb(lowered[last + 1]) and lowered[verb] not in VERBS_WITH_CLAUSE):
        return None  # "the duck swam to the duck pond": the noun modifies the real object
    span_start, span_end = words[0][1], words[last][2]
    named = story[words[index][1]: words[last][2]]
    # attribution asks about the object's first word: where the model chose to repeat the subject
    return Finding("self-object", span_start, span_end, story[span_start:span_end], sentence.strip(),
                   f"the subject {named!r} comes back as the object of {words[verb][0]!r}: a model without memory of "
                   "the subject writes this", words[index][1], words[index][2])


def find_immediate_repeats(story: str) -> list[Finding]:
    """One finding per run of the same word ("the the the" is one finding)."""
    findings: list[Finding] = []
    words = _words(story)
    run_word, run_length = "", 0
    for index, ((first, start, _), (second, second_start, end)) in enumerate(itertools.pairwise(words)):
        between = story[start + len(first): second_start]
        lowered = first.lower()
        opened = any(w.lower() in DOUBLE_OPENERS for w, _, _ in words[max(0, index - 3): index])
        if lowered == "her" and index + 2 < len(words) and story[end: words[index + 2][1]].strip() == "":
            # "showed her her hat" is grammatical (her, then her hat); "to her her a house" is not
            opened = opened or words[index + 2][0].lower() not in DETERMINERS | NEW_REFERENT | PREPOSITIONS | PRONOUNS
        if (lowered == second.lower() and between.strip() == "" and lowered not in SOUND_DOUBLES | INTENSIFIERS
                and lowered not in GRAMMATICAL_DOUBLES and not opened):
            last = findings[-1] if findings else None
            if last is not None and last.end == start + len(first) and run_word == lowered:
                run_length += 1  # one finding per run: it grows, counted, never re-read (linear in the run)
                findings[-1] = Finding("immediate-repeat", last.start, end, "", last.sentence,
                                       f"{first!r} is written {run_length} times in a row", last.word_start, last.word_end)
                continue
            run_word, run_length = lowered, 2
            findings.append(Finding("immediate-repeat", start, end, story[start:end], _sentence_at(story, start, end),
                                    f"{first!r} is written twice in a row", second_start, end))
    return [f if f.text else Finding(f.kind, f.start, f.end, story[f.start:f.end], f.sentence, f.explanation, f.word_start,
                                     f.word_end) for f in findings]


def find_phrase_loops(story: str, max_phrase: int = 12) -> list[Finding]:
    """Loops inside a sentence (a sentence repeated as a whole is a repeated-sentence finding)."""
    findings = []
    for sentence, start in sentences_of(story):
        findings.extend(_phrase_loops_in(story, _words(sentence, start), max_phrase))
    return findings


def _repeats(lowered: list[str], index: int, size: int, limit: int | None = None) -> int:
    """How many times the phrase of `size` words at `index` comes back to back (at most `limit`)."""
    phrase = lowered[index: index + size]
    repeats = 1
    while (limit is None or repeats < limit) and lowered[index + repeats * size: index + (repeats + 1) * size] == phrase:
        repeats += 1
    return repeats


def _phrase_loops_in(story: str, words: list[tuple[str, int, int]], max_phrase: int) -> list[Finding]:
    """Linear in the sentence's length: each (position, phrase size) pair first counts at most
    four repeats, enough to decide; only a loop that is reported is counted to its end, and the
    scan then jumps past it."""
    findings = []
    lowered = [w.lower() for w, _, _ in words]
    index = 0
    while index < len(words):
        found = False
        for size in range(2, max_phrase + 1):
            if index + 2 * size > len(words):
                break
            phrase = lowered[index: index + size]
            repeats = _repeats(lowered, index, size, limit=4)
            if repeats < 2:
                continue
            if size == 2 and ({"and", "or"} & set(phrase) or (phrase[0] in IDIOM_NOUNS and phrase[1] in IDIOM_LINKS)
                              or phrase[0] == "as"):
                continue  # "bigger and bigger", "ran and ran and ran", "hand in hand in", "as still as still": meant
            if len(set(phrase)) == 1 or set(phrase) <= SOUND_DOUBLES:
                continue  # "tick tick tick tick": the immediate-repeat rule's case; "ding dong ding dong": meant
            punctuated = re.search(r"[^\w\s'’]", story[words[index][2]: words[index + repeats * size - 1][1]])
            if punctuated and (repeats == 2 or (repeats == 3 and size <= 4)):
                continue  # "Come in, come in!", "Thank you, thank you, thank you": set off by punctuation, it is meant
            repeats = _repeats(lowered, index, size)
            tail = 0  # a last, partial repeat ("they played and they played and they played")
            while (tail < size - 1 and index + repeats * size + tail < len(words)
                   and lowered[index + repeats * size + tail] == phrase[tail]):
                tail += 1
            start, end = words[index][1], words[index + repeats * size + tail - 1][2]
            findings.append(Finding("phrase-loop", start, end, story[start:end], _sentence_at(story, start),
                                    f"the phrase {' '.join(w for w, _, _ in words[index:index + size])!r} comes {repeats} "
                                    f"times back to back{', and starts once more' if tail else ''}",
                                    words[index + size][1], words[index + size][2]))
            index += repeats * size + tail
            found = True
            break
        if not found:
            index += 1
    return findings


def find_repeated_sentences(story: str) -> list[Finding]:
    """Sentences of three or more words that repeat an earlier one; a shorter statement only from
    its third time in a row ("They played. They played. They played.")."""
    findings, seen, previous, run = [], {}, None, 0
    for number, (sentence, start) in enumerate(sentences_of(story), start=1):
        key = " ".join(w.lower() for w, _, _ in _words(sentence))
        run = run + 1 if key == previous else 1
        previous = key
        if not key:
            continue
        short = len(key.split()) < 3
        # "Oh no! ... Oh no!", "No! No!" and "Tom ran. Tom ran." are a storyteller's; a third time in a row is a loop
        if key in seen and (not short or (run >= 3 and sentence.rstrip()[-1:] not in "!?\"”’")):
            stripped = sentence.strip()
            offset = start + sentence.index(stripped[0])
            findings.append(Finding("repeated-sentence", offset, offset + len(stripped), stripped, stripped,
                                    f"this sentence repeats sentence {seen[key]} of the story (now sentence {number})"))
        seen.setdefault(key, number)
    return findings


@functools.lru_cache(maxsize=8)
def _sentence_index(story: str) -> tuple[list[int], list[str]]:
    """Start offsets and texts of a story's sentences, split once however many findings it has."""
    sentences = sentences_of(story)
    return [start for _, start in sentences], [sentence for sentence, _ in sentences]


def _sentence_at(story: str, position: int, end: int | None = None) -> str:
    """The sentence around `position`; with `end`, every sentence the span touches (a repeat
    written across a line break lies in two)."""
    starts, sentences = _sentence_index(story)
    first = bisect.bisect_right(starts, position) - 1
    if first < 0 or position >= starts[first] + len(sentences[first]):
        return ""
    last = max(first, bisect.bisect_right(starts, max(position, (end or position) - 1)) - 1)
    return story[starts[first]: starts[last] + len(sentences[last])].strip()


def diagnose_story(story: str, prompt: str = "") -> list[Finding]:
    """Every finding of every detector, in text order. A story that starts with a given
    `prompt` keeps only the findings whose repeated word the model wrote after it."""
    findings = (find_self_objects(story) + find_immediate_repeats(story) + find_phrase_loops(story)
                + find_repeated_sentences(story))
    return sorted((f for f in findings if f.word_start >= len(prompt)), key=lambda f: (f.start, KINDS.index(f.kind)))


# --- metrics ---------------------------------------------------------------------------------

def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def seq_rep(tokens: Sequence[str], n: int) -> float:
    """1 - unique n-grams / n-grams of one sequence (0 when it has no n-gram)."""
    grams = _ngrams(tokens, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def rep_l(tokens: Sequence[str], window: int) -> float:
    """The share of tokens equal to one of the previous `window` tokens (one pass: each token's last
    position is remembered, so the window costs nothing)."""
    if not tokens:
        return 0.0
    last: dict[str, int] = {}
    repeated = 0
    for position, token in enumerate(tokens):
        previous = last.get(token)
        repeated += previous is not None and position - previous <= window
        last[token] = position
    return repeated / len(tokens)


class TextMetrics:
    """The metrics of many stories, added one at a time: memory grows with the distinct n-grams
    only (8 bytes per n-gram, as hashes), never with the text, so a 50 MB corpus streams through."""

    def __init__(self) -> None:
        from array import array

        self.stories = self.words = 0
        self.seq_rep = {n: [0.0, 0] for n in (1, 2, 3, 4)}  # sum over stories with an n-gram, and their count
        self.grams = {n: array("q") for n in (1, 2, 3)}  # hashes of every n-gram, for distinct-n
        self.repeats = {window: 0 for window in (16, 32, 128)}  # words equal to one of the previous `window`
        self.kinds: Counter = Counter()
        self.names = self.late_names = 0

    def add(self, story: str, findings: Sequence[Finding] | None = None) -> None:
        """Count one story (and its findings, when the caller has them)."""
        from textgen.cast import story_cast

        tokens = [w.lower() for w, _, _ in _words(story)]
        self.stories += 1
        self.words += len(tokens)
        for n, (total, count) in self.seq_rep.items():
            if len(tokens) >= n:
                self.seq_rep[n] = [total + seq_rep(tokens, n), count + 1]
        for n, hashes in self.grams.items():
            hashes.extend(hash(gram) for gram in _ngrams(tokens, n))
        for window in self.repeats:
            self.repeats[window] += round(rep_l(tokens, window) * len(tokens))
        self.kinds.update(f.kind for f in (findings if findings is not None else diagnose_story(story)))
        cast = story_cast(story)
        self.names += len(cast.names)
        self.late_names += len(cast.late)

    def result(self) -> dict:
        import numpy as np

        metrics: dict = {"stories": self.stories, "words": self.words}
        for n, (total, count) in self.seq_rep.items():  # the mean over stories long enough to have an n-gram
            metrics[f"seq_rep_{n}"] = total / count if count else 0.0
        for n, hashes in self.grams.items():
            values = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, dtype=np.int64)
            metrics[f"distinct_{n}"] = len(np.unique(values)) / len(values) if len(values) else 0.0
        for window, repeated in self.repeats.items():
            metrics[f"rep_{window}"] = repeated / max(1, self.words)
        for kind in KINDS:
            metrics[f"{kind}_per_1000_words"] = 1000 * self.kinds[kind] / max(1, self.words)
        metrics["names_per_story"] = self.names / max(1, self.stories)
        metrics["late_names_per_story"] = self.late_names / max(1, self.stories)
        return metrics


def text_metrics(stories: Iterable[str], findings: Sequence[Sequence[Finding]] | None = None) -> dict:
    """seq-rep-1..4 (mean over stories), distinct-1..3 (over all stories), rep-16/32/128, finding rates,
    and the cast: distinct names per story and names first mentioned after the first third.
    `findings` (one list per story) saves running the detectors again when the caller has them."""
    metrics = TextMetrics()
    for index, story in enumerate(stories):
        metrics.add(story, findings[index] if findings is not None else None)
    return metrics.result()
