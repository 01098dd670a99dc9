"""The self-object detector: the subject of a clause comes back as its object ("Doug saw Doug.").
The rule and its known misses are in the package docstring."""

from __future__ import annotations

import itertools
import re

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.lexicon import (
    BE_FORMS, CLAUSE_BREAK, COMPLEMENT_VERBS, DETERMINERS, FUNCTION_WORDS, HELPERS, LEAD_IN, NEW_REFERENT,
    NOT_VERBS, OBJECT_DETERMINERS, PARTICLES, PHRASE_ENDS, PREPOSITIONS, PRONOUNS, REFLEXIVES, SOUND_DOUBLES,
    TIME_WORDS, VERBS_WITH_CLAUSE, is_adverb, is_name, name_run, verb_like
)
from textgen.analysis.detectors.sentences import excerpt, sentences_of, word_spans


def find_self_objects(story: str) -> list[Finding]:
    findings = []
    for sentence, sentence_start in sentences_of(story):
        cut = [0] + [m.end() for m in CLAUSE_BREAK.finditer(sentence)] + [len(sentence)]
        last_subject = None  # (form, words) of the sentence's latest clause subject, for "Ava woke up and hugged Ava"
        for begin, end in itertools.pairwise(cut):
            clause = sentence[begin:end]
            lead = LEAD_IN.match(clause)
            words = [w for w in word_spans(clause, sentence_start + begin) if not lead or w[1] - sentence_start - begin >= lead.end()]
            # a doubled word ("The the dog") is an immediate repeat of its own; read the clause without it
            words = [w for k, w in enumerate(words) if k == 0 or w[0].lower() != words[k - 1][0].lower()]
            if not words:
                continue
            lowered = [w.lower() for w, _, _ in words]
            joined_by = sentence[max(0, begin - 4): begin].strip().lower()
            candidates = []  # (form, subject words, index of the first word after the subject)
            run = name_run(words, 0, True)
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
                found = _self_object(story, sentence, sentence_start, words, lowered, form, subject, index)
                if found:
                    findings.append(found)
                    break
            # only the clause right before may lend its subject (a noun phrase's end is unknown: never lent)
            last_subject = ("name", tuple(lowered[:run])) if run else None
    return findings


def _self_object(story: str, sentence: str, sentence_start: int, words, lowered, form: str, subject: tuple[str, ...],
                 index: int) -> Finding | None:
    """A finding when the words from `index` are helpers/adverbs, a verb, at most two prepositions
    or particles, and then the subject again as the object."""
    skipped = 0
    copula = False  # after a form of "be" only an -ing verb takes an object ("Max is watching Max"; "Men are men" is not one)
    while index < len(words) and skipped < 3 and (lowered[index] in HELPERS or is_adverb(lowered[index])):
        copula = copula or lowered[index] in BE_FORMS
        index, skipped = index + 1, skipped + 1
    if index >= len(words):
        return None
    liked = skipped and lowered[index] in ("like", "likes")  # "did not like": after a helper, "like" is the verb
    if not words[index][0][0].islower() or (lowered[index] in NOT_VERBS | PRONOUNS | PHRASE_ENDS and not liked):
        return None
    if copula and not lowered[index].endswith("ing"):
        # "Lily was happy to see Lily": an adjective, "to" and a verb; otherwise "Men are men" is no object
        if not (index + 2 < len(words) and lowered[index + 1] == "to" and verb_like(words[index + 2][0], subject)):
            return None
        index += 2
    if lowered[index] in subject or (set(subject) <= SOUND_DOUBLES and lowered[index] in SOUND_DOUBLES):
        return None  # "Tick tick tick", "Ding dong ding dong": sounds, not a subject and its verb
    verb = index
    index += 1
    # "wanted to hug", "went to see", "likes to play with": follow "to" to the verb that takes the object
    for _ in range(2):
        if index + 1 < len(words) and lowered[index] == "to" and verb_like(words[index + 1][0], subject):
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
            lowered[verb] in COMPLEMENT_VERBS and verb_like(words[last + 1][0], subject) and lowered[last + 1] not in TIME_WORDS)):
        return None  # "Ben knew Ben had to try", "Mom said Mom was proud": the second one is a subject
    if form == "name":
        if last + 1 < len(words) and is_name(words[last + 1][0], False) and story[words[last][2]: words[last + 1][1]].strip() == "":
            return None  # "Tom saw Tom Brown": a longer name, another person
    elif (last + 1 < len(words) and words[last][0].islower() and lowered[last + 1] not in PHRASE_ENDS | TIME_WORDS
          and not is_adverb(lowered[last + 1]) and lowered[verb] not in VERBS_WITH_CLAUSE):
        return None  # "the duck swam to the duck pond": the noun modifies the real object
    span_start, span_end = words[0][1], words[last][2]
    named = story[words[index][1]: words[last][2]]
    # attribution asks about the object's first word: where the model chose to repeat the subject
    return Finding("self-object", span_start, span_end, story[span_start:span_end],
                   excerpt(story, sentence_start, sentence_start + len(sentence), span_start, span_end),
                   f"the subject {named!r} comes back as the object of {words[verb][0]!r}: a model without memory of "
                   "the subject writes this", words[index][1], words[index][2])
