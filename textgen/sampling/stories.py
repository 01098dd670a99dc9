"""One story's making without torch: the stories and their tokens (`Sample`, `TokenChoice`), the
checks on a request, the prompt's ids, the text as it streams, stop strings, the draw of one row
in numpy, and `write_one`, the loop that writes one story in numpy (the default `generate`).

textgen.sampling.generate (torch: batches, beams, any model) and textgen.sampling.numpy_generate
(one story on a model read without torch) both write with these, so a seed's story and its
stream are the same on both paths. Importing this never imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from textgen.errors import TextgenError
from textgen.sampling.processors import Processor, apply_rows
from textgen.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer

MAX_TOKENS_LIMIT = 10_000  # a story longer than this is a runaway loop, not a story
MAX_STORIES = 100_000  # stories per command (written in batches); more is a mistake, not a request
MAX_BEAMS = 32  # beam search looks for the likeliest continuation: a few beams find it, each costs a story's work a token
NEVER_WRITTEN = (PAD_ID, UNK_ID, BOS_ID)  # padding, "unknown" and start-of-story are never part of a story



def never_written_row(vocab_size: int) -> np.ndarray:
    """(V,) float32 zeros, -inf at the tokens a story never contains."""
    mask = np.zeros(vocab_size, dtype=np.float32)
    mask[list(NEVER_WRITTEN)] = -np.inf
    return mask


def fold_static_bans(mask, processors: Sequence[Processor]) -> tuple[object, list[Processor]]:
    """Fold the bans that do not depend on the history ("--ban </s>") into `mask` (a numpy row or a
    tensor: never_written_row's or never_written_mask's) once, so a step does not apply them again;
    the rules that are left run at every step. Equivalent to applying them first: every later rule
    keeps -inf at -inf. Not folded where they would leave nothing writable (then each step keeps
    the best token, as a rule always does)."""
    banned, left = [], []
    for processor in processors:
        always, rest = processor.static_part()
        banned += always
        left += [rest] if rest is not None else []
    if not banned:
        return mask, list(processors)
    folded = mask.clone() if hasattr(mask, "clone") else mask.copy()
    folded[banned] = float("-inf")
    if bool((folded == float("-inf")).all()):
        return mask, list(processors)
    return folded, left


def _draw_row(scores: np.ndarray, uniform: float) -> int:
    """`draw` for one row (V,) of scores and its uniform number."""
    top = scores.max()
    if top == np.inf:  # a rule pushed some scores to +inf (inf - inf is NaN): those tokens alone stay
        scores, top = np.where(scores == np.inf, 0.0, -np.inf), 0.0
    cumulative = np.exp(scores - top).cumsum()
    return min(int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right")), len(scores) - 1)


def _choice_row(logits: np.ndarray, token: int) -> tuple[float, int]:
    """`_model_choice` for one row (V,) of logits."""
    chosen, top = logits[token], logits.max()
    return float(np.exp(chosen - top) / np.exp(logits - top).sum()), int((logits > chosen).sum()) + 1


@dataclass
class TokenChoice:
    """One generated token: its id, its text piece, and the model's probability and rank for it."""

    token_id: int
    piece: str
    probability: float
    rank: int  # 1 = the model's most likely token


@dataclass
class Sample:
    """A generated story: the prompt, the new text, and every chosen token."""

    prompt: str
    text: str
    ids: list[int]
    tokens: list[TokenChoice] | None = field(default_factory=list)  # None: not known (an interrupted story)
    stop_reason: str = "max_tokens"  # end_of_story | max_tokens | stop_string | interrupted

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "text": self.text, "stop_reason": self.stop_reason,
                "tokens": None if self.tokens is None else
                [{"token": t.piece, "id": t.token_id, "probability": t.probability, "rank": t.rank} for t in self.tokens]}


def check_generation(n: int, max_tokens: int, beams: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STORIES:
        raise TextgenError(f"number of stories must be from 1 to {MAX_STORIES:,}, got {n!r}: for more, run the command "
                           "again with another --seed")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise TextgenError(f"max tokens {max_tokens!r} must be from 1 to {MAX_TOKENS_LIMIT:,}")
    if isinstance(beams, bool) or not isinstance(beams, int) or not 1 <= beams <= MAX_BEAMS:
        raise TextgenError(f"beams must be from 1 to {MAX_BEAMS}, got {beams!r}: beam search looks for the likeliest "
                           "continuation, which a few beams find (for many different stories, sample with -n instead)")
    if beams > 1 and n > beams:
        raise TextgenError(f"beam search returns at most --beams stories: ask for -n {beams} or fewer, or more beams")


def prompt_ids(tokenizer: Tokenizer, prompt: str, what: str = "the prompt") -> list[int]:
    """<s> + the prompt's tokens; a word or char tokenizer refuses characters it does not know."""
    unknown = tokenizer.unknown(prompt)
    if unknown:
        shown = " ".join(repr(u) for u in unknown[:8])
        raise TextgenError(f"{what} has {tokenizer.unit} this {tokenizer.kind} "
                           f"tokenizer does not know: {shown}; rephrase it with the corpus's vocabulary")
    return [BOS_ID] + tokenizer.encode(prompt)


class Continuation:
    """The text of generated ids as it reads after the prompt: decoded together with the prompt's
    tokens, so a word-start piece keeps its space ("Doug saw" + " Jane", not "Doug sawJane")."""

    def __init__(self, tokenizer: Tokenizer, prompt: str, prompt_tokens: list[int]):
        self.tokenizer, self.prompt, self.prompt_tokens = tokenizer, prompt, prompt_tokens
        self.prefix = tokenizer.decode(prompt_tokens) if prompt_tokens else ""

    def __call__(self, ids: list[int]) -> str:
        if not self.prompt_tokens:
            return self.tokenizer.decode(ids)
        whole = self.tokenizer.decode(self.prompt_tokens + ids)
        text = whole[len(self.prefix):] if whole.startswith(self.prefix) else self.tokenizer.decode(ids)
        if self.prompt[-1:].isspace() and text[:1] == " ":
            text = text[1:]  # the prompt already ends with the space
        return text


class StreamingText:
    """A story's continuation text as it grows, in amortised constant time per token: the text up
    to a settled point is kept, and each call decodes only the tokens after it, with a few tokens
    before it as context so the spacing at the seam is what a whole decode gives. The newest
    tokens are never settled (a character's bytes may still be arriving), and when the seam
    cannot be told apart the whole text is decoded once."""

    CONTEXT = 8  # settled tokens decoded again as context for the rest
    OPEN = 16  # the newest tokens stay unsettled

    def __init__(self, continuation: Continuation):
        self.continuation = continuation
        self.settled, self.settled_text = 0, ""

    def __call__(self, ids: list[int]) -> str:
        text = self._after(ids, len(ids))
        if len(ids) - self.settled > 2 * self.OPEN:
            self.settled_text, self.settled = self._after(ids, len(ids) - self.OPEN), len(ids) - self.OPEN
        return text

    def _after(self, ids: list[int], end: int) -> str:
        """The continuation text of ids[:end], decoding only from the settled point on."""
        if self.settled == 0:
            return self.continuation(ids[:end])
        tokens = self.continuation.prompt_tokens + ids
        seam = len(self.continuation.prompt_tokens) + self.settled
        context = tokens[max(0, seam - self.CONTEXT): seam]
        decode = self.continuation.tokenizer.decode
        before, whole = decode(context), decode(context + ids[self.settled:end])
        if not whole.startswith(before):
            return self.continuation(ids[:end])  # an odd seam: decode everything this once
        return self.settled_text + whole[len(before):]


REPLACEMENT = "\ufffd"  # what a decoder writes for bytes that are not (yet) a whole UTF-8 character
BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")  # sentencepiece's byte-fallback pieces


def _inside_character(tokens: list[TokenChoice]) -> bool:
    """Whether the story ends inside a UTF-8 character spelled in byte pieces (a lead byte and
    fewer continuation bytes than it announces): its text then ends in replacement characters
    that the next byte pieces turn into the character. Streaming holds them back, so a streamed
    piece of text is never a replacement character the final text does not have."""
    following = 0  # continuation bytes after the lead byte
    for choice in reversed(tokens[-4:]):  # a UTF-8 character has at most 4 bytes
        match = BYTE_PIECE.fullmatch(choice.piece)
        if match is None:
            return False
        byte = int(match.group(1), 16)
        if 0x80 <= byte < 0xC0:
            following += 1
            continue
        announced = 2 if 0xC2 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4 if 0xF0 <= byte < 0xF5 else 1
        return following + 1 < announced
    return False


def _stop_strings(tokenizer: Tokenizer, stop: Sequence[str]) -> list[str]:
    """Stop strings as the decoded text writes them: a tokenizer that reads typographic quotes as
    ASCII ones never writes “ or ’, so a stop string with them is mapped the same way."""
    if getattr(tokenizer, "ascii_quotes", False):
        from textgen.tokenizer.sentencepiece_tokenizer import ASCII_QUOTES

        return [s.translate(ASCII_QUOTES) for s in stop]
    return list(stop)


def _stop_position(text: str, stop: Sequence[str]) -> int:
    """1 + the index where the first stop string begins, or 0 when none occurs."""
    found = [text.find(s) for s in stop if s and s in text]
    return min(found) + 1 if found else 0


class Writing:
    """The stories of one call as their tokens come, for both loops: each token joins its story
    (its text streamed through `on_token`, held back inside a character; a stop string or the end
    of the story ends it), and `finish` gives the stories."""

    def __init__(self, tokenizer: Tokenizer, prompt: str, start: list[int], n: int, stop: Sequence[str],
                 on_token: Callable[[int, str], None] | None):
        self.tokenizer, self.stop, self.on_token = tokenizer, stop, on_token
        self.continuation = Continuation(tokenizer, prompt, start[1:])
        self.samples = [Sample(prompt, "", []) for _ in range(n)]
        self.shown = [0] * n  # characters of each story already streamed
        self.texts = [StreamingText(self.continuation) for _ in range(n)]
        self.longest_stop = max((len(s) for s in stop if s), default=0)
        self.active = [True] * n
        self.watching = on_token is not None or any(stop)  # only streaming and stop strings need the text at every step

    def take(self, chosen) -> bool:
        """Each story's new token, (id, the model's probability, its rank) per row; whether a story goes on."""
        tokenizer, stop, on_token, active = self.tokenizer, self.stop, self.on_token, self.active
        for row, (token_id, token_probability, token_rank) in enumerate(chosen):
            if not active[row]:
                continue
            sample = self.samples[row]
            if token_id == EOS_ID:
                sample.stop_reason, active[row] = "end_of_story", False
                continue
            sample.ids.append(token_id)
            sample.tokens.append(TokenChoice(token_id, tokenizer.id_to_piece(token_id), token_probability, token_rank))
            if not self.watching:
                continue  # the text is decoded once at the end
            text = self.texts[row](sample.ids)
            # a stop string can only end in the new text: search the tail that could hold it
            window = max(0, len(sample.text) - self.longest_stop)
            if cut := _stop_position(text[window:], stop):
                text, sample.stop_reason, active[row] = text[: window + cut - 1].rstrip(" "), "stop_string", False
            if on_token is not None:
                ready = len(text)
                if text[-1:] == REPLACEMENT and _inside_character(sample.tokens):
                    ready = len(text.rstrip(REPLACEMENT))  # a character whose bytes are still arriving: hold it back
                if ready > self.shown[row]:
                    on_token(row, text[self.shown[row]:ready])
                    self.shown[row] = ready
            sample.text = text
        return any(active)

    def finish(self) -> list[Sample]:
        """The stories, their texts decoded where they were not watched, what was held back streamed."""
        if not self.watching:
            for sample in self.samples:
                sample.text = self.continuation(sample.ids)
        if self.on_token is not None:  # what was held back (a story that ended inside a character): the streamed pieces make the text
            for row, sample in enumerate(self.samples):
                if len(sample.text) > self.shown[row]:
                    self.on_token(row, sample.text[self.shown[row]:])
        return self.samples


def write_one(step, state: list, values: np.ndarray, banned: np.ndarray, processors: Sequence[Processor], greedy: bool,
              uniforms: Iterator[float], history: list[int], max_tokens: int, writing: Writing) -> list[Sample]:
    """One story in numpy from the model's logits `values` (V,) after its prompt and its state: `step`
    (textgen.model.numpy.step.NumpyStep) gives the next logits, the rules (Processor.row) read `history`
    (the prompt's ids, then the story's), `banned` (-inf at the never-written tokens) is added first, and
    each draw takes the next of `uniforms` (torch.rand's numbers for the seed): no torch call in the loop."""
    plain = not processors and not greedy
    for _ in range(max_tokens):
        if plain:
            token_id = _draw_row(values + banned, next(uniforms))
        else:
            processed = apply_rows(processors, history, values + banned)  # masked first: a rule always keeps a writable token
            token_id = int(processed.argmax()) if greedy else _draw_row(processed, next(uniforms))
            history.append(token_id)
        if not writing.take([(token_id, *_choice_row(values, token_id))]):
            break
        logits, state = step.arrays_step(slice(token_id, token_id + 1), state)
        values = logits[0]
    return writing.finish()
