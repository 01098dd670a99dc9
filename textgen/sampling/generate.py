"""generate(): greedy, sampling and beam search over a recurrent model, one step per new token.

The prompt (after <s>) runs through the model once; every new token then costs one `step`
with the carried state, never a re-run of the prompt. Randomness comes only from a
torch.Generator seeded by `seed`, so the same seed gives the same stories, streamed or not.
Each chosen token's probability and rank are those of the model's own distribution (before
the processors), which is what a diagnosis needs to tell the model's errors from the sampler's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from textgen.model import LanguageModel
from textgen.sampling.processors import Processor, apply_processors
from textgen.sampling.stories import (  # the torch-free parts, importable from here as before
    BYTE_PIECE,
    MAX_BEAMS,
    MAX_STORIES,
    MAX_TOKENS_LIMIT,
    NEVER_WRITTEN,
    REPLACEMENT,
    Continuation,
    Sample,
    StreamingText,
    TokenChoice,
    Writing,
    _choice_row,
    _draw_row,
    _inside_character,
    _stop_position,
    _stop_strings,
    check_generation,
    fold_static_bans,
    prompt_ids,
    write_one,
)
from textgen.sampling.uniforms import seeded_uniforms
from textgen.tokenizer import EOS_ID, Tokenizer

__all__ = ["BYTE_PIECE", "MAX_BEAMS", "MAX_STORIES", "MAX_TOKENS_LIMIT", "NEVER_WRITTEN", "REPLACEMENT", "Continuation", "Sample",
           "StreamingText", "TokenChoice", "Writing", "beam_search", "check_generation", "draw", "draw_plain", "generate",
           "never_written_mask", "prompt_ids", "read_prompt", "read_tokens", "_inside_character"]


def _allowed(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The logits with the never-written tokens masked out (`mask`: never_written_mask, made once)."""
    return logits + (mask if mask is not None else never_written_mask(logits.shape[-1], logits.device))


def never_written_mask(vocab_size: int, device=None) -> torch.Tensor:
    """(V,) zeros, -inf at the tokens a story never contains."""
    mask = torch.zeros(vocab_size, device=device)
    mask[list(NEVER_WRITTEN)] = float("-inf")
    return mask


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
    start = prompt_ids(tokenizer, prompt.rstrip(" "))  # a trailing space is implied by the next word
    writing = Writing(tokenizer, prompt, start, n, stop, on_token)
    # what the penalties look back over: one buffer (n, prompt + max_tokens), read through a growing view
    buffer = torch.empty(n, len(start) + max_tokens, dtype=torch.long, device=device)
    buffer[:, : len(start)] = torch.tensor(start, device=device)
    length = len(start)
    logits, state = read_prompt(model, buffer[:1, :length], n)
    mask, processors = fold_static_bans(never_written_mask(logits.shape[-1], device), processors)
    # one story on float32 weights on the CPU (the default command): the state, the logits, the rules
    # (Processor.row) and the draw stay in numpy, with no torch call in the loop (at batch 1 a token's
    # time is mostly per-call overhead); the same numbers, so the same story, as the torch path.
    # textgen.sampling.numpy_generate runs the same loop on a model read without torch.
    stepper = model.numpy_step(state) if n == 1 and isinstance(model, LanguageModel) else None
    if stepper is not None:
        uniforms = iter(seeded_uniforms(0 if seed is None else seed, max_tokens))  # torch.rand's numbers for the seed
        return write_one(stepper, stepper.arrays(state), logits.float().numpy()[0], mask.numpy(), processors, greedy,
                         uniforms, list(start), max_tokens, writing)
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else seed)
    plain = not processors and not greedy
    for _ in range(max_tokens):
        logits = logits.float()
        if plain:  # no rule to apply: draw from the model's distribution without the never-written tokens
            token, probability, rank = draw_plain(logits, mask, generator)
        else:
            processed = apply_processors(processors, buffer[:, :length], _allowed(logits, mask))  # masked first: a rule always keeps a writable token
            token = processed.argmax(dim=-1) if greedy else draw(processed, generator)
            probability, rank = _model_choice(logits, token)  # the model's own distribution's
        if not writing.take(zip(token.tolist(), probability, rank)):  # conversions per step, not per row
            break
        if not plain:  # only the rules read the history
            buffer[:, length] = token
            length += 1
        logits, state = model.step(token, state)
    return writing.finish()


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
