"""A fresh, independently written test set for textgen.diagnostics.diagnose_story.

Each case is (text, expected kinds). Texts are short children's-story snippets,
written from the specification of the four kinds only (self-object,
immediate-repeat, phrase-loop, repeated-sentence). Clean texts are near-misses
that a careful reader would not flag. Ambiguous texts were left out on purpose.
"""

from __future__ import annotations

SO = "self-object"
IR = "immediate-repeat"
PL = "phrase-loop"
RS = "repeated-sentence"

CASES: list[tuple[str, set[str]]] = [
    # ------------------------------------------------------------------
    # self-object: positives
    # ------------------------------------------------------------------
    ("Mark saw Mark at the lake.", {SO}),
    ("One day, Lily hugged Lily and laughed.", {SO}),  # time opener before the clause
    ("The cat chased the cat around the yard.", {SO}),  # common noun with "the"
    ("Aunt May called Aunt May on the phone.", {SO}),  # two-word name
    ("Mr. Fox was chasing Mr. Fox through the dark woods.", {SO}),  # title with a period; progressive verb
    ("Tim did not see Tim behind the tree.", {SO}),  # helper verb + negation
    ("The little red hen helped the little red hen carry the wheat.", {SO}),  # adjectives in both noun phrases
    ("Every night, Sam kissed Sam goodnight.", {SO}),
    ("Ben quickly pushed Ben into the pond.", {SO}),  # adverb between subject and verb
    ("The puppy licked the puppy all over.", {SO}),
    ("Mia went to the store.\nThen Mia found Mia by the door.", {SO}),  # second line, opener "Then"
    ("The bunny will help the bunny find the carrot.", {SO}),  # future tense
    ("The teacher is teaching the teacher a new song.", {SO}),  # present progressive
    ("Captain Bob saved Captain Bob from the big storm.", {SO}),  # title + name
    ("Sara gave Sara a big hug.", {SO}),  # indirect object; should be "herself"
    # Tricky: second clause of an "and" coordination has an elided subject (Lucy).
    ("Lucy ran home and hugged Lucy.", {SO}),
    ("The old owl asked the old owl a question.", {SO}),
    ("Max and Ruby played all day. Max tickled Max until he giggled.", {SO}),  # earlier compound subject is fine
    ('Kate told Kate, "You can do it!"', {SO}),  # dialogue follows the clause
    ("Every morning, Miss Rose woke Miss Rose up early.", {SO}),  # phrasal verb "woke ... up"
    ("The tired bear has found the tired bear in the cave.", {SO}),  # present perfect
    # ------------------------------------------------------------------
    # self-object: clean near-misses
    # ------------------------------------------------------------------
    ("Mark saw himself in the shiny window.", set()),  # reflexive
    ("The dog saw a dog in the pond.", set()),  # "the" vs "a": different referents
    ("The big dog chased the little dog.", set()),  # different adjectives: different dogs
    ("He saw him at the park.", set()),  # pronoun subject: out of scope
    ("She hugged her tight.", set()),  # pronoun subject: out of scope
    ("Lily hugged her mom, and her mom hugged Lily.", set()),  # Lily is object of another clause
    ("Tom saw Sam, and Sam saw Tom.", set()),
    ("One cat chased the other cat up a tree.", set()),
    ("Mr. Fox met Mrs. Fox by the old tree.", set()),  # same surname, different titles
    ("Aunt May hugged Aunt Sue at the door.", set()),  # same title, different names
    ("The dog ran into the dog house.", set()),  # "dog" is a noun modifier in "dog house"
    ("Tom's dad saw Tom at the window.", set()),  # subject is "Tom's dad", not Tom
    ("Lucy looked at herself, and Lucy smiled.", set()),  # repeated subject, no object
    ("The green frog met a brown frog on a log.", set()),
    ("Sam gave Tom a hug, and Tom gave Sam a hug.", set()),
    ("The cat saw the dog, and the dog saw the cat.", set()),
    ("Ben was happy. Ben played with his red ball.", set()),  # name repeated across sentences as subject
    ("The mother duck called the baby duck.", set()),
    ('Kate told herself, "You can do it!"', set()),
    ("They saw them by the river.", set()),  # pronouns
    ("Tom's dog licked Tom on the nose.", set()),
    # ------------------------------------------------------------------
    # immediate-repeat: positives
    # ------------------------------------------------------------------
    ("The the cat sat on the mat.", {IR}),  # sentence-initial, differing case
    ("She went to to the park with her dad.", {IR}),
    ("Tom was very happy and and he ran home.", {IR}),
    ("One day, a little girl named Rosa found a a shiny red ball.", {IR}),
    ("Ben wanted to play with his his new truck.", {IR}),
    ("The bird flew up into the the blue sky.", {IR}),
    ('"Can I have have a cookie?" asked Sue.', {IR}),  # inside dialogue
    ('"Please give me the ball," said said Max.', {IR}),  # after the closing quote
    ("Mr. Owl looked at at the stars every night.", {IR}),
    ("Every night, Grandma read a story to to the kids.", {IR}),
    ("The boy is is playing with the puppy.", {IR}),
    ("They were so happy that they they danced.", {IR}),
    ("The sun was hot.\nThe kids went went to the beach.", {IR}),  # on the second line
    ("Sam could not find find his shoe.", {IR}),
    ("The little red hen was baking bread with with her chicks.", {IR}),
    # Tricky: the repeat straddles a line break, with no punctuation between.
    ("The dog ran to the\nthe park.", {IR}),
    ("Lily and her mom baked cookies. The cookies were were yummy.", {IR}),
    ("The The fox ran into the woods.", {IR}),
    ("Aunt May will will come tomorrow.", {IR}),
    # ------------------------------------------------------------------
    # immediate-repeat: clean near-misses
    # ------------------------------------------------------------------
    ("Tom had had enough of the rain.", set()),  # grammatical "had had"
    ("She knew that that was her ball.", set()),  # grammatical "that that"
    ('"Whatever happens happens," said Dad.', set()),  # grammatical double
    ("Grandpa had had a long day, so he took a nap.", set()),
    ('"Ha ha!" laughed the clown.', set()),  # sound word
    ("Knock knock! Who is at the door?", set()),  # sound word
    ("The train went choo choo down the track.", set()),
    ("The drum went boom boom.", set()),
    ("The bee went buzz buzz around the flowers.", set()),
    ('The puppy barked, "Woof woof!"', set()),
    ("The bell went ding ding.", set()),
    ("The little chick said peep peep.", set()),
    ('The owl said, "Hoo hoo!"', set()),
    ("Ben waved bye bye to his friends.", set()),  # baby-talk double
    ('Dad said, "Night night, sweetie."', set()),  # set phrase
    ("It was a very very big cake.", set()),  # intensifier
    ("There were many many stars in the sky.", set()),  # intensifier
    ('"Go, go!" shouted the kids.', set()),  # separated by a comma
    ('"No, no, no," said Mom.', set()),  # separated by commas
    ('"Mommy! Mommy!" cried the girl.', set()),  # separated by "!"
    ("The ball went bounce, bounce, bounce.", set()),
    ("Dan ran home. Home was warm and cozy.", set()),  # separated by a sentence end
    # ------------------------------------------------------------------
    # phrase-loop: positives
    # ------------------------------------------------------------------
    ("Then they danced and they danced and they danced all night.", {PL}),  # unit "and they danced"
    ("Lily wanted the red kite the red kite.", {PL}),
    ("The dog ran to the park to the park to the park.", {PL}),
    ("One day, Sam went to the store went to the store.", {PL}),
    ("The bird sang a song a song in the tall tree.", {PL}),
    ("Mia looked at the moon at the moon and smiled.", {PL}),
    ("He was so happy so happy that he jumped.", {PL}),
    ("Mr. Bear said hello to his friend said hello to his friend.", {PL}),  # long unit
    ("They were playing with the ball playing with the ball in the yard.", {PL}),
    ("The little red hen found a seed found a seed.", {PL}),
    ("Aunt May baked a pie baked a pie for the party.", {PL}),
    ("Every morning the sun came up the sun came up over the hill.", {PL}),
    ("Tim did not know what to do what to do.", {PL}),
    ('"Let\'s go to the beach to the beach!" said Ben.', {PL}),  # inside dialogue
    ("The cat sat on the mat on the mat on the mat.", {PL}),
    ("Once upon a time there was a boy.\nHe liked to run in the grass in the grass.", {PL}),
    ("She gave the toy to her brother to her brother.", {PL}),
    ("The fish swam in the big blue sea in the big blue sea.", {PL}),
    # Tricky: "laughed and laughed" is fine; the loop is "they went home they went home".
    ("The kids laughed and laughed and then they went home they went home.", {PL}),
    # ------------------------------------------------------------------
    # phrase-loop: clean near-misses
    # ------------------------------------------------------------------
    ("The balloon got bigger and bigger.", set()),  # reduplication with "and"
    ("Tom ran and ran until he was home.", set()),
    ("She waited and waited and waited for the bus.", set()),  # triple reduplication with "and"
    ("The car went faster and faster down the hill.", set()),
    ("The wind blew more and more.", set()),
    ("They talked on and on about the trip.", set()),
    ("Ben tried again and again to climb the tree.", set()),
    ("Round and round went the wheel.", set()),
    ("Over and over, the bird sang its song.", set()),
    ("They walked hand in hand to school.", set()),  # idiom
    ("The two friends sat side by side on the bench.", set()),  # idiom
    ("The mouse stayed as still as still.", set()),  # idiom
    ("Day by day, the little plant grew taller.", set()),
    ("The ducks walked one by one into the pond.", set()),
    ("Little by little, the snow melted.", set()),
    ("Step by step, they climbed the hill.", set()),
    ('"Come in, come in!" said Grandma.', set()),  # comma-separated short repeat
    ('"Thank you, thank you!" said Lily.', set()),  # comma-separated short repeat
    ("The mouse ran up and down, up and down the stairs.", set()),  # comma-separated short repeat
    ("Row, row, row your boat, gently down the stream.", set()),  # song, commas
    ('"Please, please, please let me go!" begged Sue.', set()),  # single word with commas
    ("Ben and Tom played. Ben and Tom laughed.", set()),  # repeat across sentences, not a loop
    ("The dog ran to the park and the cat ran to the park too.", set()),  # not back to back
    ("They ran out of the house and out of the yard.", set()),  # "out of the" not back to back
    ("The fox ran, the fox jumped, the fox hid.", set()),  # parallel clauses
    # ------------------------------------------------------------------
    # repeated-sentence: positives
    # ------------------------------------------------------------------
    ("Tom went to the park. He saw a dog. Tom went to the park.", {RS}),
    ("The sun was hot. The sun was hot.", {RS}),
    ("Lily liked the red ball. She played all day. lily  liked the red ball.", {RS}),  # case and spacing differ
    ("One day, Ben found a box. He opened it. One day, Ben found a box.", {RS}),
    ('"I am hungry," said the bear. Mom gave him honey. "I am hungry," said the bear.', {RS}),  # dialogue
    ("The cat was sleepy.\nThe cat was sleepy.\nIt went to bed.", {RS}),  # newline-separated
    ("Mr. Fox ran into the woods. Mr. Fox ran into the woods.", {RS}),  # title period must not break it
    ("Aunt May baked a cake. Everyone ate it. Aunt May baked a cake. It was yummy.", {RS}),
    ("They were happy. They played together. They were happy.", {RS}),  # exactly 3 words
    ("Every night, the owl hooted. Every night, the owl hooted.", {RS}),
    ("Where is my hat? Sam looked under the bed. Where is my hat?", {RS}),  # question
    ("What a big dog! The kids laughed. What a big dog!", {RS}),  # exclamation
    ("The little red hen planted seeds. The little red hen planted seeds. Then she waited.", {RS}),
    ("Mia did not see the bird. She looked up. Mia did not see the bird.", {RS}),
    ("The boat was sailing on the lake. The boat was sailing on the lake.", {RS}),
    ("Grandpa told a story.  Grandpa   told a story.", {RS}),  # extra spaces
    # ------------------------------------------------------------------
    # repeated-sentence: clean near-misses
    # ------------------------------------------------------------------
    ("Tom went to the park. Tom went to the store.", set()),
    ("Tom ran. Tom ran.", set()),  # only two words: below the 3-word threshold
    ("Lily was happy. Lily was very happy.", set()),
    ("The cat sat on the mat. The dog sat on the mat.", set()),
    ("Every day, Sam played with his ball. Every day, Sam played with his kite.", set()),
    ("She was sad. He was sad.", set()),
    ("Mr. Fox ran home. Mrs. Fox ran home.", set()),
    ('"Yes!" said Ann. "Yes!" said Ben.', set()),
    ("The dog barked at the cat. Then the dog barked at the bird.", set()),
    ("One day, Max went out. The next day, Max went out again.", set()),
    # ------------------------------------------------------------------
    # mixed: two kinds in one text
    # ------------------------------------------------------------------
    ("The the dog licked the dog.", {SO, IR}),
    ("Tom went home. Tom went home. He sat on on the chair.", {RS, IR}),
    ("Lily hugged Lily. Lily hugged Lily.", {SO, RS}),
    ("The kids sang a song a song. Then they went to to bed.", {PL, IR}),
    ("The fox ran to the den to the den. The fox ran to the den to the den.", {PL, RS}),
]
