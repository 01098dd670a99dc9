"""Repetition detectors and metrics on plain text (issue 6, first part).

Detectors, each finding with its kind, character span, sentence and an explanation:
- self-object: the subject of a clause comes back as its object ("Doug saw Doug.", "The cat
  chased the cat."). Rule: a clause (split at , ; and "and"/"but"/"then") that starts with a
  name or a definite noun phrase, then a verb (and at most one preposition), then the same
  name or the same noun with "the"/"his"/"her" or none. Not errors: reflexives ("Doug saw
  himself"), indefinite objects that name a new referent ("the dog saw a dog", "another
  dog"), and a noun that modifies the real object ("the duck swam to the duck pond"). Known misses: pronoun subjects ("He saw him"), objects after more than one
  preposition or adverb, passives, subjects further back than the clause.
- immediate-repeat: a word written twice in a row ("the the"); "had had" and "that that"
  are grammatical, sounds such as "ha ha" and "knock knock" are meant, and a repeat with
  punctuation between ("Go, go!") is deliberate: none is reported.
- phrase-loop: a phrase of two or more words repeated back to back within a sentence ("and
  they played and they played"); the finding spans every repetition. Two-word reduplications
  with "and"/"or" ("bigger and bigger", "ran and ran and ran") are a storyteller's device and
  not reported; a human-written baseline (TinyStories) is full of them.
- repeated-sentence: a sentence equal (ignoring case and spacing) to an earlier sentence
  of the same story.
Metrics over a set of stories: seq-rep-n (Welleck et al. 2019), distinct-n, rep-l and the
rate of each finding kind per 1,000 words.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

KINDS = ("self-object", "immediate-repeat", "phrase-loop", "repeated-sentence")
WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*[\"”’]?")
CLAUSE_BREAK = re.compile(r"[,;:\"“”]|\b(?:and|but|then|so|because|when|while)\b", re.IGNORECASE)
DETERMINERS = {"the", "his", "her", "their", "my", "your", "its", "our", "this", "that"}
NEW_REFERENT = {"a", "an", "another", "other", "some", "one", "two", "three", "many", "every", "each", "no"}
PREPOSITIONS = {"at", "with", "to", "for", "on", "after", "about", "like", "near", "behind", "under", "into"}
NOT_VERBS = DETERMINERS | NEW_REFERENT | PREPOSITIONS | {"and", "or", "was", "were", "is", "are", "not", "very", "too", "so"}
REFLEXIVES = {"himself", "herself", "itself", "themselves", "myself", "yourself", "ourselves"}
PRONOUNS = {"he", "she", "it", "they", "i", "you", "we", "him", "them", "me", "us"}
GRAMMATICAL_DOUBLES = {"had", "that", "ha", "ho", "hee", "la", "bye", "yum", "knock", "choo", "no", "yes", "tick", "tock",
                       "boo", "woof", "meow", "quack", "moo", "oink", "tweet", "chirp", "ding", "dong", "beep"}
# words after an object that still end the noun phrase (otherwise "the duck pond": duck is a modifier)
PHRASE_ENDS = PREPOSITIONS | {"in", "around", "all", "again", "and", "but", "then", "so", "because", "when", "while", "very",
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
    """Sentences with their start offsets."""
    return [(m.group(), m.start()) for m in SENTENCE.finditer(story) if m.group().strip()]


def _is_name(word: str, first_in_clause: bool) -> bool:
    return word[0].isupper() and word.lower() not in PRONOUNS | DETERMINERS | NEW_REFERENT and not (
        first_in_clause and word.lower() in {"once", "one", "then", "there", "when", "the", "a", "an"})


def find_self_objects(story: str) -> list[Finding]:
    findings = []
    for sentence, sentence_start in sentences_of(story):
        cut = [0] + [m.end() for m in CLAUSE_BREAK.finditer(sentence)] + [len(sentence)]
        for begin, end in itertools.pairwise(cut):
            words = _words(sentence[begin:end], sentence_start + begin)
            if len(words) < 3:
                continue
            lowered = [w.lower() for w, _, _ in words]
            # the subject: a name, or a definite noun phrase ("the cat")
            if _is_name(words[0][0], True):
                subject, index = lowered[0], 1
            elif lowered[0] in DETERMINERS and len(words) > 3:
                subject, index = lowered[1], 2
            else:
                continue
            if index >= len(words) or lowered[index] in NOT_VERBS | PRONOUNS | PHRASE_ENDS:
                continue
            verb_end = index + 1
            if verb_end < len(words) and lowered[verb_end] in PREPOSITIONS:
                verb_end += 1
            if verb_end >= len(words):
                continue
            target = lowered[verb_end]
            if target in REFLEXIVES or target in NEW_REFERENT:
                continue
            if target in DETERMINERS and verb_end + 1 < len(words):
                target, target_index = lowered[verb_end + 1], verb_end + 1
            else:
                target_index = verb_end
            compound = (target_index + 1 < len(words) and words[target_index][0].islower()
                        and lowered[target_index + 1] not in PHRASE_ENDS)
            if target == subject and not compound:
                span_start, span_end = words[0][1], words[target_index][2]
                findings.append(Finding("self-object", span_start, span_end, story[span_start:span_end], sentence.strip(),
                                        f"the subject {words[0][0] if index == 1 else words[1][0]!r} comes back as the object "
                                        f"of {words[index][0]!r}: a model without memory of the subject writes this",
                                        words[target_index][1], words[target_index][2]))
    return findings


def find_immediate_repeats(story: str) -> list[Finding]:
    findings = []
    words = _words(story)
    for (first, start, _), (second, second_start, end) in itertools.pairwise(words):
        between = story[start + len(first): second_start]
        if first.lower() == second.lower() and between.strip() == "" and first.lower() not in GRAMMATICAL_DOUBLES:
            findings.append(Finding("immediate-repeat", start, end, story[start:end], _sentence_at(story, start),
                                    f"{first!r} is written twice in a row", second_start, end))
    return findings


def find_phrase_loops(story: str, max_phrase: int = 12) -> list[Finding]:
    """Loops inside a sentence (a sentence repeated as a whole is a repeated-sentence finding)."""
    findings = []
    for sentence, start in sentences_of(story):
        findings.extend(_phrase_loops_in(story, _words(sentence, start), max_phrase))
    return findings


def _phrase_loops_in(story: str, words: list[tuple[str, int, int]], max_phrase: int) -> list[Finding]:
    findings = []
    lowered = [w.lower() for w, _, _ in words]
    index = 0
    while index < len(words):
        found = False
        for size in range(2, max_phrase + 1):
            if index + 2 * size > len(words):
                break
            phrase = lowered[index: index + size]
            repeats = 1
            while lowered[index + repeats * size: index + (repeats + 1) * size] == phrase:
                repeats += 1
            if repeats >= 2 and size == 2 and {"and", "or"} & set(phrase):
                continue  # "bigger and bigger", "ran and ran and ran": a deliberate reduplication
            if repeats >= 2:
                start, end = words[index][1], words[index + repeats * size - 1][2]
                findings.append(Finding("phrase-loop", start, end, story[start:end], _sentence_at(story, start),
                                        f"the phrase {' '.join(w for w, _, _ in words[index:index + size])!r} is repeated "
                                        f"{repeats} times back to back", words[index + size][1], words[index + size][2]))
                index += repeats * size
                found = True
                break
        if not found:
            index += 1
    return findings


def find_repeated_sentences(story: str) -> list[Finding]:
    findings, seen = [], {}
    for sentence, start in sentences_of(story):
        key = " ".join(w.lower() for w, _, _ in _words(sentence))
        if len(key.split()) < 3:
            continue  # "Oh no!" may come twice
        if key in seen:
            stripped = sentence.strip()
            offset = start + sentence.index(stripped[0])
            findings.append(Finding("repeated-sentence", offset, offset + len(stripped), stripped, stripped,
                                    f"this sentence already appeared at character {seen[key]}"))
        else:
            seen[key] = start
    return findings


def _sentence_at(story: str, position: int) -> str:
    for sentence, start in sentences_of(story):
        if start <= position < start + len(sentence):
            return sentence.strip()
    return ""


def diagnose_story(story: str) -> list[Finding]:
    """Every finding of every detector, in text order."""
    findings = (find_self_objects(story) + find_immediate_repeats(story) + find_phrase_loops(story)
                + find_repeated_sentences(story))
    return sorted(findings, key=lambda f: (f.start, KINDS.index(f.kind)))


# --- metrics ---------------------------------------------------------------------------------

def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def seq_rep(tokens: Sequence[str], n: int) -> float:
    """1 - unique n-grams / n-grams of one sequence (0 when it has no n-gram)."""
    grams = _ngrams(tokens, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def rep_l(tokens: Sequence[str], window: int) -> float:
    """The share of tokens equal to one of the previous `window` tokens."""
    if not tokens:
        return 0.0
    return sum(tokens[i] in tokens[max(0, i - window):i] for i in range(len(tokens))) / len(tokens)


def text_metrics(stories: Iterable[str]) -> dict:
    """seq-rep-1..4 (mean over stories), distinct-1..3 (over all stories), rep-16/32/128 and finding rates."""
    stories = list(stories)
    token_lists = [[w.lower() for w, _, _ in _words(story)] for story in stories]
    words = sum(len(tokens) for tokens in token_lists)
    metrics: dict = {"stories": len(stories), "words": words}
    for n in (1, 2, 3, 4):
        metrics[f"seq_rep_{n}"] = sum(seq_rep(t, n) for t in token_lists) / max(1, len(token_lists))
    for n in (1, 2, 3):
        grams = [g for t in token_lists for g in _ngrams(t, n)]
        metrics[f"distinct_{n}"] = len(set(grams)) / len(grams) if grams else 0.0
    for window in (16, 32, 128):
        metrics[f"rep_{window}"] = sum(rep_l(t, window) * len(t) for t in token_lists) / max(1, words)
    counts = Counter(f.kind for story in stories for f in diagnose_story(story))
    for kind in KINDS:
        metrics[f"{kind}_per_1000_words"] = 1000 * counts[kind] / max(1, words)
    return metrics
