"""Choose a model's keep-the-cast setting on validation stories (`textgen tune-cast`).

How many characters a story names depends on the model as much as on the rule: a model trained
longer on more varied text brings in more names in a story's free opening, where the rule lets
new names in. So the cast size (`--cast-size`: the opening ends once the story has that many
names) is chosen per model: for each candidate, `samples` stories are generated with the model's
other defaults, and the size whose names per story come closest to the validation stories' wins
(the smallest change from the library's default on a tie). The choice and the evidence go into
textgen.json's "sampling" section, which every inference command then starts from.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path

from textgen.errors import TextgenError

# cast sizes tried, least intervention first (0: no limit, the library's default); a tie goes to the earlier
CANDIDATES = (0, 3, 2, 1)
MAX_VALID_STORIES = 2_000  # the validation stories counted (names per story settles long before)


@dataclass
class CastRow:
    """One candidate: its cast size and what its samples did."""

    cast_size: int
    names_per_story: float
    late_names_per_story: float
    ratio: float  # names per story / the validation stories'


@dataclass
class CastTuning:
    """The search and its choice; `section()` is what textgen.json's "sampling" becomes."""

    valid: str
    valid_stories: int
    human_names_per_story: float
    samples: int
    seed: int
    max_tokens: int
    rows: list[CastRow] = field(default_factory=list)
    chosen: int = 0

    @property
    def best(self) -> CastRow:
        return next(row for row in self.rows if row.cast_size == self.chosen)

    def to_dict(self) -> dict:
        return asdict(self)

    def section(self, existing: dict | None) -> dict:
        """The model's "sampling" section with the chosen cast size (its other settings kept)."""
        settings = dict((existing or {}).get("settings") or {})
        settings["cast_size"] = self.chosen
        return {"settings": settings, "cast_search": self.to_dict()}


def check_sizes(sizes) -> None:
    """Cast sizes to try: whole numbers from 0 to MAX_CAST_SIZE, each once."""
    from textgen.sampling.schema import MAX_CAST_SIZE

    bad = [size for size in sizes if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_CAST_SIZE]
    if bad or not sizes:
        raise TextgenError(f"--sizes must list whole numbers from 0 (no limit) to {MAX_CAST_SIZE}, e.g. 0,3,2,1; "
                           f"got {', '.join(map(str, bad)) if bad else 'none'}")
    if len(set(sizes)) != len(sizes):
        raise TextgenError(f"--sizes lists a cast size twice ({', '.join(map(str, sizes))}): give each once")


def validation_names(path) -> tuple[float, int]:
    """Names per story in a corpus of human stories (its first MAX_VALID_STORIES), and how many stories."""
    from textgen.analysis.cast import cast_metrics
    from textgen.data.corpus import iter_stories

    stories = list(itertools.islice(iter_stories(path), MAX_VALID_STORIES))
    names = cast_metrics(stories)["names_per_story"]
    if names == 0:
        raise TextgenError(f"the stories in {path} name no characters, so there is no cast to match: give --valid "
                           "stories of the kind the model writes")
    return names, len(stories)


def recorded_validation(loaded) -> str:
    """The validation file a model's training used (its textgen.json "corpus"), when it is still there."""
    recorded = (loaded.metadata.get("corpus") or {}).get("valid")
    if not recorded or not Path(recorded).is_file():
        raise TextgenError("this model's textgen.json names no validation file that is still there: give --valid FILE "
                           "(human stories of the kind the model writes)")
    return recorded


def tune_cast(loaded, valid, *, samples: int = 200, seed: int = 0, max_tokens: int = 200, sizes=CANDIDATES,
              sampler=None, on_size=None, on_story=None) -> CastTuning:
    """Generate `samples` stories from `loaded` (`sampler`: the copy to sample from, e.g. bf16)
    at each cast size of `sizes`, the model's other sampling defaults as they are, and choose the
    size whose names per story come closest (relative difference) to the stories in `valid`."""
    from textgen.analysis.cast import cast_metrics
    from textgen.sampling.cast_names import name_tokens
    from textgen.sampling.sampler import Sampler
    from textgen.sampling.settings import SamplingSettings

    check_sizes(sizes)
    if not name_tokens(loaded.tokenizer).any:
        raise TextgenError(f"this model's {loaded.tokenizer.kind} tokenizer cannot tell names, so the keep-the-cast "
                           "rule does nothing: there is nothing to tune")
    base = SamplingSettings.for_model(loaded)
    if base.keep_cast == 1.0:
        raise TextgenError("the keep-the-cast rule is off in this model's own defaults (keep_cast 1 in its textgen.json): "
                           "set it below 1 there, or remove the setting, before tuning the cast size")
    human, count = validation_names(valid)
    tuning = CastTuning(valid=str(valid), valid_stories=count, human_names_per_story=human, samples=samples, seed=seed,
                        max_tokens=max_tokens)
    for size in sizes:
        if on_size is not None:
            on_size(f"cast size {size}")
        settings = SamplingSettings.for_model(loaded, cast_size=size)
        generated = Sampler.for_model(loaded, settings, model=sampler).write(samples, "", max_tokens, seed,
                                                                             on_batch=on_story)
        metrics = cast_metrics(sample.text for sample in generated)
        tuning.rows.append(CastRow(size, metrics["names_per_story"], metrics["late_names_per_story"],
                                   metrics["names_per_story"] / human))
    tuning.chosen = min(tuning.rows, key=lambda row: abs(row.ratio - 1)).cast_size  # min keeps the first of a tie
    return tuning


def check_recordable(path, command: str = "tune-cast") -> None:
    """Before the search: the choice could be written into `path` (not a shipped model, its lock
    free and a plain file, the folder writable), so a refusal comes before minutes of sampling.
    `command`: the command the messages name."""
    from textgen.modeldir.swap import FolderLock
    from textgen.modeldir.shipped import refuse_shipped

    refuse_shipped(path, command)
    with FolderLock(Path(path), hint=f"run {command} when it has finished, or add --dry-run"):
        pass


def record_cast(path, tuning, files: dict | None = None, command: str = "tune-cast") -> dict:
    """Write the choice into the model directory's textgen.json (atomically, with the folder locked
    against other textgen processes; the weights and their hashes are untouched). `files`: the
    hashes (textgen.json's "files") of the model the search sampled from; a folder that holds
    another model by the time the choice is written (replaced while the search ran) is refused,
    so a choice never lands on weights it was not made for. A shipped model is refused: it is
    read-only. `tuning`: a CastTuning or a textgen.analysis.tune.Tuning (anything with
    `section(existing)`); `command`: the command the messages name. Returns the new "sampling" section."""
    from textgen.modeldir.swap import locked, recover
    from textgen.modeldir.layout import ModelDirectory
    from textgen.modeldir.shipped import refuse_shipped

    refuse_shipped(path, command)
    directory = ModelDirectory(Path(path))
    try:
        with locked(directory.path, hint=f"run {command} when it has finished, or add --dry-run"):
            recover(directory.path)  # a killed writer's swap is finished first: its textgen.json is the one to change
            meta = directory.read_metadata()
            if files is not None and meta.get("files") != files:
                raise TextgenError(f"{path} changed while {command} ran (another textgen command wrote a model there): "
                                   f"run {command} again")
            section = tuning.section(meta.get("sampling"))
            directory.write_metadata({**meta, "sampling": section})
    except OSError as error:
        raise TextgenError(f"cannot write {directory.metadata_path} ({error.strerror or error}): run {command} on a "
                           "copy of the model you can write to, or add --dry-run") from None
    return section


def describe(tuning: CastTuning) -> list[str]:
    """The search as lines for the terminal."""
    lines = [(f"validation stories: {tuning.human_names_per_story:.3f} names per story ({tuning.valid_stories} stories, "
              f"{tuning.valid})"),
             f"{'cast size':>14}  {'names/story':>11}  {'x validation':>12}  {'late names':>10}"]
    for row in tuning.rows:
        label = f"{row.cast_size}{' (no limit)' if row.cast_size == 0 else ''}"
        mark = "  <- chosen" if row.cast_size == tuning.chosen else ""
        lines.append(f"{label:>14}  {row.names_per_story:>11.3f}  {row.ratio:>11.2f}x  {row.late_names_per_story:>10.3f}{mark}")
    return lines
