"""Which words moved a classifier's rating, by two methods:

- occlusion: each word's tokens are taken out of the text and the text is read again; a word's
  score is how much the prediction falls without it (one batch of as many texts as words);
- integrated gradients (Sundararajan et al. 2017): the gradient of the prediction along the
  straight path from a text whose word embeddings are all zero to the real one, times the
  embedding, summed over each word's tokens; the scores add up to the prediction's change from
  that empty text (the gap reported says how closely the `steps` of the path get there).

What is explained: for ordinal labels the expected rating (so a positive score means "this word
raised the stars"); otherwise the log-probability of the predicted class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from textgen.errors import TextgenError
from textgen.modeldir.store import LoadedClassifier
from textgen.tokenizer import BOS_ID, EOS_ID

METHODS = ("occlusion", "integrated-gradients")
DEFAULT_METHOD = "occlusion"  # see BENCHMARKS.md, "Which words mattered"


@dataclass
class WordScore:
    word: str
    score: float  # how much the word moved the explained value (its units: stars, or nats)


@dataclass
class Explanation:
    text: str
    label: str
    probabilities: dict[str, float]
    explained: str  # "expected rating" or "log P(label)"
    value: float  # the explained value for the whole text
    method: str
    words: list[WordScore]
    gap: float | None = None  # integrated gradients: value - empty-text value - sum of scores

    def to_dict(self) -> dict:
        return asdict(self)


def text_ids(loaded: LoadedClassifier, text: str) -> list[int]:
    """`<s> text </s>` as the classifier reads it (its first max_tokens tokens)."""
    from textgen.classify.data import encode_text

    if not text.strip():
        raise TextgenError("TEXT is empty: give a review (or other text) to explain")
    return encode_text(loaded.tokenizer, text)[: loaded.model.head_config.max_tokens]


def explained_value(loaded: LoadedClassifier, logits: torch.Tensor, target: int) -> torch.Tensor:
    """(B,) the value explained from class scores (B, K)."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    if loaded.labels.ordinal:
        values = torch.tensor(loaded.labels.values, dtype=log_probs.dtype, device=log_probs.device)
        return (log_probs.exp() * values).sum(dim=-1)
    return log_probs[:, target]


def explain(loaded: LoadedClassifier, text: str, method: str = DEFAULT_METHOD, steps: int = 32) -> Explanation:
    """Each word's share in the classifier's rating of `text`."""
    from textgen.analysis.gates import group_words

    if method not in METHODS:
        raise TextgenError(f"--method {method!r} is unknown: choose {' or '.join(METHODS)}")
    if steps < 1:
        raise TextgenError(f"--steps must be at least 1, got {steps}")
    model = loaded.model.eval()
    ids = text_ids(loaded, text)
    inner = [index for index, token in enumerate(ids) if token not in (BOS_ID, EOS_ID)]
    groups = [[inner[i] for i in group] for group in group_words(loaded.tokenizer, [ids[i] for i in inner])]
    device = next(model.parameters()).device
    tokens = torch.tensor([ids], device=device)
    with torch.no_grad():
        logits = loaded.scores(tokens, torch.tensor([len(ids)], device=device))
    probabilities = torch.softmax(logits.float(), dim=-1)[0]
    target = int(probabilities.argmax())
    value = float(explained_value(loaded, logits, target)[0])
    if method == "occlusion":
        scores, gap = occlusion(loaded, ids, groups, target, value), None
    else:
        scores, gap = integrated_gradients(loaded, ids, groups, target, value, steps)
    words = [WordScore(loaded.tokenizer.decode([ids[i] for i in group]).strip() or "↵", round(float(score), 5))
             for group, score in zip(groups, scores)]
    return Explanation(text, loaded.labels.names[target], dict(zip(loaded.labels.names, probabilities.tolist())),
                       "expected rating" if loaded.labels.ordinal else f"log P({loaded.labels.names[target]})", value, method,
                       words, None if gap is None else round(gap, 5))


@torch.no_grad()
def occlusion(loaded: LoadedClassifier, ids: list[int], groups: list[list[int]], target: int, value: float,
              batch_size: int = 64) -> list[float]:
    """value - the value of the text without each word's tokens."""
    from textgen.classify.data import pad_rows

    model = loaded.model
    device = next(model.parameters()).device
    scores: list[float] = []
    for start in range(0, len(groups), batch_size):
        rows = []
        for group in groups[start:start + batch_size]:
            dropped = set(group)
            rows.append([token for index, token in enumerate(ids) if index not in dropped])
        tokens, lengths = (tensor.to(device) for tensor in pad_rows(rows))
        without = explained_value(loaded, loaded.scores(tokens, lengths), target)
        scores.extend((value - without).tolist())
    return scores


def integrated_gradients(loaded: LoadedClassifier, ids: list[int], groups: list[list[int]], target: int, value: float,
                         steps: int) -> tuple[list[float], float]:
    """Per-word attributions and the completeness gap (value - baseline value - their sum)."""
    model = loaded.model
    device = next(model.parameters()).device
    tokens = torch.tensor([ids], device=device)
    with torch.no_grad():
        embedded = model.embedding(tokens)[0]  # (T, E)
    mask = torch.zeros(len(ids), 1, device=device)
    mask[[index for group in groups for index in group]] = 1.0  # <s> and </s> stay as they are
    baseline = embedded * (1 - mask)
    total = torch.zeros_like(embedded)
    for start in range(0, steps, 32):
        alphas = (torch.arange(start, min(steps, start + 32), device=device, dtype=embedded.dtype) + 0.5) / steps
        path = (baseline[None] + alphas[:, None, None] * (embedded - baseline)[None]).requires_grad_(True)
        lengths = torch.full((len(alphas),), len(ids), device=device)
        outputs = explained_value(loaded, model.forward_embedded(path, lengths) + loaded.decision_bias.to(device), target)
        (gradient,) = torch.autograd.grad(outputs.sum(), path)
        total += gradient.sum(dim=0)
    per_token = ((embedded - baseline) * total / steps).sum(dim=-1)  # (T,)
    scores = [float(per_token[group].sum()) for group in groups]
    with torch.no_grad():
        base_logits = model.forward_embedded(baseline[None], torch.tensor([len(ids)], device=device))
        base = float(explained_value(loaded, base_logits + loaded.decision_bias.to(device), target)[0])
    return scores, value - base - sum(scores)
