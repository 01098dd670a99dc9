"""The word lists of the little-stories generator: a 3-4 year old's words, grouped by role."""

GIRLS = ("Lily", "Mia", "Sue", "Anna", "Emma", "Lucy", "Sara", "Kim", "Zoe", "Amy", "Ella", "Rosa",
         "Nina", "Ruby", "Jane", "Molly", "Daisy", "Lola", "Maya", "Ivy")
BOYS = ("Tom", "Ben", "Max", "Sam", "Tim", "Leo", "Jack", "Finn", "Joe", "Dan", "Eli", "Noah",
        "Owen", "Luke", "Jake", "Bob", "Pete", "Ned", "Ted", "Hugo")
KIDS = {"girl": GIRLS, "boy": BOYS}
# (kind, name pool, home): animal heroes get names of their own
ANIMALS = (("cat", ("Kitty", "Tiger", "Misty", "Socks", "Whiskers"), "a warm basket"),
           ("dog", ("Spot", "Rex", "Buddy", "Rusty", "Biscuit"), "a red dog house"),
           ("bunny", ("Hoppy", "Fluffy", "Snowy", "Clover", "Thumper"), "a hole under a tree"),
           ("bear", ("Teddy", "Bruno", "Honey", "Fuzzy", "Barney"), "a big cave"),
           ("duck", ("Quacky", "Daffy", "Puddles", "Waddles", "Dot"), "a nest by the pond"),
           ("bird", ("Pip", "Tweety", "Sunny", "Chirp", "Feather"), "a nest in a tall tree"),
           ("frog", ("Hopper", "Freddy", "Lily Pad", "Gus", "Bumpy"), "a rock by the pond"),
           ("mouse", ("Squeak", "Nibbles", "Tiny", "Pippa", "Crumb"), "a small hole in the wall"),
           ("pig", ("Piggy", "Rosie", "Oink", "Pinky", "Muddy"), "a barn on the farm"),
           ("fox", ("Red", "Rusty", "Foxy", "Flick", "Amber"), "a den in the woods"))
ADULTS = (("mom", "she"), ("dad", "he"), ("grandma", "she"), ("grandpa", "he"), ("teacher", "she"))

# place: (name, preposition, things seen there, hiding spots)
PLACES = (
    ("park", "at", ("swings", "a slide", "big trees", "a sandbox"), ("under a bench", "behind a tree", "by the slide")),
    ("garden", "in", ("flowers", "bees", "tall grass", "a little path"), ("under a bush", "behind the flowers", "in the tall grass")),
    ("beach", "at", ("sand", "shells", "big waves", "a crab"), ("under the sand", "behind a rock", "near the water")),
    ("forest", "in", ("tall trees", "mushrooms", "a little stream", "birds"), ("under a log", "behind a big tree", "in a pile of leaves")),
    ("farm", "on", ("cows", "a red barn", "chickens", "a big tractor"), ("in the hay", "behind the barn", "by the fence")),
    ("backyard", "in", ("a swing", "a small tree", "green grass", "a sandbox"), ("under the swing", "behind the fence", "in the grass")),
    ("pond", "by", ("ducks", "frogs", "lily pads", "fish"), ("under a rock", "in the reeds", "by the water")),
    ("school", "at", ("toys", "books", "crayons", "a big rug"), ("under a desk", "behind the books", "in the toy box")),
    ("hill", "on", ("soft grass", "a big rock", "yellow flowers", "the whole town"), ("behind a rock", "in the grass", "under a bush")),
    ("meadow", "in", ("butterflies", "flowers", "tall grass", "a little bunny"), ("in the tall grass", "under a flower", "behind a bush")),
)
# object: (noun, adjectives that fit)
OBJECTS = (
    ("ball", ("red", "blue", "big", "bouncy", "little")), ("kite", ("red", "yellow", "big", "pretty")),
    ("teddy bear", ("soft", "brown", "old", "little")), ("toy car", ("red", "blue", "fast", "little")),
    ("hat", ("red", "green", "funny", "big")), ("book", ("big", "new", "red", "funny")),
    ("doll", ("pretty", "little", "soft", "old")), ("boat", ("little", "blue", "wooden", "toy")),
    ("drum", ("little", "red", "loud", "new")), ("truck", ("big", "yellow", "toy", "green")),
    ("shell", ("pink", "pretty", "shiny", "white")), ("rock", ("shiny", "smooth", "round", "little")),
    ("crayon", ("blue", "green", "purple", "red")), ("scarf", ("warm", "red", "soft", "long")),
    ("block", ("big", "red", "blue", "wooden")), ("balloon", ("red", "big", "yellow", "blue")),
)
FOODS = ("cookies", "an apple", "a sandwich", "some cake", "a banana", "some soup", "a cupcake",
         "some bread", "a pear", "some pie")
GAMES = ("tag", "hide and seek", "catch", "ball", "chase", "jump rope")
SCARY = (("the dark", "the dark room"), ("thunder", "the loud thunder"), ("the big dog", "the big dog"),
         ("the water", "the deep water"), ("the tall slide", "the tall slide"), ("bugs", "a big bug"))
BUILT = (("sand castle", "sand", "beach"), ("tower", "blocks", "school"), ("snowman", "snow", "backyard"),
         ("fort", "pillows", "living room"), ("tower", "rocks", "hill"), ("little house", "sticks", "forest"))
BAKED = ("cookies", "a cake", "muffins", "bread", "a pie", "cupcakes")
GIFTS = ("a card", "a picture", "a flower crown", "a little bracelet", "a paper boat", "a clay bowl")
HURT_ANIMALS = (("bird", "its wing"), ("kitten", "its paw"), ("puppy", "its leg"), ("duck", "its foot"),
                ("bunny", "its ear"))
STUCK_PLACES = ("up in a tree", "in a bush", "under the fence", "in a box", "on the roof")
TRIPS = (("zoo", ("lions", "a tall giraffe", "monkeys", "a big elephant")),
         ("farm", ("cows", "pigs", "baby chicks", "a horse")),
         ("beach", ("big waves", "crabs", "shells", "a boat")),
         ("lake", ("ducks", "fish", "a little boat", "frogs")),
         ("park", ("a big fountain", "ducks", "swings", "a music band")))
MESSES = (("paint", "painted on the wall", "the wall"), ("mud", "jumped in the mud", "the floor"),
          ("flour", "spilled the flour", "the kitchen"), ("juice", "spilled the juice", "the table"),
          ("crayons", "drew on the door", "the door"))
WEATHER = ("sunny", "warm", "bright", "cool", "windy", "nice")
TIMES = ("One day", "One morning", "One sunny day", "One afternoon", "Once", "Last summer", "One evening")
