"""The Sampler: stories from a model under one set of sampling settings, as every command writes
them (generate, diagnose, tune-cast, the explorer, `textgen.generate`).

It owns three things the callers used to repeat:
- the batch-and-seed rule: stories are written GENERATION_BATCH at a time, so memory does not
  grow with their number, and batch b draws with seed + b (mod 2**32), so the first 64 stories of
  a seed are the same whoever asks for them;
- per-run processor state: each run builds its own processors (the rules that count a story's
  tokens keep their counts and the buffer they read), so nothing of one run reaches the next;
- interrupts: while a run streams, the text each story of the current batch has so far is kept,
  so after Ctrl-C (or SIGTERM) `interrupted()` gives what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textgen.errors import TextgenError
from textgen.sampling.settings import SamplingSettings, build_processors
from textgen.sampling.stories import Sample, check_generation

GENERATION_BATCH = 64  # stories generated at once: batch b uses seed + b


def batch_seeds(n: int, seed: int | None, batch_size: int) -> list[tuple[int, int, int]]:
    """(first story, stories, seed) of each batch of `n` stories: batch b uses seed + b."""
    seed = 0 if seed is None else seed
    return [(offset, min(batch_size, n - offset), (seed + batch) % 2**32)
            for batch, offset in enumerate(range(0, n, batch_size))]


class Sampler:
    """Writes stories with `model` and `tokenizer` under `settings` (default: the library's);
    `greedy` (or temperature 0) takes the most likely token, `beams` > 1 runs beam search (all
    stories in one batch), `stop` ends a story at any of its texts. The settings are checked when
    the Sampler is made: an unknown banned word is refused before any work. `words`: the model's
    training words (LoadedModel.words), for the real-words rule."""

    def __init__(self, model, tokenizer, settings: SamplingSettings | None = None, *, greedy: bool = False, beams: int = 1,
                 stop=(), batch_size: int = GENERATION_BATCH, words=None):
        self.model, self.tokenizer, self.words = model, tokenizer, words
        self.settings = settings if settings is not None else SamplingSettings()
        self.processors = build_processors(self.settings, tokenizer, words)  # what --verbose lists; each run builds its own
        self.greedy = greedy or self.settings.greedy
        self.beams, self.stop, self.batch_size = beams, tuple(stop), batch_size
        self._prompt = ""
        self._written: dict[int, str] = {}  # story -> its text so far, for the batch being written

    @classmethod
    def for_model(cls, loaded, settings: SamplingSettings | None = None, *, model=None, **options) -> Sampler:
        """A Sampler for `loaded` (a `textgen.load` result): `settings` default to the model's own
        sampling defaults (its textgen.json), else the library's; `model` is the copy to sample
        from where it is not `loaded.model` (bf16, int8, with a neural cache)."""
        settings = settings if settings is not None else SamplingSettings.for_model(loaded)
        return cls(model if model is not None else loaded.model, loaded.tokenizer, settings, words=loaded.words, **options)

    def describe(self) -> str:
        """The processors in the order they are applied (--verbose)."""
        return "; ".join(processor.describe() for processor in self.processors) or "none"

    def stories(self, n: int, prompt: str = "", max_tokens: int = 200, seed: int | None = 0,
                on_token: Callable[[int, str], None] | None = None,
                on_batch: Callable[[int], None] | None = None) -> Iterator[tuple[int, Sample]]:
        """(index, story) for `n` stories after `prompt`, a batch at a time. `on_token(index,
        text)` streams each new piece of text (and keeps it for `interrupted`); `on_batch(count)`
        is called after each batch."""
        check_generation(n, max_tokens, self.beams)
        batch_size = n if self.beams > 1 else self.batch_size
        processors = build_processors(self.settings, self.tokenizer, self.words)  # this run's own state
        write = self._writer(n)
        self._prompt = prompt
        for offset, count, batch_seed in batch_seeds(n, seed, batch_size):
            self._written.clear()
            relay = self._relay(offset, on_token) if on_token is not None else None
            samples = write(prompt, count, max_tokens, processors, batch_seed, relay)
            if on_batch is not None:
                on_batch(count)
            yield from enumerate(samples, start=offset)

    def _writer(self, n: int) -> Callable:
        """write(prompt, count, max_tokens, processors, seed, on_token) -> stories: torch's generate, or for
        a model read without torch (textgen.model.numpy.language_model: one story, no beams) the numpy path."""
        from textgen.model.numpy.language_model import NumpyLanguageModel

        if isinstance(self.model, NumpyLanguageModel):
            if n != 1 or self.beams != 1:
                raise TextgenError("a model read without torch writes one story at a time, without beams: load it with "
                                   "textgen.load for more stories or beam search")
            from textgen.sampling.numpy_generate import generate_one

            return lambda prompt, count, max_tokens, processors, seed, on_token: generate_one(
                self.model, prompt, max_tokens, processors, self.greedy, seed, self.stop, on_token)
        from textgen.sampling.generate import generate

        return lambda prompt, count, max_tokens, processors, seed, on_token: generate(
            self.model, self.tokenizer, prompt, n=count, max_tokens=max_tokens, processors=processors, greedy=self.greedy,
            beams=self.beams, seed=seed, stop=self.stop, on_token=on_token)

    def _relay(self, offset: int, on_token: Callable[[int, str], None]) -> Callable[[int, str], None]:
        """generate's on_token for the batch starting at story `offset`: keeps the text, then passes it on."""
        def relay(row: int, text: str) -> None:
            self._written[offset + row] = self._written.get(offset + row, "") + text
            on_token(offset + row, text)

        return relay

    def write(self, n: int = 1, prompt: str = "", max_tokens: int = 200, seed: int | None = 0,
              on_token: Callable[[int, str], None] | None = None,
              on_batch: Callable[[int], None] | None = None) -> list[Sample]:
        """The `n` stories of `stories`, as a list."""
        return [sample for _, sample in self.stories(n, prompt, max_tokens, seed, on_token, on_batch)]

    def interrupted(self) -> list[tuple[int, Sample]]:
        """After an interrupt (Ctrl-C, SIGTERM, SIGHUP) of a streamed run: (index, story) for each
        story of the batch being written that had text, as far as it got (stop_reason
        "interrupted", no tokens)."""
        return [(index, Sample(self._prompt, text, [], None, "interrupted")) for index, text in sorted(self._written.items())]
