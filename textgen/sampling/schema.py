"""The sampling settings, each declared once: its name, type, library default, bounds, help text,
whether the explorer's page sets it and its CLI flag. Everything else is derived from this list:
`SamplingSettings`' fields, the CLI options (cli/inference_options.py), the textgen.json
"sampling" check (model_defaults.py), the explorer's request model (explorer/requests.py) and the
processors' argument checks (processors.py). Torch-free: the CLI reads it for --help.
"""

from __future__ import annotations

from dataclasses import dataclass

from textgen.errors import TextgenError

# the library's temperature for a model never tuned: the grid cell that measured best over three models (the shipped one,
# a 5-minute TinyStories model, a 5-minute classics model) by textgen tune's rule (BENCHMARKS.md, library defaults)
TEMPERATURE = 0.9
# a new name after the opening is this many times as likely: chosen on samples of TinyStories models (BENCHMARKS.md, cast)
KEEP_CAST = 0.1
CAST_OPENING = 50  # words at a story's start where new names are free
CAST_SIZE = 0  # names the opening may bring in freely (0: as many as it likes)
REAL_WORDS = 0.0  # an invented word is never written (BENCHMARKS.md, issue 34: stories a reader would keep)
DOUBLE_WORDS = 0.0  # "the the" is never written (the human stories have none; the same measurement)
STRAY_CAPITALS = 0.0  # "and The" is written "and the" (BENCHMARKS.md, issue 34: the quote-aware names)
MAX_CAST_OPENING = 10_000  # words: the longest story generate writes is 10,000 tokens
MAX_CAST_SIZE = 100
MIN_PENALTY = 1e-6  # the smallest repetition penalty: it already multiplies a repeat's logit a million-fold
DEFAULT_BREAKERS = ("\n", ".", "!", "?", '"', ",")


@dataclass(frozen=True)
class Setting:
    """One sampling setting. `low`..`high` is what its rule accepts (None: no bound; `low_open`/
    `high_open`: the bound itself is refused); `zero`, where set, is what 0 means when the rule
    does not take it ("off", "greedy"): the setting then accepts 0 as well. `label` names it in
    error messages; `page`: the explorer's page sets it; `carried`: a model's textgen.json may
    give it (the word lists may not)."""

    name: str
    kind: type  # float, int or tuple (a list of texts, given by repeating the flag)
    default: object
    help: str
    label: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    zero: str = ""
    page: bool = False
    flag: str = ""

    @property
    def option(self) -> str:
        """The CLI flag: --temperature, --dry-breaker."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def carried(self) -> bool:
        return self.kind is not tuple

    def interval(self, rule: bool = False) -> str:
        """The range as the messages write it: "(0, 1]", ">= 1"; the setting's takes a 0 with a
        meaning where it is the rule's open bound (temperature: [0, 100], the rule's (0, 100])."""
        low_open = self.low_open and (rule or not (self.zero and self.low == 0))
        if self.high is None:
            return f"> {self.low:g}" if low_open else f">= {self.low:g}"
        return f"{'(' if low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def accepts(self, value, rule: bool = False) -> bool:
        """Whether `value` is in range (its type checked apart): the rule's range, plus 0 where the
        setting gives 0 a meaning and `rule` is False."""
        if self.zero and value == 0 and not rule:
            return True
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def check(self, value, rule: bool = False):
        """`value` if it is of this setting's type and in range (`rule`: the range of the rule
        itself, without the 0 that turns it off), else a TextgenError naming the range."""
        if self.kind is tuple:
            if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
                raise TextgenError(f"{self.label} must be a list of texts, got {value!r}")
            return value
        whole = self.kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value != value:
            raise TextgenError(f"{self.label} must be {'a whole number' if whole else 'a number'}, got {value!r}")
        if self.accepts(value, rule):
            return value
        zero = " (0 turns it off)" if self.zero == "off" else f" (0: {self.zero})" if self.zero else ""
        if self.high is None:
            raise TextgenError(f"{self.label} must be {'a whole number' if whole else 'a number'} {self.interval(rule)}{zero}, "
                               f"got {value!r}")
        raise TextgenError(f"{self.label} {value:g} is outside {self.interval(rule)}{zero}")


SETTINGS: tuple[Setting, ...] = (
    Setting("temperature", float, TEMPERATURE, "0 means greedy.", "temperature", 0.0, 100.0, low_open=True, zero="greedy",
            page=True),
    Setting("top_k", int, 0, "Keep the k most likely tokens (0: off).", "top-k", 1, zero="off", page=True),
    Setting("top_p", float, 1.0, "Nucleus: keep tokens up to this probability mass.", "top-p", 0.0, 1.0, low_open=True,
            page=True),
    Setting("min_p", float, 0.0, "Keep tokens at least this share of the best.", "min-p", 0.0, 1.0, high_open=True,
            page=True),
    Setting("repetition_penalty", float, 1.0, "CTRL penalty for seen tokens (1: off).", "repetition penalty", MIN_PENALTY,
            100.0, page=True),
    Setting("frequency_penalty", float, 0.0, "Subtract this times a token's count so far (0: off).", "frequency penalty",
            -2.0, 2.0),
    Setting("presence_penalty", float, 0.0, "Subtract this once from every token seen so far (0: off).",
            "presence penalty", -2.0, 2.0),
    Setting("no_repeat_ngram", int, 0, "Forbid repeating n-grams of this size.", "no-repeat-ngram", 1, zero="off",
            page=True),
    Setting("dry_multiplier", float, 0.0, "DRY penalty strength (0: off).", "DRY multiplier", 0.0, 100.0, page=True),
    Setting("dry_base", float, 1.75, "DRY: the penalty grows by this factor per repeated token.", "DRY base", 1.0, 10.0,
            low_open=True),
    Setting("dry_allowed_length", int, 2, "DRY: repeats up to this many tokens go unpenalised.", "DRY allowed length", 1),
    Setting("dry_breakers", tuple, DEFAULT_BREAKERS, 'Text that breaks a DRY repeat (repeatable) [default: newline . ! ? " ,].',
            "DRY breakers", flag="--dry-breaker"),
    Setting("banned_words", tuple, (), "A word never to write (repeatable; </s>: never end the story).", "banned words",
            flag="--ban"),
    Setting("keep_cast", float, KEEP_CAST, "Keep the characters: after a story's opening, a name it has not used yet is "
            "this many times as likely (1: off, 0: never).", "keep-cast", 0.0, 1.0, page=True),
    Setting("cast_opening", int, CAST_OPENING, "Keep the cast: the opening, where new names are free, is this many words.",
            "cast-opening", 0, MAX_CAST_OPENING, page=True),
    Setting("cast_size", int, CAST_SIZE, "Keep the cast: the opening ends early once the story has this many names "
            "(0: no limit).", "cast-size", 0, MAX_CAST_SIZE, page=True),
    Setting("stray_capitals", float, STRAY_CAPITALS, "No stray capitals: inside a sentence, a word that opens sentences "
            "written with its capital (\"and The\") keeps this share of its chance, the rest going to the word in lower "
            "case (0: always lower case, 1: off); \"I\", names, titles, months and days keep theirs (a model that records "
            "no capitals: off).", "stray-capitals", 0.0, 1.0, page=True),
    Setting("real_words", float, REAL_WORDS, "Keep words real: a word the model's training text does not have (an "
            "invented word) is this many times as likely (0: never, 1: off; a model that records no words: off).",
            "real-words", 0.0, 1.0, page=True),
    Setting("double_words", float, DOUBLE_WORDS, "No doubled words: a word written again right after itself (\"the the\") "
            "is this many times as likely (0: never, 1: off); sounds and \"very very\" stay free.", "double-words", 0.0, 1.0,
            page=True),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
PAGE_SETTINGS: tuple[str, ...] = tuple(setting.name for setting in SETTINGS if setting.page)  # what the explorer's page sets
CARRIED: tuple[str, ...] = tuple(setting.name for setting in SETTINGS if setting.carried)  # what a textgen.json may set


def check(name: str, value, rule: bool = False):
    """`value` checked against setting `name` (see `Setting.check`)."""
    return BY_NAME[name].check(value, rule)
