"""A detector's finding: its kind, span, sentence, explanation and the word that makes the repetition."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from textgen.analysis.detectors.lexicon import WORD


@dataclass
class Finding:
    kind: str
    start: int  # character offsets in the story text
    end: int
    text: str
    sentence: str
    explanation: str
    # the word that makes the repetition (the object, the second word, the first word of the
    # first repeat): where attribution asks what the model thought
    word_start: int = -1
    word_end: int = -1

    def __post_init__(self) -> None:
        if self.word_start < 0:  # the first word of the span
            match = WORD.search(self.text)
            self.word_start, self.word_end = ((self.start + match.start(), self.start + match.end()) if match
                                              else (self.start, self.end))

    @property
    def word(self) -> str:
        return self.text[self.word_start - self.start: self.word_end - self.start]

    def to_dict(self) -> dict:
        return {**asdict(self), "word": self.word}
