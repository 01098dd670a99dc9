"""Next-token and next-word probabilities.

A word is whole even when the tokenizer splits it into pieces: P(word) = the probability of
its pieces in sequence (the tokenizer's own segmentation) times the probability that the
word ends there, i.e. that the next piece starts a new word, is punctuation or a newline, or
ends the story. The top-N words come from a best-first search over piece continuations:
a partial word's probability bounds every word that extends it, so once N complete words
beat every open partial, the list is exact. Punctuation marks and the end of the story are
listed as entries of their own.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import torch

from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.sampling.generate import prompt_ids, read_tokens
from textgen.tokenizer import EOS_ID, UNK_ID, Tokenizer

END_OF_STORY = "</s>"


@dataclass
class WordProbability:
    word: str
    probability: float
    pieces: list[str] = field(default_factory=list)
    known: bool = True  # False: a word tokenizer's vocabulary lacks it, so the model can never write it


@dataclass
class NextWords:
    context: str
    words: list[WordProbability]
    coverage: float  # total probability of the listed words
    exact: bool  # every listed probability is exact and no unlisted word is more likely
    expansions: int  # model steps the search took

    def to_dict(self) -> dict:
        return {"context": self.context, "coverage": self.coverage, "exact": self.exact,
                "words": [{"word": w.word, "probability": w.probability, "pieces": w.pieces, "known": w.known}
                          for w in self.words]}


class PieceRoles:
    """Each vocabulary entry's role in words, as the tokenizer says it (Tokenizer.word_role):
    starts one, continues one, or stands alone; control tokens have none."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.start, self.cont, self.alone = set(), set(), set()
        sets = {"start": self.start, "continue": self.cont, "alone": self.alone}
        for token_id in range(tokenizer.vocab_size):
            role = tokenizer.word_role(token_id)
            if role is not None:
                sets[role].add(token_id)
        # a word ends when the next piece is not a continuation of it
        self.ending = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
        self.ending[sorted(self.cont)] = False

    def word_pieces(self, word: str) -> list[int]:
        """The tokenizer's own segmentation of a word as it follows a space."""
        return self.tokenizer.word_pieces(word)


Start = tuple  # (next-token probabilities (V,), state): where a search begins, as `read_ids` gives it


@torch.no_grad()
def read_ids(model: LanguageModel, ids: list[int], state=None) -> Start:
    """The next-token distribution and state after reading `ids` from `state` (None: the start).
    `model.read` decodes only the last position and reads a long text in chunks, so memory does
    not grow with the context's length."""
    logits, state = read_tokens(model, torch.tensor([ids], device=next(model.parameters()).device), state)
    return torch.softmax(logits[0].float(), dim=-1), state


def _context_state(model: LanguageModel, tokenizer: Tokenizer, context: str, context_ids: list[int] | None = None,
                   start: Start | None = None) -> Start:
    """The next-token distribution and state after <s> + context (or the given ids, <s> included),
    or `start` when the caller has read the context already."""
    if start is not None:
        return start
    return read_ids(model, context_ids if context_ids is not None else prompt_ids(tokenizer, context))


@torch.no_grad()
def next_tokens(model: LanguageModel, tokenizer: Tokenizer, context: str, top: int = 10) -> NextWords:
    """The raw next-token distribution (--pieces)."""
    model.eval()
    probabilities, _ = _context_state(model, tokenizer, context)
    values, ids = torch.topk(probabilities, min(top, probabilities.numel()))
    # pieces as the tokenizer has them: "▁h" (starts a word) and "h" (goes on with one) are different tokens
    words = [WordProbability(END_OF_STORY if i == EOS_ID else tokenizer.id_to_piece(i), float(p), [tokenizer.id_to_piece(i)])
             for p, i in zip(values.tolist(), ids.tolist())]
    return NextWords(context, words, sum(w.probability for w in words), True, 1)


@torch.no_grad()
def score_words(model: LanguageModel, tokenizer: Tokenizer, context: str, words: list[str],
                context_ids: list[int] | None = None, start: Start | None = None) -> NextWords:
    """The exact probability of each given word coming next (--words). `start` (`read_ids`'s
    distribution and state after the context) saves reading the context again."""
    if not words:
        raise TextgenError("the --words list is empty: give words separated by commas, e.g. --words Jane,Spot")
    spaced = [word for word in words if any(character.isspace() for character in word)]
    if spaced:
        raise TextgenError(f"--words takes single words separated by commas: {spaced[0]!r} holds a space "
                           f"(e.g. --words {','.join(spaced[0].split())})")
    model.eval()
    roles = PieceRoles(tokenizer)
    probabilities, state = _context_state(model, tokenizer, context, context_ids, start)
    scored = []
    for word in words:
        if tokenizer.whole_words or word == END_OF_STORY:
            token_id = EOS_ID if word == END_OF_STORY else tokenizer.piece_to_id(word)
            probability = 0.0 if token_id == UNK_ID else float(probabilities[token_id])
            scored.append(WordProbability(word, probability, [tokenizer.id_to_piece(token_id)], known=token_id != UNK_ID))
            continue
        pieces = roles.word_pieces(word)
        probability, current, layer_state = 1.0, probabilities, state
        for token_id in pieces:
            probability *= float(current[token_id])
            logits, layer_state = model.step(torch.tensor([token_id], device=current.device), layer_state)
            current = torch.softmax(logits[0].float(), dim=-1)
        if word and word[0].isalnum():
            probability *= float(current[roles.ending].sum())
        scored.append(WordProbability(word, probability, [tokenizer.id_to_piece(i) for i in pieces]))
    return NextWords(context, scored, sum(w.probability for w in scored), True, len(words))


@torch.no_grad()
def next_words(model: LanguageModel, tokenizer: Tokenizer, context: str, top: int = 10, max_expansions: int = 400,
               context_ids: list[int] | None = None, start: Start | None = None) -> NextWords:
    """The `top` most likely next words, by best-first search over piece continuations: at most
    `max_expansions` model steps after the context. `start` (`read_ids`'s distribution and state
    after the context) saves reading the context again."""
    if top < 1:
        raise TextgenError(f"--top must be at least 1, got {top}")
    model.eval()
    roles = PieceRoles(tokenizer)
    probabilities, state = _context_state(model, tokenizer, context, context_ids, start)
    complete: dict[str, WordProbability] = {}
    heap: list[tuple[float, int, list[int], object]] = []  # (-probability, order, pieces, state before the last piece)
    order = 0

    def push(probability: float, pieces: list[int], parent_state) -> None:
        nonlocal order
        heapq.heappush(heap, (-probability, order, pieces, parent_state))
        order += 1

    for token_id, probability in enumerate(probabilities.tolist()):
        if probability <= 0:
            continue
        if token_id in roles.alone:
            label = tokenizer.word_label(token_id)
            complete[label] = WordProbability(label, complete.get(label, WordProbability(label, 0.0)).probability + probability,
                                              [tokenizer.id_to_piece(token_id)])
        elif token_id in roles.start or (tokenizer.spaces_are_tokens and tokenizer.id_to_piece(token_id) == " "):
            push(probability, [token_id], state)
        elif token_id in roles.cont and tokenizer.spaces_are_tokens:
            push(probability, [token_id], state)
    if tokenizer.spaces_are_tokens:  # the space piece is "alone" above; it starts the next word
        space = tokenizer.piece_to_id(" ")
        complete.pop(tokenizer.word_label(space), None)
        if probabilities[space] > 0:
            push(float(probabilities[space]), [space], state)
    expansions = 0
    while heap and expansions < max_expansions:
        best_complete = sorted((w.probability for w in complete.values()), reverse=True)
        if len(best_complete) >= top and best_complete[top - 1] >= -heap[0][0]:
            break  # no open partial can beat the N-th word: the list is exact
        negative, _, pieces, parent_state = heapq.heappop(heap)
        prefix_probability = -negative
        logits, after = model.step(torch.tensor([pieces[-1]], device=probabilities.device), parent_state)
        expansions += 1
        current = torch.softmax(logits[0].float(), dim=-1)
        word = tokenizer.decode(pieces).strip()
        if word and word[0].isalnum() and roles.word_pieces(word) == pieces:  # the tokenizer's own segmentation
            complete[word] = WordProbability(word, prefix_probability * float(current[roles.ending].sum()),
                                             [tokenizer.id_to_piece(i) for i in pieces])
        continuation = current.clone()
        continuation[roles.ending] = 0
        values, ids = torch.topk(continuation, min(32, continuation.numel()))
        for value, token_id in zip(values.tolist(), ids.tolist()):
            if value > 0:
                push(prefix_probability * value, pieces + [token_id], after)
    ranked = sorted(complete.values(), key=lambda w: w.probability, reverse=True)[:top]
    exact = not heap or (len(ranked) >= top and ranked[-1].probability >= -heap[0][0])
    return NextWords(context, ranked, sum(w.probability for w in ranked), exact, expansions)
