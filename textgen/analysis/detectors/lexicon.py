"""Word lists, patterns and word classes the detectors share (what counts as a name, a verb, an adverb)."""

from __future__ import annotations

import re


KINDS = ("self-object", "immediate-repeat", "phrase-loop", "repeated-sentence")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters of any script: "Zoë", "José"
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*[\"”’]?")
CLAUSE_BREAK = re.compile(r"[,;:\"“”()—–]|--|\b(?:and|but|then|so|because|when|while)\b", re.IGNORECASE)
DETERMINERS = {"the", "his", "her", "their", "my", "your", "its", "our", "this", "that"}
NEW_REFERENT = {"a", "an", "another", "other", "some", "one", "two", "three", "many", "every", "each", "no"}
PREPOSITIONS = {"at", "with", "to", "for", "on", "after", "about", "like", "near", "behind", "under", "into"}
NOT_VERBS = DETERMINERS | NEW_REFERENT | PREPOSITIONS | {"and", "or", "was", "were", "is", "are", "not", "very", "too", "so"}
REFLEXIVES = {"himself", "herself", "itself", "themselves", "myself", "yourself", "ourselves"}
PRONOUNS = {"he", "she", "it", "they", "i", "you", "we", "him", "them", "me", "us"}
GRAMMATICAL_DOUBLES = {"had", "that"}
# sounds, cheers and baby talk are written doubled on purpose
SOUND_DOUBLES = {"twinkle", "hooray", "hurray", "tock", "dong", "ding", "ha", "ho", "hee", "la", "bye", "yum", "knock", "choo", "no", "yes", "tick", "boo", "woof", "meow",
                 "quack", "moo", "oink", "tweet", "chirp", "beep", "hip", "boom", "buzz", "toot", "honk", "baa",
                 "zoom", "vroom", "splash", "tap", "clap", "bang", "pop", "peep", "drip", "puff", "chug", "ring", "cuckoo",
                 "tut", "night", "bow", "wow", "hoo", "wee", "yay", "zip", "bzz", "ah", "oh", "uh", "mm", "hmm", "shh", "sh",
                 "tra", "fa", "da", "na", "pom", "rat", "tat", "cha", "clip", "clop", "flip", "flop", "pitter", "patter",
                 "tum", "rub", "dub", "boing", "cluck", "ribbit", "hiss", "roar", "grr", "caw", "coo", "hoot",
                 "neigh", "bleat", "mew", "purr", "squeak", "whoosh", "swish", "thump", "bump", "plop", "ting", "dum",
                 "tweedle", "doo", "bam", "pow", "wham", "bonk", "ooh", "aah", "wah"}
# "whoever wins wins", "the kids who sang sang", "what it is is": the double is grammatical after these
# "very very", "many many": intensifiers
INTENSIFIERS = {"very", "many", "much", "long", "far", "so", "really"}
IDIOM_NOUNS = {"hand", "side", "day", "face", "one", "little", "step", "arm", "cheek", "heart", "head", "back", "eye", "year",
               "night", "time", "bit", "row", "nose", "toe", "shoulder", "house", "door", "room", "tree", "word", "drop", "inch"}
IDIOM_LINKS = {"in", "by", "to", "after", "upon", "for", "on"}
DOUBLE_OPENERS = {"who", "whoever", "whatever", "whichever", "what", "whom"}
# words after an object that still end the noun phrase (otherwise "the duck pond": duck is a modifier)
TITLE_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Prof|Mt)\.\s*$")
SPEECH_END = re.compile(r"[!?,][\"”’]\s*$")
HELPERS = {"is", "was", "were", "are", "am", "be", "been", "being", "has", "have", "had", "do", "does", "did", "will", "would",
           "can", "could", "should", "shall", "must", "may", "might", "not", "never", "didn't", "don't", "doesn't", "won't",
           "can't", "couldn't", "wasn't", "isn't"}
BE_FORMS = {"is", "was", "were", "are", "am", "be", "been", "being", "isn't", "wasn't"}
OBJECT_DETERMINERS = {"the", "his", "her", "their", "my", "your", "its", "our"}  # not "that": "lies that way" is another way
ADVERBS = {"also", "always", "just", "still", "soon", "often", "even", "almost", "quickly", "then", "really", "once", "again"}
LY_ADJECTIVES = {"lonely", "silly", "friendly", "ugly", "lovely", "jolly", "curly", "holy", "early", "only", "family", "sally",
                 "lily", "molly", "polly", "holly", "billy", "emily", "kelly", "belly", "jelly", "fly", "reply", "apply"}
PARTICLES = {"home", "away", "along", "up", "down", "out", "back", "over", "around", "off", "in", "into", "onto", "from", "by", "past", "toward", "towards"}
NOT_NAMES_FIRST = {"once", "one", "then", "there", "when", "the", "a", "an", "suddenly", "later", "soon", "next", "finally", "now",
                   "today", "yesterday", "after", "before", "but", "and", "so", "oh", "yes", "no", "hello", "hi", "please",
                   "look", "come", "let", "go", "what", "where", "why", "how", "who", "if"}
# after these verbs the object is followed by a verb ("The dog saw the dog run"), not a second noun
VERBS_WITH_CLAUSE = {"let", "lets", "make", "makes", "made", "help", "helps", "helped", "watch", "watches", "watched", "see",
                     "sees", "saw", "hear", "hears", "heard", "feel", "felt", "have", "had", "bid", "want", "wanted", "asked",
                     "told", "taught", "needed", "let's"}
TIME_WORDS = {"yesterday", "today", "tonight", "tomorrow", "again", "too", "now", "then", "later", "soon", "first", "last",
              "instead", "anyway", "already", "still", "together", "alone", "well", "hard", "fast", "home"}
# "Lily thought Lily could do it": after these the second name starts a clause of its own
COMPLEMENT_VERBS = {"knew", "know", "knows", "thought", "think", "thinks", "hoped", "hope", "hopes", "said", "say", "says",
                    "wished", "wish", "believed", "believe", "guessed", "guess", "decided", "felt", "remembered", "forgot",
                    "realized", "noticed", "dreamed", "dreamt", "pretended", "promised"}
FUNCTION_WORDS = PRONOUNS | HELPERS | {"and", "or", "but", "so", "not", "to", "of", "as", "if", "than", "next", "first", "last", "same",
                                        "other", "one", "rest"}
# a clause may open with a time phrase before its subject ("Every morning the puppy licked the puppy.")
LEAD_IN = re.compile(r"\s*(?:(?:suddenly|later|soon|next|finally|now|today|yesterday|meanwhile|afterwards|at last)\b"
                     r"|(?:every|each|one|next|that|this|the next|later that)\s+(?:day|morning|night|evening|afternoon|week|time"
                     r"|summer|winter|spring|autumn|fall)\b|(?:in|on) the (?:morning|evening|afternoon|end|way home)\b)",
                     re.IGNORECASE)
PHRASE_ENDS = DETERMINERS | NEW_REFERENT | PREPOSITIONS | {"in", "around", "all", "again", "and", "but", "then", "so", "because", "when", "while", "very",
                              "too", "today", "every", "there", "here", "back", "away", "up", "down", "out", "off", "over",
                              "by", "from", "of", "until", "before", "as", "once"}


def is_name(word: str, first_in_clause: bool) -> bool:
    base = re.split(r"['’]", word.lower())[0]  # "I'm", "She's": a pronoun, not a name
    return word[0].isupper() and base not in PRONOUNS | DETERMINERS | NEW_REFERENT and not (
        first_in_clause and word.lower() in NOT_NAMES_FIRST | PHRASE_ENDS | HELPERS | NOT_VERBS)


def verb_like(word: str, subject: tuple[str, ...]) -> bool:
    lowered = word.lower()
    return word[:1].islower() and lowered not in NOT_VERBS | PRONOUNS | PHRASE_ENDS | HELPERS and lowered not in subject


def is_adverb(word: str) -> bool:
    return word in ADVERBS or (len(word) > 4 and word.endswith("ly") and word not in LY_ADJECTIVES)


def name_run(words: list[tuple[str, int, int]], index: int, first: bool) -> int:
    """How many capitalised words from `index` form one name ("Mr Brown", "Aunt Rose"), at most 3."""
    size = 0
    while index + size < len(words) and size < 3 and is_name(words[index + size][0], first and size == 0):
        size += 1
    return size
