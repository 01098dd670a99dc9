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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from textgen.diagnostics import Finding
from textgen.errors import TextgenError
from textgen.inspection import next_words, score_words
from textgen.model import LanguageModel
from textgen.tokenizer import BOS_ID, Tokenizer
from textgen.tokenizer.base import BOS, GLUE, PAD, UNK

ALTERNATIVES = 5
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
              context_ids: list[int] | None = None) -> Attribution:
    """The model's view of `finding`'s repeated word, given the story before it: its text, or
    `context_ids` (<s> and the tokens before the word) for a story the model wrote itself.

    Raises TextgenError when the context text cannot be encoded (a word or character the
    tokenizer does not know)."""
    context = story[: finding.word_start].rstrip(" ")
    word = finding.word
    # a word tokenizer's next words are its tokens: all of them are ranked at no extra cost
    top = tokenizer.vocab_size if tokenizer.whole_words else max(depth, ALTERNATIVES + 1)
    listed = [w for w in next_words(model, tokenizer, context, top=top, context_ids=context_ids).words
              if w.word.strip() and w.word not in NOT_WORDS]
    rank = next((index + 1 for index, entry in enumerate(listed) if entry.word == word), None)
    # a listed word's probability is already exact; only an unlisted one needs scoring on its own
    scored = listed[rank - 1] if rank else score_words(model, tokenizer, context, [word], context_ids=context_ids).words[0]
    alternatives = [Alternative(w.word, w.probability) for w in listed if w.word != word][:ALTERNATIVES]
    return Attribution(word, scored.probability, rank, blame_of(scored.probability, rank), alternatives, len(listed))


def token_context(tokenizer: Tokenizer, prompt: str, sample, position: int) -> list[int] | None:
    """<s>, the prompt's tokens and the sampled tokens written before character `position` of
    prompt + sample.text: the model's own context, even where its text would not re-encode
    (a word model's <glue> joins words it cannot read back)."""
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
    for count in range(low, -1, -1):
        if not story[end(count):position].strip():
            return [BOS_ID, *prompt_tokens, *sample.ids[:count]]
    return None


def attribute_all(model: LanguageModel, tokenizer: Tokenizer, items: list[tuple[str, Finding]],
                  on_done=None, contexts: list[list[int] | None] | None = None) -> list[Attribution | None]:
    """Attributions for (story, finding) pairs; None where the story's text cannot be encoded
    (and no token context is given)."""
    results: list[Attribution | None] = []
    for index, (story, finding) in enumerate(items):
        try:
            results.append(attribute(model, tokenizer, story, finding, context_ids=contexts[index] if contexts else None))
        except TextgenError:
            results.append(None)
        if on_done is not None:
            on_done()
    return results
