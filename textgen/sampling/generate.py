"""generate(): greedy, sampling and beam search over a recurrent model, one step per new token.

The prompt (after <s>) runs through the model once; every new token then costs one `step`
with the carried state, never a re-run of the prompt. Randomness comes only from a
torch.Generator seeded by `seed`, so the same seed gives the same stories, streamed or not.
Each chosen token's probability and rank are those of the model's own distribution (before
the processors), which is what a diagnosis needs to tell the model's errors from the sampler's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from textgen.errors import TextgenError
from textgen.model import LanguageModel
from textgen.sampling.processors import Processor, apply_processors, apply_rows
from textgen.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer

MAX_TOKENS_LIMIT = 10_000  # a story longer than this is a runaway loop, not a story
MAX_STORIES = 100_000  # stories per command (written in batches); more is a mistake, not a request
MAX_BEAMS = 32  # beam search looks for the likeliest continuation: a few beams find it, each costs a story's work a token
NEVER_WRITTEN = (PAD_ID, UNK_ID, BOS_ID)  # padding, "unknown" and start-of-story are never part of a story


def _allowed(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The logits with the never-written tokens masked out (`mask`: never_written_mask, made once)."""
    return logits + (mask if mask is not None else never_written_mask(logits.shape[-1], logits.device))


def never_written_mask(vocab_size: int, device=None) -> torch.Tensor:
    """(V,) zeros, -inf at the tokens a story never contains."""
    mask = torch.zeros(vocab_size, device=device)
    mask[list(NEVER_WRITTEN)] = float("-inf")
    return mask


def _fold_static_bans(mask: torch.Tensor, processors: Sequence[Processor]) -> tuple[torch.Tensor, list[Processor]]:
    """Fold the bans that do not depend on the history ("--ban </s>") into the mask once, so a
    step does not apply them again; the rules that are left run at every step. Equivalent to
    applying them first: every later rule keeps -inf at -inf. Not folded where they would leave
    nothing writable (then each step keeps the best token, as a rule always does)."""
    banned, left = [], []
    for processor in processors:
        always, rest = processor.static_part()
        banned += always
        left += [rest] if rest is not None else []
    if not banned:
        return mask, list(processors)
    folded = mask.clone()
    folded[banned] = float("-inf")
    if torch.isneginf(folded).all():
        return mask, list(processors)
    return folded, left


def draw(scores: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row (B,) from softmax(scores) (B, V), by inverse transform sampling: the first
    token whose cumulative probability exceeds a uniform draw. A token of score -inf is never drawn;
    the softmax renormalises over the rest, so a row whose writable tokens all sit far below a
    banned one still draws among them. 7x faster than torch.multinomial. One row on the CPU is
    drawn in numpy, whose calls on a thousand values cost 1-2 us against torch's 3-5 (at batch 1
    the calls are most of a token's time); more rows in torch, whose cumulative sum over many rows
    is 3x numpy's speed."""
    uniform = torch.rand(scores.shape[0], 1, generator=generator, device=scores.device)
    if scores.shape[0] == 1 and scores.device.type == "cpu":
        return torch.tensor([_draw_row(scores.detach().float().numpy()[0], uniform.item())])
    infinite = torch.isposinf(scores)
    if infinite.any():  # a rule pushed some scores to +inf (softmax would give NaN): those tokens alone stay
        scores = torch.where(infinite.any(dim=-1, keepdim=True), torch.where(infinite, 0.0, float("-inf")), scores)
    cumulative = torch.softmax(scores.float(), dim=-1).cumsum(dim=-1)
    token = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)[:, 0]
    return token.clamp_max(scores.shape[-1] - 1)


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


def draw_plain(logits: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, list[float], list[int]]:
    """With no rule to apply: a token per row drawn from the model's distribution over the writable
    tokens (`mask`: -inf at the rest), and the model's probability and rank of it (`_model_choice`).
    One row on the CPU goes through numpy once, the two steps sharing its conversions."""
    if logits.shape[0] == 1 and logits.device.type == "cpu":
        values = logits.detach().float().numpy()[0]
        token = _draw_row(values + mask.numpy(), torch.rand(1, 1, generator=generator).item())
        probability, rank = _choice_row(values, token)
        return torch.tensor([token]), [probability], [rank]
    token = draw(logits + mask, generator)
    return (token, *_model_choice(logits, token))


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


def _model_choice(logits: torch.Tensor, token: torch.Tensor) -> tuple[list[float], list[int]]:
    """The model's probability and rank (1-based) of each chosen token, from its logits (B, V)
    before any rule; token (B,). One row on the CPU in numpy (half the time of torch's calls)."""
    if logits.shape[0] == 1 and logits.device.type == "cpu":
        probability, rank = _choice_row(logits.detach().float().numpy()[0], token.item())
        return [probability], [rank]
    probabilities = torch.softmax(logits.float(), dim=-1)
    chosen = probabilities.gather(1, token[:, None])  # (B, 1): compared as it is, no reshaping calls
    return chosen[:, 0].tolist(), ((probabilities > chosen).sum(dim=-1) + 1).tolist()


def read_tokens(model: LanguageModel, tokens: torch.Tensor, state=None) -> tuple[torch.Tensor, list]:
    """The logits after the last of tokens (B, T) -> (B, V) and the state: `model.read` where the
    model has one (the language model and the neural cache: bounded memory), else its forward."""
    if hasattr(model, "read"):
        return model.read(tokens, state)
    logits, state = model(tokens, state)
    return logits[:, -1], state


def read_prompt(model: LanguageModel, prompt: torch.Tensor, rows: int) -> tuple[torch.Tensor, list]:
    """The logits (rows, V) after the prompt (1, T) and the state, for `rows` stories that all start
    with it: read once (`model.read`: only the last position is decoded, a long prompt in chunks,
    so memory does not grow with it), then every row is a view of that one row. A model without
    `read` (any `forward(tokens, state) -> (logits, state)`) reads it in one forward call."""
    logits, state = read_tokens(model, prompt)
    if rows == 1:
        return logits, state
    return logits.expand(rows, -1).contiguous(), [tuple(s.expand(rows, *s.shape[1:]) for s in layer) for layer in state]


@torch.no_grad()
def generate(model: LanguageModel, tokenizer: Tokenizer, prompt: str = "", n: int = 1, max_tokens: int = 200,
             processors: Sequence[Processor] = (), greedy: bool = False, beams: int = 1, seed: int | None = 0,
             stop: Sequence[str] = (), on_token: Callable[[int, str], None] | None = None) -> list[Sample]:
    """Write `n` stories after `prompt`. `on_token(story, text)` streams each new piece of text."""
    check_generation(n, max_tokens, beams)
    stop = _stop_strings(tokenizer, stop)
    if beams > 1:
        return beam_search(model, tokenizer, prompt, n, max_tokens, processors, beams, stop)
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else seed)
    start = prompt_ids(tokenizer, prompt.rstrip(" "))  # a trailing space is implied by the next word
    continuation = Continuation(tokenizer, prompt, start[1:])
    # what the penalties look back over: one buffer (n, prompt + max_tokens), read through a growing view
    buffer = torch.empty(n, len(start) + max_tokens, dtype=torch.long, device=device)
    buffer[:, : len(start)] = torch.tensor(start, device=device)
    length = len(start)
    logits, state = read_prompt(model, buffer[:1, :length], n)
    samples = [Sample(prompt, "", []) for _ in range(n)]
    shown = [0] * n  # characters of each story already streamed
    texts = [StreamingText(continuation) for _ in range(n)]
    longest_stop = max((len(s) for s in stop if s), default=0)
    active = [True] * n
    watching = on_token is not None or any(stop)  # only streaming and stop strings need the text at every step
    mask, processors = _fold_static_bans(never_written_mask(logits.shape[-1], device), processors)
    plain = not processors and not greedy
    # one story on float32 weights on the CPU (the default command): the state, the logits, the rules
    # (Processor.row) and the draw stay in numpy, with no torch call in the loop (at batch 1 a token's
    # time is mostly per-call overhead); the same numbers, so the same story, as the torch path
    stepper = model.numpy_step(state) if n == 1 and isinstance(model, LanguageModel) else None
    if stepper is not None:
        state, values, banned = stepper.arrays(state), logits.float().numpy()[0], mask.numpy()
        uniforms = iter(torch.rand(max_tokens, generator=generator).tolist())  # the numbers `draw` takes one by one
        history = list(start)  # what the rules read: the prompt's ids and the story's
    for _ in range(max_tokens):
        if stepper is not None:
            if plain:
                token_id = _draw_row(values + banned, next(uniforms))
            else:
                processed = apply_rows(processors, history, values + banned)  # masked first, as below
                token_id = int(processed.argmax()) if greedy else _draw_row(processed, next(uniforms))
                history.append(token_id)
            chosen = [(token_id, *_choice_row(values, token_id))]
        else:
            logits = logits.float()
            if plain:  # no rule to apply: draw from the model's distribution without the never-written tokens
                token, probability, rank = draw_plain(logits, mask, generator)
            else:
                processed = apply_processors(processors, buffer[:, :length], _allowed(logits, mask))  # masked first: a rule always keeps a writable token
                token = processed.argmax(dim=-1) if greedy else draw(processed, generator)
                probability, rank = _model_choice(logits, token)  # the model's own distribution's
            chosen = zip(token.tolist(), probability, rank)  # conversions per step, not per row
        for row, (token_id, token_probability, token_rank) in enumerate(chosen):
            if not active[row]:
                continue
            sample = samples[row]
            if token_id == EOS_ID:
                sample.stop_reason, active[row] = "end_of_story", False
                continue
            sample.ids.append(token_id)
            sample.tokens.append(TokenChoice(token_id, tokenizer.id_to_piece(token_id), token_probability, token_rank))
            if not watching:
                continue  # the text is decoded once at the end
            text = texts[row](sample.ids)
            # a stop string can only end in the new text: search the tail that could hold it
            window = max(0, len(sample.text) - longest_stop)
            if cut := _stop_position(text[window:], stop):
                text, sample.stop_reason, active[row] = text[: window + cut - 1].rstrip(" "), "stop_string", False
            if on_token is not None:
                ready = len(text)
                if text[-1:] == REPLACEMENT and _inside_character(sample.tokens):
                    ready = len(text.rstrip(REPLACEMENT))  # a character whose bytes are still arriving: hold it back
                if ready > shown[row]:
                    on_token(row, text[shown[row]:ready])
                    shown[row] = ready
            sample.text = text
        if not any(active):
            break
        if stepper is not None:
            logits, state = stepper.arrays_step(slice(token_id, token_id + 1), state)
            values = logits[0]
            continue
        if not plain:  # only the rules read the history
            buffer[:, length] = token
            length += 1
        logits, state = model.step(token, state)
    if not watching:
        for sample in samples:
            sample.text = continuation(sample.ids)
    if on_token is not None:  # what was held back (a story that ended inside a character): the streamed pieces make the text
        for row, sample in enumerate(samples):
            if len(sample.text) > shown[row]:
                on_token(row, sample.text[shown[row]:])
    return samples


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


@torch.no_grad()
def beam_search(model: LanguageModel, tokenizer: Tokenizer, prompt: str, n: int, max_tokens: int,
                processors: Sequence[Processor], beams: int, stop: Sequence[str]) -> list[Sample]:
    """The `n` most likely continuations (by mean log-probability per token) among `beams` hypotheses."""
    model.eval()
    device = next(model.parameters()).device
    start = prompt_ids(tokenizer, prompt.rstrip(" "))  # a trailing space is implied by the next word
    continuation = Continuation(tokenizer, prompt, start[1:])
    history = torch.tensor([start], device=device)
    logits, state = read_prompt(model, history, 1)
    scores = torch.zeros(1, device=device)  # summed log-probabilities of each live hypothesis
    hypotheses: list[list[int]] = [[]]
    choices: list[list[TokenChoice]] = [[]]
    finished: list[tuple[float, list[int], list[TokenChoice], str]] = []
    for _ in range(max_tokens):
        log_probs = torch.log_softmax(apply_processors(processors, history, _allowed(logits)).float(), dim=-1)  # (b, V)
        candidates = (scores[:, None] + log_probs).flatten()
        top = torch.topk(candidates, min(beams * 2, candidates.numel()))
        keep_rows, keep_tokens, keep_scores = [], [], []
        next_hypotheses: list[list[int]] = []
        next_choices: list[list[TokenChoice]] = []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, token_id = divmod(flat, log_probs.shape[1])
            if score == float("-inf"):
                continue
            probability, rank = _model_choice(logits[row: row + 1], torch.tensor([token_id], device=device))
            choice = TokenChoice(token_id, tokenizer.id_to_piece(token_id), float(probability[0]), int(rank[0]))
            ids = hypotheses[row] + ([] if token_id == EOS_ID else [token_id])
            # the text is decoded only to look for stop strings: a decode costs the whole story so far
            if token_id == EOS_ID or (any(stop) and _stop_position(continuation(ids), stop)):
                reason = "end_of_story" if token_id == EOS_ID else "stop_string"
                finished.append((score / max(1, len(ids)), ids, choices[row] + ([] if token_id == EOS_ID else [choice]), reason))
            else:
                keep_rows.append(row)
                keep_tokens.append(token_id)
                keep_scores.append(score)
                next_hypotheses.append(ids)
                next_choices.append(choices[row] + [choice])
            if len(keep_rows) == beams:
                break
        hypotheses, choices = next_hypotheses, next_choices
        if not keep_rows or len(finished) >= beams:
            scores = torch.tensor(keep_scores, device=device)
            break
        rows = torch.tensor(keep_rows, device=device)
        token = torch.tensor(keep_tokens, device=device)
        scores = torch.tensor(keep_scores, device=device)
        history = torch.cat([history[rows], token[:, None]], dim=1)
        state = [tuple(s[rows] for s in layer) for layer in state]
        logits, state = model.step(token, state)
    for score, ids, picked in zip(scores.tolist(), hypotheses, choices):  # still running at max_tokens
        finished.append((score / max(1, len(ids)), ids, picked, "max_tokens"))
    finished.sort(key=lambda item: item[0], reverse=True)
    samples = []
    for _, ids, picked, reason in finished[:n]:
        text = continuation(ids)
        if reason == "stop_string":
            text = text[: _stop_position(text, stop) - 1].rstrip(" ")
        samples.append(Sample(prompt, text, ids, picked, reason))
    return samples
