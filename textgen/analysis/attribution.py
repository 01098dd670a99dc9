"""Attribution: what the model thought at the word that made a repetition.

For each finding, the text before its repeated word (the object of a self-object, the
second word of an immediate repeat, the first word of a loop's first repeat or of a repeated
sentence) runs through the model; the word's exact probability (all its pieces and the word
ending there, as `textgen next --words` scores it), its rank among the model's next words and
the five most likely other words tell who made the error:

- model: the model ranked the repeated word first, so greedy decoding writes it too. Sampling
  settings can only push against it (--repetition-penalty, --dry-multiplier,
  --no-repeat-ngram); the lasting fix is a better model (more training, more data).
- sampling: the model gave it under 5%; the sampler drew an unlikely word. A lower
  --temperature, or --top-p / --min-p, removes it.
- both: the model gave it a real share (5% or more) without ranking it first.

Each story is read through the model once: its findings are taken in the order of their words,
and the state after each finding's context continues from the state after the one before
(`ContextReader`), so the work is linear in the story's length, however many findings it has.
A run attributes at most `max_attributions` findings (MAX_ATTRIBUTIONS by default); each then
costs a bounded search (`next_words`' max_expansions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from textgen.analysis.detectors import Finding
from textgen.errors import TextgenError
from textgen.analysis.next_words import Start, next_words, read_ids, score_words
from textgen.model import LanguageModel
from textgen.tokenizer import BOS_ID, Tokenizer
from textgen.tokenizer.base import BOS, GLUE, PAD, UNK

ALTERNATIVES = 5
BACK_STEPS = 8  # token_context looks this many tokens back from the last one ending before the word
MAX_ATTRIBUTIONS = 100  # findings a run attributes by default: 20 generated stories rarely have more than a few dozen
NOT_WORDS = {PAD, UNK, BOS, GLUE}  # a word model's control tokens: never written, never an alternative
UNLIKELY = 0.05  # below this the sampler, not the model, chose the word
ADVICE = {
    "model": "the model's own first choice: penalise repeats (--repetition-penalty 1.3, --dry-multiplier 2) "
             "or train longer on more text",
    "sampling": "an unlikely word the sampler drew: lower --temperature or set --top-p 0.9 / --min-p 0.05",
    "both": "a likely-enough word the sampler drew: a slightly lower --temperature or a light --repetition-penalty helps",
}


@dataclass
class Alternative:
    word: str
    probability: float


@dataclass
class Attribution:
    word: str
    probability: float  # the model's probability of the repeated word at that point
    rank: int | None  # among the model's next words (1 = most likely); None when below the listed ones
    blame: str  # model | sampling | both
    alternatives: list[Alternative] = field(default_factory=list)  # the most likely other words
    ranked_words: int = 0  # how many words were ranked (rank None means below all of them)

    def to_dict(self) -> dict:
        return asdict(self)


def blame_of(probability: float, rank: int | None) -> str:
    if rank == 1:
        return "model"
    if probability < UNLIKELY:
        return "sampling"
    return "both"


@torch.no_grad()
def attribute(model: LanguageModel, tokenizer: Tokenizer, story: str, finding: Finding, depth: int = 10,
              context_ids: list[int] | None = None, start: Start | None = None) -> Attribution:
    """The model's view of `finding`'s repeated word, given the story before it: its text, or
    `context_ids` (<s> and the tokens before the word) for a story the model wrote itself; `start`
    (the distribution and state after that context, as `ContextReader` gives it) saves reading it.

    Raises TextgenError when the context text cannot be encoded (a word or character the
    tokenizer does not know)."""
    context = story[: finding.word_start].rstrip(" ")
    word = finding.word
    # a word tokenizer's next words are its tokens: all of them are ranked at no extra cost
    top = tokenizer.vocab_size if tokenizer.whole_words else max(depth, ALTERNATIVES + 1)
    if start is None:
        start = read_ids(model, context_ids if context_ids is not None else context_tokens(tokenizer, story, finding))
    listed = [w for w in next_words(model, tokenizer, context, top=top, start=start).words
              if w.word.strip() and w.word not in NOT_WORDS]
    rank = next((index + 1 for index, entry in enumerate(listed) if entry.word == word), None)
    # a listed word's probability is already exact; only an unlisted one needs scoring on its own
    scored = listed[rank - 1] if rank else score_words(model, tokenizer, context, [word], start=start).words[0]
    alternatives = [Alternative(w.word, w.probability) for w in listed if w.word != word][:ALTERNATIVES]
    return Attribution(word, scored.probability, rank, blame_of(scored.probability, rank), alternatives, len(listed))


def context_tokens(tokenizer: Tokenizer, story: str, finding: Finding) -> list[int]:
    """<s> and the tokens of the story's text before the finding's word (TextgenError where the
    tokenizer does not know a word or character of it)."""
    from textgen.sampling.generate import prompt_ids

    return prompt_ids(tokenizer, story[: finding.word_start].rstrip(" "))


class ContextReader:
    """The model's next-token distribution and state after growing contexts of one story, each
    token read once: a context that extends the one before is read on from where that one was
    left (an anchor MARGIN tokens before its end, since a tokenizer may cut a text's last
    characters differently once more text follows). A context that does not extend the anchor
    is read from the start again. Only the anchor's state is kept, never one per position."""

    MARGIN = 16

    def __init__(self, model: LanguageModel):
        self.model = model
        self.ids: list[int] = []  # the anchor: the tokens read so far
        self.start: Start | None = None  # the distribution and state after them
        self.tokens_read = 0  # tokens that went through the model: about the story's length

    def at(self, ids: list[int]) -> Start:
        """The distribution and state after `ids` (<s> first)."""
        anchored = len(self.ids)
        if ids[:anchored] != self.ids:  # not an extension of what was read: start over
            self.ids, self.start, anchored = [], None, 0
        anchor = max(anchored, len(ids) - self.MARGIN)
        if anchor > anchored:
            self.start = self._read(ids[anchored:anchor], self.start)
            self.ids = list(ids[:anchor])
        if anchor == len(ids):
            return self.start
        return self._read(ids[anchor:], self.start)

    def _read(self, ids: list[int], start: Start | None) -> Start:
        self.tokens_read += len(ids)
        return read_ids(self.model, ids, None if start is None else start[1])


def token_context(tokenizer: Tokenizer, prompt: str, sample, position: int) -> list[int] | None:
    """<s>, the prompt's tokens and the sampled tokens written before character `position` of
    prompt + sample.text: the model's own context, even where its text would not re-encode
    (a word model's <glue> joins words it cannot read back). None where no token ends within
    BACK_STEPS tokens before the position with only spaces up to it (then the text is encoded)."""
    from textgen.sampling.generate import Continuation

    if position < len(prompt):
        return None
    prompt_tokens = tokenizer.encode(prompt.rstrip(" "))
    continuation = Continuation(tokenizer, prompt, prompt_tokens)
    story = prompt + sample.text

    def end(count: int) -> int:
        return len(prompt) + len(continuation(sample.ids[:count]))

    low, high = 0, len(sample.ids)  # the text only grows with more tokens: search for the last that ends before the word
    while low < high:
        middle = (low + high + 1) // 2
        if end(middle) <= position:
            low = middle
        else:
            high = middle - 1
    for count in range(low, max(-1, low - BACK_STEPS), -1):  # a few tokens back at most: each costs a decode of the story
        if not story[end(count):position].strip():
            return [BOS_ID, *prompt_tokens, *sample.ids[:count]]
    return None


@torch.no_grad()
def attribute_all(model: LanguageModel, tokenizer: Tokenizer, items: list[tuple[str, Finding]],
                  on_done=None, contexts: list[list[int] | None] | None = None,
                  max_attributions: int | None = None) -> list[Attribution | None]:
    """Attributions for (story, finding) pairs; None where the story's text cannot be encoded
    (and no token context is given), and for the pairs after the first `max_attributions`
    (None: all). Consecutive pairs of the same story share one `ContextReader`: the story is
    read once, its findings in the order of their words. `on_done` is called once per pair
    attributed."""
    results: list[Attribution | None] = [None] * len(items)
    limit = len(items) if max_attributions is None else min(len(items), max_attributions)
    begin = 0
    while begin < limit:
        story = items[begin][0]
        end = begin + 1
        while end < limit and items[end][0] == story:  # the same object, as diagnose passes it: no comparison of text
            end += 1
        reader = ContextReader(model)
        order = sorted(range(begin, end), key=lambda index: items[index][1].word_start)
        for index in order:
            finding = items[index][1]
            given = contexts[index] if contexts else None
            try:
                ids = given if given is not None else context_tokens(tokenizer, story, finding)
                results[index] = attribute(model, tokenizer, story, finding, context_ids=ids, start=reader.at(ids))
            except TextgenError:
                results[index] = None
            if on_done is not None:
                on_done()
        begin = end
    return results
