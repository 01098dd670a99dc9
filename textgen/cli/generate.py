"""textgen generate and textgen next."""

from __future__ import annotations

import click

from textgen.cli.common import SEED, Terminated, check_plot, load_for_generation, print_json
from textgen.cli.inference_options import cache_options, cache_settings, model_defaults_note, sampling_options, sampling_settings
from textgen.errors import TextgenError


@click.command("generate")
@click.argument("model_dir", metavar="MODEL")
@click.option("--prompt", default="", help="How the story starts (default: from the start of a story).")
@click.option("-n", "count", type=int, default=1, show_default=True, help="Stories to write (written 64 at a time, so memory does not grow with -n).")
@click.option("--max-tokens", type=int, default=200, show_default=True, help="At most this many new tokens (1..10,000).")
@sampling_options
@click.option("--beams", type=int, default=1, show_default=True, help="Beam search with this many beams (1..32).")
@click.option("--greedy", is_flag=True, help="Always take the most likely token.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="The same seed gives the same stories.")
@click.option("--stop", "stops", multiple=True, help="Stop a story when this text appears (repeatable).")
@click.option("--quantize", type=click.Choice(["auto", "none", "int8", "bf16"]), default="auto", show_default=True,
              help="Weights for generation: auto = float32, measured no slower than bf16 or int8 on either CPU kind and the "
                   "same story from the same seed on every CPU (BENCHMARKS.md).")
@cache_options(sampling=True)
@click.option("--verbose", is_flag=True, help="Print the processors in the order they are applied.")
@click.option("--json", "as_json", is_flag=True, help='One object per story per line: {"prompt", "text", "stop_reason", "tokens": [{"id", "token", "probability", '
                   '"rank"}]}.')
def generate_command(model_dir: str, prompt: str, count: int, max_tokens: int, beams: int, greedy: bool, seed: int,
                     stops: tuple[str, ...], quantize: str, verbose: bool, as_json: bool, **options) -> None:
    """Write new stories with MODEL, streamed to the terminal as they are written.

    A sampling setting not given comes from the model's own defaults where its textgen.json has
    them (textgen tune-cast writes one), else from the defaults shown.

    Example: textgen generate checkpoints/little --prompt "Once upon a time" -n 3 --temperature 0.8 --top-p 0.9
    """
    from textgen.sampling.sampler import Sampler
    from textgen.sampling.stories import check_generation, prompt_ids
    from textgen.tokenizer.base import check_text

    check_text(prompt, "--prompt")
    check_generation(count, max_tokens, beams)
    loaded = without_torch(model_dir, prompt, count, beams, quantize, options)
    if loaded is not None:  # one story on float32 weights, no cache: numpy alone writes it, torch is never imported
        neural_cache, weights = None, "none (float32, read without torch: one story in numpy)"
    else:
        from textgen.model.neural_cache import with_cache

        loaded = load_for_generation(model_dir, quantize)
        neural_cache = cache_settings(loaded, options, sampling=True)
        loaded.model = with_cache(loaded.model, neural_cache)
        weights = None
    sampler = Sampler.for_model(loaded, sampling_settings(options, loaded), greedy=greedy, beams=beams, stop=stops)
    prompt_ids(loaded.tokenizer, prompt)  # unknown words are refused before anything is written
    if verbose:
        if weights is None:
            from textgen.model.quantize import resolve_mode

            weights = resolve_mode(quantize) if quantize != 'none' else 'none'
        click.echo(f"weights: {weights}", err=True)
        if getattr(loaded, "threads", ""):
            click.echo(loaded.threads, err=True)
        click.echo(neural_cache.describe() if neural_cache else "neural cache: off", err=True)
        click.echo(model_defaults_note(loaded, options) or "sampling: no defaults of the model's own", err=True)
        click.echo("processors, in order: " + sampler.describe(), err=True)
    live = not as_json and beams == 1  # the first story streams to the terminal as it is written

    def on_token(index: int, text: str) -> None:
        if index == 0 and live:
            click.echo(text, nl=False)

    def show(index: int, sample) -> None:
        if as_json:
            print_json(sample.to_dict())
        elif index == 0 and live:
            click.echo()
        else:
            interrupted = " (interrupted)" if sample.stop_reason == "interrupted" else ""
            click.echo(f"\n--- story {index + 1}{interrupted}\n{prompt}{sample.text}")

    if live:
        click.echo(prompt, nl=False)
    try:
        for index, sample in sampler.stories(count, prompt, max_tokens, seed, on_token=on_token):
            show(index, sample)
    except (KeyboardInterrupt, Terminated):  # Ctrl-C, SIGTERM or SIGHUP: the stories so far, then the line
        unfinished = sampler.interrupted()
        if live and unfinished and unfinished[0][0] == 0:
            click.echo()
        for index, sample in unfinished:
            if as_json or index != 0 or not live:
                show(index, sample)
        raise


def without_torch(model_dir: str, prompt: str, count: int, beams: int, quantize: str, options: dict):
    """The model read without torch (textgen.model.numpy.language_model) where numpy alone writes what
    was asked as torch's path would: one story, no beams, float32 weights (--quantize auto or none), no
    neural cache asked for (sampling leaves it off by default), a cell with a numpy step, and a prompt
    that torch's path reads a token at a time too. None otherwise: the caller loads torch."""
    cache_asked = options.get("cache_enabled") or any(options.get(f"cache_{name}") is not None
                                                      for name in ("weight", "theta", "size", "scope"))
    if count != 1 or beams != 1 or quantize not in ("auto", "none") or cache_asked:
        return None
    from textgen.model.numpy.language_model import NumpyLanguageModel
    from textgen.sampling.numpy_generate import fits

    loaded = NumpyLanguageModel.load(model_dir)
    return loaded if loaded is not None and fits(loaded, prompt) else None


@click.command("next")
@click.argument("model_dir", metavar="MODEL")
@click.argument("text")
@click.option("--top", type=click.IntRange(1, 10_000), default=10, show_default=True, help="How many words to list.")
@click.option("--words", "word_list", default=None, help="Score exactly these words, comma-separated (e.g. Jane,Spot,Doug).")
@click.option("--pieces", is_flag=True, help="Show the raw next-token distribution instead of words.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Draw the probabilities as a PNG bar chart.")
@cache_options
@click.option("--json", "as_json", is_flag=True, help='Print {"context", "words": [{"word", "probability", "pieces", "known"}], "coverage", "exact"}.')
def next_command(model_dir: str, text: str, top: int, word_list: str | None, pieces: bool, plot_path: str | None,
                 as_json: bool, **options) -> None:
    """What does MODEL expect after TEXT? Whole words with their probabilities, even with a
    sentencepiece model (a word's probability is that of its pieces in sequence and of the
    word ending there).

    Example: textgen next checkpoints/little "Once upon a time, there was a" --top 10
    """
    import textgen
    from textgen.analysis.next_words import next_tokens, next_words, score_words
    from textgen.tokenizer.base import check_text

    check_text(text, "TEXT")
    check_plot(plot_path)
    words = None
    if word_list is not None:
        words = [word.strip() for word in word_list.split(",") if word.strip()]
        if not words:
            raise TextgenError("the --words list is empty: give words separated by commas, e.g. --words Jane,Spot")
    loaded = textgen.load(model_dir)
    from textgen.model.neural_cache import with_cache

    loaded.model = with_cache(loaded.model, cache_settings(loaded, options))
    context = text.rstrip(" ")
    if words is not None:
        result = score_words(loaded.model, loaded.tokenizer, context, words)
    elif pieces:
        result = next_tokens(loaded.model, loaded.tokenizer, context, top)
    else:
        result = next_words(loaded.model, loaded.tokenizer, context, top)
    if plot_path:
        from textgen.analysis.plots import plot_next_words

        plot_next_words(result, plot_path)
    if as_json:
        print_json(result.to_dict())
        return
    kind = "pieces" if pieces else "words"
    click.echo(f"after “{context}”:")
    largest = max((w.probability for w in result.words), default=0) or 1
    width = max((len(w.word) for w in result.words), default=4)
    for w in result.words:
        label = w.word.replace("\n", "↵")
        split = f"  ({' + '.join(w.pieces)})" if kind == "words" and len(w.pieces) > 1 else ""
        bar = "█" * max(1, round(30 * w.probability / largest)) if w.known else "(not in the model's vocabulary: never written)"
        click.echo(f"  {label:<{width}}  {100 * w.probability:6.2f}%  {bar}{split}")
    exactness = "" if result.exact else " (search stopped early: the list may miss some words)"
    click.echo(f"these {kind} cover {100 * result.coverage:.1f}% of the probability{exactness}")
    if plot_path:
        click.echo(f"plot -> {plot_path}")

