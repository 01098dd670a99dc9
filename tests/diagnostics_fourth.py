"""A fourth, independently written test set for textgen.diagnostics.diagnose_story.

Each case is (story text, set of finding kinds the text contains).  The texts
imitate simple children's stories and the slightly broken output of small
story language models.  Written without looking at the detector or the other
diagnostics case files; every label is what a careful reader would give.
Comments mark the tricky ones.
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
    ("Pip picked up Pip and ran home.", {SO}),  # verb + particle
    ("Mia looked at Mia in the pond.", {SO}),  # prepositional verb
    ("Sam gave Sam a big hug.", {SO}),  # indirect object
    ("Anna told Anna a story before bed.", {SO}),  # indirect object
    ("Mia's mom hugged Mia's mom.", {SO}),  # possessive subject
    ("The dogs chased the dogs around the yard.", {SO}),  # plural
    ("One day Bo went to the park. Bo saw Bo by the slide.", {SO}),  # second sentence
    ('Mia shouted, "Look! The cat is chasing the cat!"', {SO}),  # inside quotes
    ("Max was hugging Max all morning.", {SO}),  # past progressive
    ("Zoe will wash Zoe in the tub.", {SO}),  # future
    ("The bird pecked the bird on the head.", {SO}),
    ("Ben quickly tickled Ben and laughed.", {SO}),  # adverb between
    ("Lily did not like Lily at all.", {SO}),  # negation
    ("Sam ran to the big tree and Sam hugged Sam.", {SO}),  # second clause
    ("The little bear was sad.\n\nThe little bear hugged the little bear.", {SO}),  # adjectives
    ("Once upon a time, there was a frog. The frog helped the frog out of the mud.", {SO}),
    ("Tom put Tom to bed early.", {SO}),
    ("Dad made Dad a cup of tea.", {SO}),  # indirect object, kin name
    ("The puppies licked the puppies and wagged their tails.", {SO}),
    ("Kitty found Kitty a warm spot by the fire.", {SO}),  # indirect object
    ("Pip took Pip home after school.", {SO}),
    ("Mom called Mom on the phone.", {SO}),
    # ------------------------------------------------------------------
    # self-object: clean near-misses
    # ------------------------------------------------------------------
    ("Pip saw himself in the mirror.", set()),  # reflexive
    ("The girls looked at themselves in the window.", set()),  # plural reflexive
    ("The cat met a cat at the fence.", set()),  # different referent (a cat)
    ("The red car passed the blue car.", set()),  # different referents by adjective
    ("Mia hoped Mia would get a cake.", set()),  # second Mia is a subject
    ("Sam said Sam was very hungry.", set()),  # second Sam is a subject
    ("Bo thought Bo was lost, but he was not.", set()),
    ("She hugged her and they smiled.", set()),  # pronouns: out of scope
    ("They saw them at the park.", set()),  # pronouns: out of scope
    ("Mia gave Sam a hug.", set()),
    ("Mia's mom hugged Mia.", set()),  # subject is the mom, object is Mia
    ("Mia hugged Mia's mom.", set()),  # object is the mom, not Mia
    # awkward but the object is the tail, not the cat
    ("The cat chased the cat's tail.", set()),
    ("The dog sat in the dog house.", set()),  # compound noun
    ("The cat sniffed the cat food.", set()),  # compound noun as object
    ("One duck followed another duck to the pond.", set()),
    ("Tom told Sam that Tom was sorry.", set()),  # second Tom is a subject
    ("Sam saw Tom. Tom saw Sam.", set()),
    # ------------------------------------------------------------------
    # immediate-repeat: positives
    # ------------------------------------------------------------------
    ("Mia ran ran to the park.", {IR}),  # verb
    ("Pip had a a red ball.", {IR}),  # article a
    ("The the dog barked at the mailman.", {IR}),  # capitalised first word
    ("She picked up the ball and and threw it.", {IR}),  # conjunction
    ("Sam was was very happy.", {IR}),  # auxiliary, not a grammatical double
    ('"I want a cookie cookie," said Tim.', {IR}),  # inside quotes
    ("They went in in the house.", {IR}),
    ("It was a sunny day. The kids played with with the ball.", {IR}),  # second sentence
    ("Tom looked at the the sky.", {IR}),
    ("Pip saw his his mom at the door.", {IR}),
    ("The cat sat on the mat mat.", {IR}),  # at the end of the sentence
    ("Bo went went home.", {IR}),
    ("Mia's mom mom smiled at her.", {IR}),
    ("The dogs dogs barked all night.", {IR}),
    ("We can can play now.", {IR}),
    ("Then they they ate cake.", {IR}),
    ("Once upon a time there was a bunny.\n\nThe bunny loved to eat eat carrots.", {IR}),
    ("She had two two cats.", {IR}),
    ("Is is it time for lunch?", {IR}),  # question, sentence start
    ('Mom said, "Go to your room room now."', {IR}),
    # ------------------------------------------------------------------
    # immediate-repeat: clean near-misses
    # ------------------------------------------------------------------
    ("Mom gave her her coat.", set()),  # grammatical double: her (object) her (possessive)
    ("Tom had had a long nap.", set()),  # grammatical double
    ("Mia said that that cake was hers.", set()),  # grammatical double
    # grammatical: "[what he did] did not help"
    ("What he did did not help.", set()),
    ('"Woof woof!" said the dog.', set()),  # sound word
    ("The duck said quack quack and swam away.", set()),  # sound word
    ("Beep beep went the little car.", set()),  # sound word
    ("Ding dong went the bell.", set()),  # not a repeat at all
    ('"Bye bye, Mom!" said Pip.', set()),  # lexicalised double
    ("The tree was really really tall.", set()),  # intensifier
    ("A long long time ago, there lived a king.", set()),  # story-opening intensifier
    ("The castle was far far away.", set()),  # intensifier
    ('"No, no, no!" cried Bo.', set()),  # separated by commas
    ('"Run! Run!" yelled Sam.', set()),  # separated by punctuation
    ("Pip went home. Home was warm and cozy.", set()),  # across a sentence break
    ("Pip ran and ran.", set()),
    # ------------------------------------------------------------------
    # phrase-loop: positives
    # ------------------------------------------------------------------
    ("The dog ran to the park ran to the park.", {PL}),
    ("She said hello said hello to the cat.", {PL}),
    ("Mia and Bo played in the sand played in the sand all day.", {PL}),
    ("They ate the cake they ate the cake they ate the cake.", {PL}),  # three times
    ("The bird sang a song a song in the tree.", {PL}),  # two-word phrase
    ("Sam looked at the moon looked at the moon and smiled.", {PL}),
    ("One day, Lily went to the store to the store to buy milk.", {PL}),
    ("Bo had a red ball. He threw the ball up high threw the ball up high.", {PL}),  # second sentence
    ('"Can I have a cookie can I have a cookie?" asked Mia.', {PL}),  # inside quotes, no comma
    ("The cat is my best friend my best friend.", {PL}),
    ("Mom made soup for dinner for dinner.", {PL}),
    ("The little fish swam and swam in the sea in the sea.", {PL}),  # "swam and swam" itself is fine
    ("Tom and Sam were friends. Every day they played with the ball played with the ball in the park.", {PL}),
    ("He was so happy he was so happy he was so happy.", {PL}),
    ("Once upon a time, there was a girl named Mia named Mia.", {PL}),
    ("Sam found a shell.\n\nHe put it in his bag in his bag and ran home.", {PL}),
    ("The kids laughed and the sun was hot and the sun was hot and the sun was hot.", {PL}),
    ("Pip wanted to fly a kite to fly a kite.", {PL}),
    # ------------------------------------------------------------------
    # phrase-loop: clean near-misses
    # ------------------------------------------------------------------
    ("The car went faster and faster.", set()),  # reduplication with and
    ("The dog ran and ran and ran.", set()),  # reduplication with and
    ("Mia and Bo walked side by side.", set()),  # idiom
    ("The ducks crossed the road one by one.", set()),  # idiom
    ("Little by little, the plant grew tall.", set()),  # idiom
    ("Pip read the book again and again.", set()),  # idiom
    ('"Wake up, wake up!" said Mom.', set()),  # short repeat set off by commas
    ('"Thank you, thank you!" said Mia.', set()),  # short repeat set off by commas
    ('"Oh no, oh no!" cried Bo.', set()),  # short repeat set off by commas
    ("Sam had a cat and a dog and a fish.", set()),  # "and a" recurs, phrases differ
    ("The kids played in the park and in the garden.", set()),  # "in the" recurs, not back to back
    ("Tick tock, tick tock went the clock.", set()),  # sound words, comma
    ("In the morning and in the evening, Pip fed the cat.", set()),
    ("The ball rolled round and round.", set()),  # idiom
    # ------------------------------------------------------------------
    # repeated-sentence: positives
    # ------------------------------------------------------------------
    ("Pip went to the park. He saw a duck. Pip went to the park.", {RS}),
    ("The sun was hot. the sun was hot.", {RS}),  # case differs
    ("Mia had a red ball.  Mia  had a red   ball.", {RS}),  # spacing differs
    ("Once upon a time there was a cat.\n\nThe cat liked milk.\n\nThe cat liked milk.", {RS}),  # paragraphs
    ('"I am hungry," said Bo. Mom made soup. "I am hungry," said Bo.', {RS}),  # dialogue
    ("Where is my hat? Sam looked under the bed. Where is my hat?", {RS}),  # question
    ("The tree was so tall! Everyone looked up. The tree was so tall!", {RS}),  # exclamation
    ("Bo was sad. He cried. Bo was sad.", {RS}),  # exactly three words
    ("Lily liked to draw.\nShe drew a cat.\nLily liked   to draw.", {RS}),  # newlines, spacing
    ("Pip ate the cake. Pip ate the cake.", {RS}),  # back to back
    (
        "One day, a little girl named Mia went to the park. She played on the swings. "
        "One day, a little girl named Mia went to the park.",
        {RS},
    ),
    ("They all had fun. The end. They all had fun.", {RS}),
    (
        "Sam had a dog. The dog was brown. Sam and the dog went for a walk. "
        "They saw a bird. The bird sang. Then it was time to go home. Sam had a dog.",
        {RS},
    ),  # far apart
    ("The cat was happy. The cat was happy. The cat was happy.", {RS}),  # three times
    ('Mom said, "Time for bed." Tim said no. Mom said, "Time for bed."', {RS}),
    ("ONE DAY BO FOUND A BOX. He opened it. One day Bo found a box.", {RS}),  # case; comma-free both times
    # ------------------------------------------------------------------
    # repeated-sentence: clean near-misses
    # ------------------------------------------------------------------
    ("Bo ran. Bo ran.", set()),  # only two words
    # "Help me!" has only two words, and the copies are set apart by punctuation
    ('"Help me!" "Help me!" cried the cat.', set()),
    ("Pip saw a cat. Then Pip saw a dog.", set()),
    ("Mia was happy. Mia was very happy.", set()),
    ("Tom had a ball. Tom had a bat.", set()),
    ("The dog ran. The dog ran home.", set()),  # second sentence is longer
    ('"Yes," said Mom. "No," said Dad.', set()),
    ("The end. The end.", set()),  # two words
    ("Sam was hungry. He ate an apple. Then Sam was not hungry.", set()),
    # ------------------------------------------------------------------
    # combinations
    # ------------------------------------------------------------------
    ("Pip ate the the cake. Pip ate the the cake.", {IR, RS}),
    ("Sam hugged Sam. Mia went to to the park.", {SO, IR}),
    # "Bo saw Bo." has three words, so its second copy is also a repeated sentence
    ("Bo saw Bo. He went home went home. Bo saw Bo.", {SO, PL, RS}),
]
