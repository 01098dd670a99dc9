"""Held-out cases for ``textgen.diagnostics.diagnose_story``.

Written independently of ``textgen/diagnostics.py`` and
``tests/diagnostics_cases.py``, from the kind specifications alone:

- ``self-object``: the subject of a clause comes back as its object
  ("Doug saw Doug."); names and nouns; reflexives, different referents
  and pronouns are not findings.
- ``immediate-repeat``: a word repeated at once ("the the"); grammatical
  doubles ("had had", "that that"), deliberate sound words ("ha ha",
  "choo choo") and repeats separated by punctuation ("Go, go!") are not.
- ``phrase-loop``: a phrase of two or more words repeated back to back
  within a sentence; and/or reduplications ("bigger and bigger",
  "ran and ran") are not.
- ``repeated-sentence``: a sentence of 3+ words that repeats, ignoring
  case and spacing, an earlier sentence of the same story.

Each entry is ``(text, expected_kinds)``.  Cases a careful reader might
label either way were left out on purpose (e.g. intensifiers such as
"very very", "big big", comma-separated phrase repeats such as
"to the door, to the door").
"""

from __future__ import annotations

SELF = "self-object"
IMM = "immediate-repeat"
LOOP = "phrase-loop"
REP = "repeated-sentence"

CASES: list[tuple[str, set[str]]] = [
    # ------------------------------------------------------------------
    # self-object: positives
    # ------------------------------------------------------------------
    ("Doug saw Doug at the park.", {SELF}),
    ("Lily hugged Lily and laughed.", {SELF}),
    ("The kitten chased the kitten under the bed.", {SELF}),
    # progressive auxiliary between subject and verb
    ("Max is watching Max from the window.", {SELF}),
    # modal auxiliary
    ("Sam will help Sam with the heavy box.", {SELF}),
    # the self-object is in the second clause of the sentence
    ("Grandma baked a pie, and then Grandma kissed Grandma on the cheek.", {SELF}),
    # adjective inside both noun phrases
    ("The little bunny followed the little bunny into the woods.", {SELF}),
    # indirect object of a ditransitive verb
    ("Jack gave Jack a big cookie.", {SELF}),
    # object of a prepositional verb ("smile at")
    ("Zoe smiled at Zoe in the mirror.", {SELF}),
    # adverb between subject and verb
    ("Leo quickly thanked Leo.", {SELF}),
    # negated verb with do-support
    ("The frog did not see the frog.", {SELF}),
    # after a line of dialogue
    ("\u201cThat was fun!\u201d said Rosa. Then Rosa hugged Rosa.", {SELF}),
    # second sentence of a story; the first has a coordinated subject
    ("Nina and Tom went to the park. Nina pushed Nina on the swing.", {SELF}),
    # main clause after a fronted subordinate clause
    ("When Pip woke up, Pip washed Pip.", {SELF}),
    # subject shared by two coordinated verbs
    ("Ava woke up and hugged Ava.", {SELF}),
    # title abbreviation with a full stop must not split the sentence
    ("Mr. Brown fed Mr. Brown.", {SELF}),
    # perfect tense, ditransitive, adjective
    ("The old owl has asked the old owl a riddle.", {SELF}),
    ("Ollie found Ollie behind the couch.", {SELF}),
    # two-word noun
    ("The teddy bear tickled the teddy bear.", {SELF}),
    # fronted time adverbial
    ("Every morning the puppy licked the puppy.", {SELF}),
    ("Kate called Kate on the phone, but nobody answered.", {SELF}),

    # ------------------------------------------------------------------
    # self-object: clean near-misses
    # ------------------------------------------------------------------
    # reflexive pronoun is the correct form
    ("Doug saw himself in the puddle.", set()),
    # reflexive with a noun subject
    ("The cat licked itself clean.", set()),
    # reciprocal, not a repeated name
    ("Lily and Rose hugged each other.", set()),
    # indefinite object: a different dog
    ("The dog saw a dog across the street.", set()),
    # "other" marks a different referent
    ("The puppy played with the other puppy.", set()),
    # "another" marks a different person with the same name
    ("Tom met another Tom at school.", set()),
    # both names appear twice, but never as subject and object of one clause
    ("Kim waved at Joe and Joe waved at Kim.", set()),
    ("The cat saw the mouse, and the mouse saw the cat.", set()),
    # possessive: the object is the shoe, not Ben (awkward but not self-object)
    ("Ben found Ben's shoe under the bed.", set()),
    # possessive with a common noun: the object is the ball
    ("The dog chased the dog's ball.", set()),
    # compound noun: "cat food" is not the cat
    ("The cat sniffed the cat food.", set()),
    # compound noun after a preposition
    ("The hen sat in the hen house.", set()),
    # same surname, different people (and abbreviations with full stops)
    ("Mr. Fox saw Mrs. Fox.", set()),
    # the name comes back inside a quotation, not as an object
    ("\u201cMy name is Sara,\u201d said Sara.", set()),
    # subject repeated in a second clause, no object
    ("Mia was happy, so Mia sang.", set()),
    # copula complement, not an object (deliberate "still himself")
    ("After the long trip, Grandpa was still Grandpa.", set()),
    # object is "his dog"; "Pete" is the name given to the dog
    ("Pete named his dog Pete.", set()),
    # pronouns are out of scope
    ("She hugged her.", set()),
    ("Mom made lunch for Dad, and Dad made dinner for Mom.", set()),
    # object of one sentence is the subject of the next
    ("Jake waited for Ella. Ella hugged Jake.", set()),
    # object at the end of one sentence, same name starts the next
    # (also an immediate-repeat near-miss across a full stop)
    ("Everyone cheered for Ava. Ava bowed.", set()),
    # different adjectives: two different dogs
    ("The big dog chased the little dog.", set()),
    # "Dad" is the object of "told" and subject of the embedded clause;
    # the main subject is Tim
    ("Tim told Dad that Dad was silly.", set()),

    # ------------------------------------------------------------------
    # immediate-repeat: positives
    # ------------------------------------------------------------------
    ("The dog ran to the the park.", {IMM}),
    ("She went to to the lake with Dad.", {IMM}),
    ("Tom and and Sue played ball.", {IMM}),
    ("The cat is is sleeping on the mat.", {IMM}),
    ("Lily saw a a bird in the tree.", {IMM}),
    # repeat differs only in case
    ("The bunny hopped into the The garden.", {IMM}),
    # inside a dialogue tag
    ("\u201cCome here,\u201d said said Mom.", {IMM}),
    ("Grandpa read a story to the kids kids.", {IMM}),
    ("The frog jumped in in the pond.", {IMM}),
    # second sentence, verb doubled
    ("Nina had a red kite. It flew flew high in the sky.", {IMM}),
    ("They were were so happy at the fair.", {IMM}),
    ("Max wanted to to play outside.", {IMM}),
    # doubled word at the end of the sentence
    ("Ella found her shoe under the bed bed.", {IMM}),
    # doubled modal
    ("The little fox could could not sleep.", {IMM}),
    ("Once upon a time there was a girl girl named Pia.", {IMM}),
    # doubled word at the very start of the text
    ("The the sun came up over the hill.", {IMM}),
    # doubled name
    ("Then Sam Sam ran home.", {IMM}),
    # repeat split by a line break, no punctuation in between
    ("The cat sat on the\nthe soft rug.", {IMM}),
    # inside a quotation
    ("Dad said, \u201cWe will go to the zoo zoo today.\u201d", {IMM}),

    # ------------------------------------------------------------------
    # immediate-repeat: clean near-misses
    # ------------------------------------------------------------------
    # separated by a comma
    ("\u201cGo, go!\u201d shouted Tim.", set()),
    ("\u201cNo, no, no,\u201d said Mom with a smile.", set()),
    # sound words
    ("\u201cHa ha!\u201d laughed the clown.", set()),
    ("\u201cKnock knock,\u201d said Ella. \u201cWho is there?\u201d asked Dad.", set()),
    ("The train went choo choo down the track.", set()),
    ("The little car went beep beep.", set()),
    ("\u201cWoof woof!\u201d barked the puppy.", set()),
    # fixed cheer, deliberate
    ("Hip hip hooray for Jen!", set()),
    # grammatical doubles
    ("She had had a long day at school.", set()),
    ("Dad said that that hat was too big.", set()),
    # "whoever wins" is the subject of "wins": grammatical
    ("Whoever wins wins a gold star.", set()),
    # same word across a sentence boundary
    ("Mia looked up. Up in the sky was a kite.", set()),
    # same word across two quotations
    ("\u201cCome in,\u201d said Nan. \u201cIn here?\u201d asked Ben.", set()),
    # comma-separated intensifier
    ("The fish swam in the deep, deep sea.", set()),
    # hyphenated word
    ("\u201cBye-bye!\u201d said the baby.", set()),
    # vocative repeated with commas
    ("\u201cTom, Tom, come home!\u201d called Mom.", set()),
    # sound word separated by commas
    ("The bee went buzz, buzz, buzz.", set()),
    # separated by exclamation marks
    ("Bang! Bang! went the big drum.", set()),

    # ------------------------------------------------------------------
    # phrase-loop: positives
    # ------------------------------------------------------------------
    # three-word phrase, three times
    ("The dog ran to the park to the park to the park.", {LOOP}),
    # clause repeated three times
    ("Tom said he was sorry he was sorry he was sorry.", {LOOP}),
    ("The bird sang in the tree in the tree.", {LOOP}),
    # verb phrase repeated in mid sentence
    ("Mia went to the store went to the store and bought milk.", {LOOP}),
    ("The cat jumped over the fence over the fence.", {LOOP}),
    ("Sam looked for his shoe looked for his shoe all day.", {LOOP}),
    ("They were happy they were happy together.", {LOOP}),
    # noun phrase at the start of the sentence
    ("The big red ball the big red ball rolled away.", {LOOP}),
    ("Grandma baked a cake baked a cake for Ben.", {LOOP}),
    ("It was a sunny day a sunny day in the forest.", {LOOP}),
    ("The fox ran into the woods into the woods into the woods.", {LOOP}),
    # story opener doubled
    ("Once upon a time once upon a time there was a frog.", {LOOP}),
    ("The kids played with the toys with the toys and laughed.", {LOOP}),
    ("Every night the owl hooted at the moon at the moon.", {LOOP}),
    # "and she opened the box" repeated back to back (the spec's
    # "and they played and they played" pattern, not a one-word
    # reduplication like "ran and ran")
    ("Jen opened the box and she opened the box and she opened the box.", {LOOP}),
    # inside a quotation
    ("\u201cPlease give me the blue cup the blue cup,\u201d said Kim.", {LOOP}),
    # the spec's pattern with a different ending
    ("They played and they played and they played until dark.", {LOOP}),
    ("The boat sailed far away far away far away.", {LOOP}),

    # ------------------------------------------------------------------
    # phrase-loop: clean near-misses
    # ------------------------------------------------------------------
    # and-reduplications
    ("The balloon got bigger and bigger.", set()),
    ("The kids ran and ran.", set()),
    ("Round and round went the little wheel.", set()),
    # longer chain: contains "walked and walked and" but is storytelling
    ("Leo walked and walked and walked.", set()),
    ("The wind blew harder and harder and harder.", set()),
    ("Should Kim stay or go? She thought and thought.", set()),
    # repeated phrase, not back to back
    ("Up the hill and down the hill went Jack.", set()),
    # parallel clauses
    ("The cat sat on the mat, and the dog sat on the rug.", set()),
    # "left and right" twice, with "then" in between
    ("She looked left and right, then left and right again.", set()),
    ("Again and again, the waves hit the sand.", set()),
    # "ate its food" twice, not back to back
    ("The dog ate its food and the cat ate its food.", set()),
    # "in the" twice with different nouns
    ("In the morning, in the garden, Ben found a worm.", set()),
    # "to the park" repeated across a sentence boundary
    ("Let's go to the park. To the park we went!", set()),
    # word-preposition-word idioms
    ("Hand in hand, the friends walked home.", set()),
    ("Step by step, Tom climbed the big hill.", set()),
    # comma-separated single word
    ("Far, far away lived a kind king.", set()),
    ("Over and over, Mia sang the song.", set()),
    # "the clock" twice, separated by ", and"
    ("The mouse ran up the clock, and the clock rang.", set()),

    # ------------------------------------------------------------------
    # repeated-sentence: positives
    # ------------------------------------------------------------------
    ("The sun was hot. Tom went to the beach. The sun was hot.", {REP}),
    ("Lily found a shell. She was so happy. Lily found a shell.", {REP}),
    # adjacent repeat
    ("The dog barked at the cat. The dog barked at the cat.", {REP}),
    # repeat differs in case only
    ("The bird flew away. The cat sat down. the bird flew away.", {REP}),
    # repeat differs in spacing only
    ("Max ate his lunch. Max  ate  his   lunch.", {REP}),
    # repeated line of dialogue with its tag
    ("\u201cWhere is my hat?\u201d asked Sam. Mom looked under the bed. "
     "\u201cWhere is my hat?\u201d asked Sam.", {REP}),
    # sentence with an inner comma
    ("Once upon a time, there was a frog. The frog liked to sing. "
     "Once upon a time, there was a frog.", {REP}),
    # exclamation
    ("We won the game! Everyone cheered. We won the game!", {REP}),
    # sentences on separate lines
    ("The moon was bright.\nThe owls hooted.\nThe moon was bright.", {REP}),
    # exactly three words
    ("Ben was sad. He cried. Ben was sad.", {REP}),
    # far apart in a four-sentence story
    ("Mia planted a seed. It rained. The seed grew. Mia planted a seed.", {REP}),
    ("They went home. They ate soup. They went to bed. They went home.", {REP}),
    ("After lunch, the kids played tag in the yard. Then it rained. "
     "After lunch, the kids played tag in the yard.", {REP}),
    # repeat right at the start of the story
    ("Grandpa told a funny story. Grandpa told a funny story. Everyone laughed.", {REP}),
    # abbreviation inside the repeated sentence
    ("Mr. Lee waved at us. We waved back. Mr. Lee waved at us.", {REP}),
    # question
    ("Can we go outside? Mom said no. Can we go outside?", {REP}),
    # repeated sentence containing a legal reduplication
    ("The fox ran and ran. The fox ran and ran.", {REP}),

    # ------------------------------------------------------------------
    # repeated-sentence: clean near-misses
    # ------------------------------------------------------------------
    # repeated sentence of only two words
    ("Oh no! The cup fell. Oh no!", set()),
    ("Run, Tom! Tom ran. Run, Tom!", set()),
    # sound-word sentence of two words
    ("Knock knock. Who is there? Knock knock.", set()),
    # one word differs
    ("The dog was happy. The cat was happy.", set()),
    ("Sam ate an apple. Then Sam ate a pear.", set()),
    ("The sun was hot. The sun was very hot.", set()),
    ("\u201cHi,\u201d said Ann. \u201cHi,\u201d said Bob.", set()),
    # second sentence extends the first
    ("Tom ran home. Tom ran home fast.", set()),
    ("The bird sang. Then the bird sang again.", set()),
    # same words, different order (also a self-object near-miss)
    ("Tom saw Sam. Sam saw Tom.", set()),
    # quoted sentence is a prefix of a later quote
    ("\u201cI am cold,\u201d said Ben. Mom said, \u201cI am cold too.\u201d", set()),

    # ------------------------------------------------------------------
    # several kinds at once
    # ------------------------------------------------------------------
    ("Tom saw Tom. Tom saw Tom.", {SELF, REP}),
    ("The cat cat ran to the barn to the barn.", {IMM, LOOP}),
    ("Lily hugged Lily. Then she went to to bed.", {SELF, IMM}),
    ("The duck swam in the pond in the pond. The duck swam in the pond in the pond.",
     {LOOP, REP}),
]
