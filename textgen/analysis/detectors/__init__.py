"""Repetition detectors and metrics on plain text (the cast metrics come from textgen.analysis.cast).

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

from textgen.analysis.detectors.finding import Finding
from textgen.analysis.detectors.immediate_repeat import find_immediate_repeats
from textgen.analysis.detectors.lexicon import KINDS, WORD
from textgen.analysis.detectors.metrics import TextMetrics, rep_l, seq_rep, text_metrics
from textgen.analysis.detectors.phrase_loop import find_phrase_loops
from textgen.analysis.detectors.repeated_sentence import find_repeated_sentences
from textgen.analysis.detectors.self_object import find_self_objects
from textgen.analysis.detectors.sentences import sentences_of
from textgen.analysis.detectors.story import diagnose_story

__all__ = ["KINDS", "WORD", "Finding", "TextMetrics", "diagnose_story", "find_immediate_repeats", "find_phrase_loops",
           "find_repeated_sentences", "find_self_objects", "rep_l", "sentences_of", "seq_rep", "text_metrics"]
