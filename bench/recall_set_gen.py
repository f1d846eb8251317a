"""Writes bench/recall_set.json: long chats with planted facts, and questions that paraphrase them.

Each session is a few hundred messages of everyday assistant chat (code, cooking, travel,
e-mails, trivia) between "Human" and "AI", the roles LangChain's MotorheadMemory stores. Into it
go facts the human mentions once, early or midway, and for each fact a question asked later
in other words than the fact's ("my sister Ana moved to Lisbon" / "which city did my sibling
relocate to?"), with the id of the message that holds the answer. Around them go distractors:
messages that share the question's words but not its answer ("which city has the best
museums?"), and near misses (the same kind of fact about somebody else), so that neither
matching words nor matching topic is enough.

Deterministic: the same seed writes the same file, byte for byte.

    python3 bench/recall_set_gen.py [--seed 20261201] [--sessions 8] [--turns 200]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("recall_set.json")

NAMES = ["Ana", "Marta", "Lena", "Sofia", "Ines", "Clara", "Nadia", "Eva", "Rosa", "Ilse"]
MEN = ["Tomas", "Pedro", "Jonas", "Karim", "Luca", "Felix", "Omar", "Hugo", "Milan", "Sven"]
CITIES = ["Lisbon", "Porto", "Vienna", "Krakow", "Utrecht", "Ghent", "Bologna", "Seville"]
COUNTRIES = ["Japan", "Peru", "Iceland", "Vietnam", "Morocco", "Norway", "Chile", "Greece"]
TOWNS = ["Aveiro", "Hallstatt", "Brugge", "Sintra", "Colmar", "Annecy", "Zadar", "Bled"]
MONTHS = ["January", "March", "April", "June", "August", "September", "October", "November"]
PETS = ["Biscuit", "Pepper", "Mochi", "Nugget", "Ziggy", "Olive", "Pickles", "Waffles"]
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Brennan", "Takahashi", "Novak", "Alvarez"]
WORDS = ["pinecone42", "bluefjord", "otter-lamp", "mossyroof7", "quietharbor", "lanternfox"]


@dataclass(frozen=True)
class Fact:
    """`fact` is what the human (or the AI, with `role`) says once; `question` asks for it in
    other words (no content word in common); `partial` asks for it sharing a word or a name,
    as people often do; `distractors` share the questions' words and say something else;
    `near` is the same kind of fact about someone or something else."""

    key: str
    fact: str
    question: str
    partial: str
    distractors: tuple[str, ...]
    near: tuple[str, ...] = ()
    role: str = "Human"


FACTS = [
    Fact(
        "sister_city",
        "My sister {name} moved to {city} in {month}, she loves the tiled streets there.",
        "Which city did my sibling relocate to?",
        "Where does my sister {name} live now?",
        (
            "Human: My sister thinks I should get a cat.",
            "Human: Which city would you pick for a long weekend with good food?",
            "AI: Many companies relocate their offices to cut costs, so that is not unusual.",
            "Human: The city is digging up my street again, the noise is unbearable.",
        ),
        (
            "Human: My sister {name} is coming to stay with us in {month2}.",
            "Human: My cousin relocated to {city2} last year and hates the weather.",
            "Human: My brother keeps saying he'll move abroad, but he never does.",
            "Human: My colleague {man} just moved to {city2} for a new job.",
        ),
    ),
    Fact(
        "allergy",
        "I'm allergic to peanuts, so I always have to read every label at the supermarket.",
        "What food gives me a bad reaction?",
        "What am I allergic to?",
        (
            "Human: Is hay fever an allergic reaction or a cold?",
            "Human: What food goes well with a dry white wine?",
            "Human: I had a bad reaction to the new phone update, the battery drains fast.",
            "AI: A bad night's sleep can leave you craving sugary food the next day.",
        ),
        (
            "Human: I'm allergic to cats but I still pet every one I meet.",
            "Human: My son reacts badly to strawberries, his skin gets blotchy.",
            "AI: Peanuts are actually legumes, not true nuts.",
            "Human: My nephew can't have shellfish, his throat swells up.",
        ),
    ),
    Fact(
        "dog_breed",
        "Our dog {pet} is a beagle, he howls whenever the doorbell rings.",
        "What breed is the family pet?",
        "What kind of dog is {pet}?",
        (
            "Human: The neighbour's dog barks all night.",
            "Human: What breed of cat sheds the least hair?",
            "Human: Family dinners at my parents' place are every other Sunday.",
            "AI: A pet insurance policy usually covers accidents and illness, check the breed "
            "exclusions.",
        ),
        (
            "Human: My parents' dog is a golden retriever called Max.",
            "Human: We're thinking of getting a second pet, maybe a rabbit.",
            "AI: Beagles are scent hounds and need a lot of exercise.",
        ),
    ),
    Fact(
        "job",
        "I started working as a nurse at the children's hospital last spring.",
        "What is my profession?",
        "Where am I working these days?",
        (
            "AI: Working from a café can help if home is distracting.",
            "Human: Is it normal to change profession at forty?",
            "AI: A profession with shift work can disturb your sleep, try blackout curtains.",
        ),
        (
            "Human: My mother worked as a midwife for thirty years.",
            "Human: I'm thinking about working part-time next year.",
            "AI: Nurses in many countries work twelve-hour shifts.",
            "Human: My neighbour is a paramedic, he works nights.",
        ),
    ),
    Fact(
        "wife_birthday",
        "My wife's birthday is on the 14th of {month}, I should plan something nice.",
        "When does my spouse turn a year older?",
        "When is my wife's birthday?",
        (
            "Human: What's a good birthday present for a ten-year-old?",
            "Human: How many days older is a leap year than a normal year?",
            "AI: Older laptops often benefit from a clean install of the operating system.",
        ),
        (
            "Human: My wife's parents have their anniversary in {month2}.",
            "Human: My own birthday is in {month2}, I'll be 41.",
            "AI: A surprise party works best if one friend handles the invitations.",
            "Human: My boss has her birthday on the 2nd of {month2}.",
        ),
    ),
    Fact(
        "car",
        "I drive a red Honda Jazz, it's small but it fits all my climbing gear.",
        "What vehicle do I own?",
        "What model is my Honda?",
        (
            "AI: Honda and Toyota both have good reliability records.",
            "Human: Do I need to own a vehicle to live comfortably in Amsterdam?",
            "AI: An electric vehicle costs less to run but more to buy.",
        ),
        (
            "Human: My wife drives a grey Toyota, it's ancient.",
            "Human: I'm thinking of selling the car and getting a cargo bike.",
            "AI: Small hatchbacks are cheap to insure for new drivers.",
        ),
    ),
    Fact(
        "marathon",
        "I'm training for the {city} marathon in October, four runs a week.",
        "What race am I preparing for?",
        "Which marathon am I running?",
        (
            "Human: How many people finish a marathon under four hours?",
            "Human: What's the best way to prepare for a job interview?",
            "AI: The race condition happens because two threads write the same variable.",
            "Human: I am preparing a presentation for Monday and I'm nervous.",
        ),
        (
            "Human: My friend ran the {city2} half marathon in under two hours.",
            "Human: I did a 10k race last spring and hated every minute.",
            "AI: For a first marathon, most plans build up over sixteen weeks.",
        ),
    ),
    Fact(
        "daughter_cello",
        "My daughter {name} plays the cello in the school orchestra.",
        "Which instrument does my child practise?",
        "What does {name} play at school?",
        (
            "Human: The school wants parents to volunteer for the fair.",
            "Human: Which instrument is easiest to learn for an adult beginner?",
            "AI: To practise a speech, record yourself and listen back.",
            "Human: My child keeps asking for a tablet, is that a bad idea?",
        ),
        (
            "Human: My niece {name} plays the violin, badly but loudly.",
            "Human: I played the piano as a child and regret stopping.",
            "AI: School orchestras often lend instruments to beginners.",
        ),
    ),
    Fact(
        "wifi",
        "The wifi password at the cabin is {word}, written on the fridge.",
        "What's the network key for the holiday house?",
        "How do I get online at the cabin?",
        (
            "Human: The cabin roof needs fixing before winter.",
            "Human: The holiday house we rented had a broken heater.",
            "AI: A network switch connects devices; a router connects networks.",
            "Human: What key signature has three sharps?",
        ),
        (
            "Human: The wifi at home keeps dropping every evening.",
            "Human: At my parents' place the network password is just their street name.",
            "AI: Write the guest network password on a card by the door for visitors.",
        ),
    ),
    Fact(
        "language",
        "I've been learning Japanese on an app for two years, still bad at kanji.",
        "Which foreign tongue am I studying?",
        "How long have I been learning Japanese?",
        (
            "AI: Japanese has three writing systems: hiragana, katakana and kanji.",
            "Human: I bit my tongue at dinner, it still hurts.",
            "AI: Studying in short sessions with breaks tends to work better than cramming.",
            "Human: Which foreign films won the most awards last year?",
        ),
        (
            "Human: My son is learning Spanish at school.",
            "Human: I'd love to learn Korean one day.",
            "AI: Language apps work best alongside conversation practice.",
        ),
    ),
    Fact(
        "rent",
        "My landlord raised the rent to 1350 euros a month, I can barely afford it.",
        "How much do I pay for the flat now?",
        "How much is my rent?",
        (
            "AI: Rent control laws differ a lot from city to city.",
            "Human: How much should I pay a babysitter per hour?",
            "AI: A flat tyre can usually be repaired if the puncture is in the tread.",
        ),
        (
            "Human: My friend pays 900 euros for a room in a shared flat.",
            "Human: Our electricity bill went up to 140 euros a month.",
            "AI: Rent increases usually have to be announced two months ahead.",
        ),
    ),
    Fact(
        "coeliac",
        "I can't eat gluten since I was diagnosed with coeliac disease.",
        "What dietary restriction do I have?",
        "Which disease was I diagnosed with?",
        (
            "Human: Lyme disease is spreading in the north, I read.",
            "Human: Are dietary supplements worth it for runners?",
            "AI: There is no restriction on carrying medicine in hand luggage within the EU.",
        ),
        (
            "Human: My sister is lactose intolerant, she can't have milk.",
            "Human: I try not to eat too much sugar.",
            "AI: Oats are often contaminated with wheat unless labelled gluten-free.",
        ),
    ),
    Fact(
        "band",
        "My favourite band is Radiohead, I've seen them live four times.",
        "Which musicians do I love most?",
        "How many times have I seen Radiohead?",
        (
            "AI: Radiohead's OK Computer came out in 1997.",
            "Human: I love the smell of rain on hot pavement.",
            "AI: Session musicians are often paid per track rather than royalties.",
        ),
        (
            "Human: My wife's favourite band is Coldplay, we argue about it.",
            "Human: I went to a jazz concert last month and loved it.",
            "AI: Live albums often sound better than studio recordings for some bands.",
            "Human: My brother only listens to Metallica.",
        ),
    ),
    Fact(
        "honeymoon",
        "We're flying to {country} for our honeymoon in June, two weeks.",
        "Where will we travel after getting married?",
        "Where are we going for the honeymoon?",
        (
            "Human: Honeymoon suites are such a rip-off.",
            "Human: Getting married abroad seems like a paperwork nightmare.",
            "AI: Travel insurance should cover cancellation and medical costs.",
            "Human: Where will the next Olympics be held?",
        ),
        (
            "Human: My parents went to {country2} for their honeymoon in 1985.",
            "Human: We're driving to the coast for a long weekend in May.",
            "AI: Honeymoon packages in the Maldives are pricey in high season.",
        ),
    ),
    Fact(
        "grandfather",
        "My grandfather {man} was a fisherman in {town} all his life.",
        "What did my granddad do for a living?",
        "What was my grandfather's job?",
        (
            "Human: My grandfather's watch stopped working.",
            "Human: Living on a boat sounds romantic but it must be cold.",
            "AI: To make a living as a freelancer, keep three months of expenses saved.",
        ),
        (
            "Human: My grandmother was a primary school teacher.",
            "Human: My father worked in a shipyard before he retired.",
            "AI: Fishing towns along the coast have lost many young people.",
        ),
    ),
    Fact(
        "wrist",
        "I broke my left wrist skiing last winter and it still aches when it's cold.",
        "Which injury did I get on the slopes?",
        "Which wrist did I break?",
        (
            "AI: A wrist rest can help with typing strain.",
            "Human: Which slopes are best for beginners in the Alps?",
            "AI: An injury claim usually needs a doctor's report within a few days.",
        ),
        (
            "Human: My daughter sprained her ankle at football.",
            "Human: I twisted my knee hiking last autumn.",
            "AI: Ski injuries most often involve the knee and the thumb.",
        ),
    ),
    Fact(
        "son_teacher",
        "My son's teacher this year is Mr. {surname}, he is very strict.",
        "Who teaches my boy at school?",
        "What is my son's teacher called?",
        (
            "Human: My son wants to be a teacher when he grows up.",
            "Human: Who decides the school holidays, the region or the country?",
            "AI: A school uniform policy varies by district.",
            "Human: Who teaches the best online course on statistics?",
        ),
        (
            "Human: My daughter's teacher is Ms. {surname2}, she's lovely.",
            "Human: My son's football coach is really strict too.",
            "AI: Parent-teacher meetings are a good time to ask about homework.",
        ),
    ),
    Fact(
        "spare_key",
        "I keep a spare key under the blue flowerpot by the back door.",
        "Where did I hide the backup for getting into the house?",
        "Where is the spare key?",
        (
            "AI: The key to good bread is a long, slow rise.",
            "Human: Where did the phrase 'hide and seek' come from?",
            "AI: Backup your photos to two places: one at home, one in the cloud.",
            "Human: Getting into the habit of stretching every morning is hard.",
        ),
        (
            "Human: I lost my car key at the beach last summer.",
            "Human: My neighbour keeps a spare key to our flat for emergencies.",
            "AI: Key safes with a code are a good alternative to hiding keys outside.",
        ),
    ),
    Fact(
        "blood_pressure",
        "My doctor said my blood pressure is too high and I should cut salt.",
        "What health problem did the physician mention?",
        "What did my doctor say?",
        (
            "Human: My doctor is on holiday so I saw a locum.",
            "Human: What health insurance covers dental work in Germany?",
            "AI: That problem usually means the cache is stale; clear it and rebuild.",
        ),
        (
            "Human: My doctor said my cholesterol is fine.",
            "Human: My father has diabetes and checks his sugar daily.",
            "AI: High blood pressure often has no symptoms at all.",
        ),
    ),
    Fact(
        "brother_pilot",
        "My brother {man} flies planes for a regional airline.",
        "What does my male sibling do for work?",
        "What does my brother {man} do?",
        (
            "Human: My brother borrowed my drill and never gave it back.",
            "Human: What does a product manager actually do at work?",
            "AI: For work emails, keep the subject line short and specific.",
        ),
        (
            "Human: My sister works as a flight attendant.",
            "Human: My brother {man2} is a chef in a hotel.",
            "AI: Regional airline pilots often start on turboprops.",
        ),
    ),
    Fact(
        "born",
        "I was born in {city} but grew up in {city2}.",
        "Where is my hometown?",
        "Which city was I born in?",
        (
            "AI: People born in winter are no more likely to be introverts.",
            "Human: Where is the best place to watch the northern lights?",
            "AI: Your town hall can issue a residence certificate in a few days.",
        ),
        (
            "Human: My wife was born in {city3}.",
            "Human: I lived in {city3} for two years as a student.",
            "AI: Where you grow up shapes your accent more than where you are born.",
        ),
    ),
    Fact(
        "cat_age",
        "My cat {pet} is fourteen now and sleeps about twenty hours a day.",
        "How old is my kitty?",
        "How old is {pet}?",
        (
            "Human: {pet} is such a silly name for a goldfish, my cousin says.",
            "Human: How old do you have to be to rent a car in Spain?",
            "AI: Kitty litter made of clay clumps better than the paper kind.",
        ),
        (
            "Human: My parents' cat is only two, and a menace.",
            "Human: Our old dog died at fifteen.",
            "AI: Cats over twelve are considered seniors by most vets.",
        ),
    ),
    Fact(
        "house",
        "We bought a house with a big garden in {town} last year.",
        "Where is the property we purchased?",
        "Where did we buy a house?",
        (
            "AI: A house survey is worth paying for before you buy.",
            "Human: Is property tax deductible for a rental?",
            "AI: Purchased items can usually be returned within fourteen days in the EU.",
        ),
        (
            "Human: My brother bought a flat in {city2} last year.",
            "Human: We're thinking of selling our house and moving closer to town.",
            "AI: A big garden is lovely but a lot of work every spring.",
            "Human: My cousin is renting a tiny flat in {city2}.",
        ),
    ),
    Fact(
        "food",
        "Nothing beats my mother's lasagna, I ask for it every birthday.",
        "What dish do I like best?",
        "Whose lasagna do I love?",
        (
            "Human: Is lasagna better the next day?",
            "Human: I like best the mornings when the house is quiet.",
            "AI: A dish rack with a drip tray saves the counter from puddles.",
        ),
        (
            "Human: My wife loves sushi more than anything.",
            "Human: I hate olives, always have.",
            "AI: Lasagna freezes well if you wrap it tightly.",
        ),
    ),
    Fact(
        "heights",
        "I'm terrified of heights, I never step onto a glass floor.",
        "What phobia do I have?",
        "Am I scared of heights?",
        (
            "AI: Heights above 2,500 m can cause altitude sickness.",
            "Human: Is a phobia of spiders something you are born with?",
            "AI: I have a list of ten tips for public speaking if that helps.",
        ),
        (
            "Human: My son is scared of the dark.",
            "Human: I don't like spiders, but I'm not scared of them.",
            "AI: Fear of flying is one of the most common phobias.",
        ),
    ),
    Fact(
        "partner_job",
        "My partner {name} is a software engineer at a small startup.",
        "What does my significant other do professionally?",
        "Where does my partner work?",
        (
            "Human: My partner snores, any tips?",
            "Human: What does significant mean in a statistics test?",
            "AI: Professionally written CVs are rarely worth the money.",
        ),
        (
            "Human: My partner's sister is a lawyer in {city2}.",
            "Human: My friend {name2} is a data scientist at a bank.",
            "AI: Startups often ask engineers to cover several roles.",
        ),
    ),
    Fact(
        "football",
        "I play five-a-side football every Thursday evening with old classmates.",
        "Which sport do I do weekly?",
        "When do I play football?",
        (
            "AI: Football boots for artificial grass have shorter studs.",
            "Human: Which sport burns the most calories per hour?",
            "AI: A weekly review of your tasks keeps the list manageable.",
        ),
        (
            "Human: My son plays basketball on Saturdays.",
            "Human: I used to swim every morning but stopped.",
            "AI: Five-a-side is a great way to stay fit without a big commitment.",
        ),
    ),
    Fact(
        "commute",
        "I take the 7:40 train every morning, it's packed by the second stop.",
        "How do I travel to the office?",
        "Which train do I take?",
        (
            "Human: The train to the coast was cancelled again.",
            "Human: How do I get rid of fruit flies in the kitchen?",
            "AI: The office chair should let your feet rest flat on the floor.",
        ),
        (
            "Human: My wife cycles to work every day.",
            "Human: When the trains strike I have to drive.",
            "AI: Commuting by bus is usually cheaper than driving and parking.",
        ),
    ),
    Fact(
        "best_friend",
        "My best friend {name} lives in {city} now, we talk every Sunday.",
        "Where does my closest pal reside?",
        "Where does my best friend live?",
        (
            "AI: The best time to call is early evening.",
            "Human: Where does the word 'pal' come from?",
            "AI: Closest pairs of points can be found in n log n time.",
        ),
        (
            "Human: My best friend from school is getting married in {month2}.",
            "Human: My old flatmate lives in {city2} now.",
            "AI: Long-distance friendships survive on regular calls.",
        ),
    ),
    Fact(
        "phone",
        "My phone is an old Pixel 4 with a cracked screen.",
        "Which mobile device do I use?",
        "What's wrong with my phone's screen?",
        (
            "Human: My phone case is falling apart.",
            "Human: Which mobile plan is cheapest for data in Portugal?",
            "AI: Use a device-independent unit like rem for font sizes.",
        ),
        (
            "Human: My wife has the latest iPhone.",
            "Human: My laptop is an old ThinkPad.",
            "AI: A cracked screen can usually be replaced for under 100 euros.",
        ),
    ),
    Fact(
        "author",
        "My favourite writer is Ursula K. Le Guin, I reread The Dispossessed every year.",
        "Whose novels do I enjoy most?",
        "Who is my favourite writer?",
        (
            "AI: A writer's block often lifts once you lower the bar for a first draft.",
            "Human: Do I enjoy cooking or just eating? Hard to say.",
            "AI: Novels set in Japan that people enjoy include Kafka on the Shore.",
        ),
        (
            "Human: My wife only reads crime novels.",
            "Human: I didn't enjoy the last book by Stephen King.",
            "AI: Le Guin also wrote the Earthsea books.",
        ),
    ),
    Fact(
        "degree",
        "I graduated in chemistry from the University of {city}.",
        "What subject did I study at college?",
        "What did I graduate in?",
        (
            "Human: My cousin will graduate next year in law.",
            "Human: What subject line gets an email opened?",
            "AI: Studying at a community college first can save a lot of money.",
        ),
        (
            "Human: My wife studied law in {city2}.",
            "Human: I almost studied physics instead.",
            "AI: A chemistry degree opens doors in pharma and materials science.",
        ),
    ),
    Fact(
        "mother_surgery",
        "My mother is recovering from hip surgery, she's walking with a frame.",
        "Which operation did my mum have?",
        "How is my mother recovering?",
        (
            "Human: My mother wants a new sofa for the living room.",
            "Human: Which operation is faster in Python, append or insert at zero?",
            "AI: Did you mean the mum who commented on your post?",
        ),
        (
            "Human: My father had knee surgery two years ago.",
            "Human: My mother is visiting next week.",
            "AI: Hip replacements usually need six weeks of careful recovery.",
        ),
    ),
    Fact(
        "passport",
        "I need to renew my passport before {month}, it runs out then.",
        "What travel document is about to expire?",
        "When must I renew my passport?",
        (
            "AI: You can renew a library book online.",
            "Human: What document do I need to open a bank account?",
            "AI: Session cookies expire when the browser closes.",
            "Human: Travel by night bus is cheap but exhausting.",
        ),
        (
            "Human: My driving licence expires next year.",
            "Human: My wife's passport is still valid until 2031.",
            "AI: Passport renewals take about six weeks in busy months.",
        ),
    ),
    Fact(
        "coffee",
        "I drink my coffee black, no sugar, three cups before noon.",
        "How do I take my morning brew?",
        "How do I drink my coffee?",
        (
            "Human: Is decaf coffee worth it?",
            "Human: How do I take a screenshot on a Mac?",
            "AI: Morning light helps set your body clock.",
        ),
        (
            "Human: My wife takes her coffee with oat milk and honey.",
            "Human: I drink green tea in the afternoon.",
            "AI: Black coffee has almost no calories.",
        ),
    ),
    Fact(
        "parking",
        "I parked on level 3 of the airport garage, row F.",
        "Where did I leave the vehicle?",
        "Where did I park at the airport?",
        (
            "AI: Airport lounges are often free with premium cards.",
            "Human: Where did I leave off in the Python tutorial? Never mind, I found it.",
            "AI: A vehicle registration must be updated within a month of moving.",
        ),
        (
            "Human: Last time I parked at the train station it cost a fortune.",
            "Human: My wife left her bike at the office.",
            "AI: Airport parking is cheaper if you book online in advance.",
        ),
    ),
    Fact(
        "saving",
        "I'm saving up for a trip to {country} next summer, 200 euros a month.",
        "Which holiday destination am I putting money aside for?",
        "Where is the trip I'm saving for?",
        (
            "Human: Saving 10% of income is a good rule, right?",
            "Human: Which holiday is celebrated on the first Monday of May?",
            "AI: Putting money in an index fund is a common long-term choice.",
        ),
        (
            "Human: My brother is saving up for a new car.",
            "Human: We went to {country2} last summer, it was too hot.",
            "AI: A separate savings account for travel makes it easier to stick to a plan.",
        ),
    ),
    Fact(
        "uncle",
        "My uncle {man} owns a bakery in {town}, the bread sells out by nine.",
        "What kind of shop does my relative run?",
        "What does my uncle {man} own?",
        (
            "Human: My uncle tells the same three jokes at every dinner.",
            "Human: What kind of running shoes do you recommend for flat feet?",
            "AI: A relative import in Python needs the module to be part of a package.",
        ),
        (
            "Human: My aunt runs a small flower shop.",
            "Human: My cousin {man2} owns a car repair garage.",
            "AI: Small bakeries often sell out early because they bake in small batches.",
        ),
    ),
    Fact(
        "ai_hinge",
        "For the squeaky door, put a few drops of light oil on the hinge pins and swing it.",
        "What did you suggest for the creaking entrance?",
        "What did you say to put on the squeaky door?",
        (
            "Human: The door of the fridge doesn't close properly.",
            "Human: The entrance to the museum was closed for renovation.",
            "AI: I'd suggest a password manager rather than reusing passwords.",
        ),
        (
            "AI: For a sticking drawer, rub a candle along the runners.",
            "AI: For the squeaky floorboard, a screw into the joist usually stops it.",
            "Human: The front door sticks when it rains.",
        ),
        role="AI",
    ),
    Fact(
        "ai_book",
        "You might enjoy 'The Left Hand of Darkness', it's short and thoughtful science fiction.",
        "Which novel did you recommend I read?",
        "Which science fiction book did you suggest?",
        (
            "AI: Science museums are great on rainy days with kids.",
            "Human: Can you recommend a good laptop under 800 euros?",
            "AI: I'd recommend reading the error message from the bottom up.",
        ),
        (
            "AI: If you liked that film, you might enjoy the series too.",
            "AI: 'Project Hail Mary' is a fun science fiction read for a holiday.",
            "Human: I finished the book you suggested about the Roman empire.",
        ),
        role="AI",
    ),
    Fact(
        "ai_plant",
        "A peace lily is a good choice for a dark bathroom, it tolerates low light.",
        "What greenery did you propose for the room without windows?",
        "Which plant did you suggest for the dark bathroom?",
        (
            "Human: The bathroom fan is really loud.",
            "Human: The room was so noisy I couldn't think.",
            "AI: I propose we split the function into two smaller ones.",
        ),
        (
            "AI: A snake plant is hard to kill and likes a sunny window.",
            "AI: For the balcony, try lavender; it loves full sun.",
            "Human: My bathroom has mould in the corners, it's so dark in there.",
        ),
        role="AI",
    ),
]

HUMAN_FILLER = [
    "Can you help me write an email to {who} about {topic}?",
    "How do I {task} in Python?",
    "What's a quick recipe with {ingredient} and {ingredient2}?",
    "Why does my {thing} keep {problem}?",
    "Can you explain {concept} in simple terms?",
    "What should I pack for a weekend in {place}?",
    "Give me three ideas for {occasion}.",
    "Is it better to {option} or {option2}?",
    "Summarise the main causes of {event} for me.",
    "How long should I {cook} {ingredient}?",
    "Translate 'see you tomorrow' into {lang}.",
    "What's the difference between {concept} and {concept2}?",
    "My {thing} is making a strange noise, any idea why?",
    "Write a short poem about {subject}.",
    "Any tips for staying focused while {activity}?",
    "What time zone is {place} in?",
    'Fix this: TypeError: can only concatenate str (not "int") to str',
    "How many calories are in a bowl of {ingredient}?",
    "Can you suggest a name for a {thing} project?",
    "Thanks, that worked!",
    "Hmm, that didn't help. Any other ideas?",
    "OK, makes sense.",
    "Can you make it shorter?",
    "What's the weather usually like in {place} in {season}?",
]

AI_FILLER = [
    "Sure. Start with a clear subject line, then one short paragraph on {topic}, and end "
    "with the action you need from them.",
    "You can use a list comprehension for that; it is usually clearer than a loop with append.",
    "Try sautéing the {ingredient} first, then add the {ingredient2} and season at the end.",
    "That often happens when the {thing} overheats or the settings were reset after an update.",
    "In short, {concept} is a way of breaking a big problem into smaller pieces you can "
    "reason about separately.",
    "Pack layers, comfortable shoes and a small umbrella; {place} can change quickly.",
    "Here are three ideas: a picnic, a cooking class, or a short hike with a good view.",
    "It depends on your budget and time; the first is cheaper, the second is more flexible.",
    "Historians usually point to economic pressure, political rivalry and a few key "
    "miscalculations.",
    "About ten to twelve minutes, until it is tender but still holds its shape.",
    "A common cause is a loose part; check the screws and the mounting first.",
    "Convert the number with str() before joining it, or use an f-string.",
    "Good question. The main difference is scope: one applies to a single case, the other "
    "generalises.",
    "Break the work into 25-minute blocks and keep your phone in another room.",
    "Here's a shorter version: keep the first sentence and the last, and drop the rest.",
    "Glad it worked! Anything else?",
    "Let's try another approach: restart it, then check the logs for the first error.",
    "It's usually mild in {season}, but bring a jacket for the evenings.",
    "Sure, here's a draft you can adapt to your own voice.",
]

ENTITIES = {
    "sister_city": "{city}",
    "allergy": "peanuts",
    "dog_breed": "{pet}",
    "job": "the children's hospital",
    "wife_birthday": "the 14th of {month}",
    "car": "the Honda Jazz",
    "marathon": "the {city} race",
    "daughter_cello": "{name}",
    "wifi": "{word}",
    "language": "kanji",
    "rent": "the 1350 euros",
    "coeliac": "coeliac",
    "band": "Radiohead",
    "honeymoon": "{country}",
    "grandfather": "{town}",
    "wrist": "skiing",
    "son_teacher": "Mr. {surname}",
    "spare_key": "the blue flowerpot",
    "blood_pressure": "salt",
    "brother_pilot": "{man}",
    "born": "{city}",
    "cat_age": "{pet}",
    "house": "{town}",
    "food": "lasagna",
    "heights": "glass floors",
    "partner_job": "{name}",
    "football": "five-a-side",
    "commute": "the 7:40",
    "best_friend": "{name}",
    "phone": "the Pixel 4",
    "author": "Le Guin",
    "degree": "chemistry",
    "mother_surgery": "the hip",
    "passport": "{month}",
    "coffee": "sugar",
    "parking": "row F",
    "saving": "{country}",
    "uncle": "{town}",
    "ai_hinge": "the hinge pins",
    "ai_book": "The Left Hand of Darkness",
    "ai_plant": "the peace lily",
}
"""For the third kind of question: a name, a number or a rare word from the fact, asked about
with nothing else ("what did I say about Radiohead?"), the way people look up one thing."""

ENTITY_QUESTIONS = [
    "What did I tell you about {entity}?",
    "Did I ever mention {entity}?",
    "What was that about {entity}?",
    "Remind me what I said regarding {entity}.",
]

LIFE_FILLER = [
    "Human: My sister sent me photos from her holiday, the beaches look amazing.",
    "Human: Work was exhausting today, back-to-back meetings.",
    "Human: The dog needs a bath, he rolled in something awful.",
    "Human: My wife and I are redoing the kitchen, it's chaos.",
    "Human: My brother called, he wants advice on buying a bike.",
    "Human: My mother keeps asking when we'll visit.",
    "Human: I'm so tired, the neighbours had a party until 3 am.",
    "Human: We had friends over for dinner, I cooked way too much.",
    "Human: My son got a good mark in maths, finally.",
    "Human: It's been raining for a week, I miss the sun.",
    "Human: I've been sleeping badly since the clocks changed.",
    "Human: My best friend and I watched the match together last night.",
    "Human: The train was late again this morning.",
    "Human: I finally cleaned out the garage, found my old guitar.",
    "Human: My daughter wants to learn to code, where should she start?",
    "Human: We're thinking about a trip somewhere warm in winter.",
    "Human: My boss liked the report, what a relief.",
    "Human: My partner surprised me with concert tickets.",
    "Human: I should really call my grandmother more often.",
    "Human: My cat knocked a glass off the table again.",
    "Human: I started reading before bed instead of scrolling.",
    "Human: The car needs new tyres before the winter.",
    "Human: My uncle is visiting from abroad next month.",
    "Human: I tried a new recipe and my family actually liked it.",
]
"""What people say about their lives between requests: family, pets, work, the house. They
answer no question but share every question's topic, so topic alone is not enough."""

RAMBLE = [
    "Ugh, what a day.",
    "The meeting ran over by an hour and nobody had read the agenda.",
    "Then the printer jammed twice, right when I needed the handouts.",
    "I still had to pick up the kids and get groceries on the way home.",
    "Traffic on the ring road was a nightmare because of roadworks.",
    "Dinner was leftovers again, nobody complained at least.",
    "I keep meaning to sort out the spare room but there's never time.",
    "The weather can't make up its mind, sun one minute and hail the next.",
    "My inbox has three hundred unread emails and I've given up on it.",
    "Anyway, I've been meaning to write some of this down somewhere.",
    "Oh, and the washing machine is leaking again, I need to call someone.",
    "We also finally booked the dentist for everyone, which took ages.",
    "Sorry, I'm rambling, it's late.",
    "Anyway, can you help me plan meals for next week?",
    "Also, do you know a good way to get coffee stains out of a carpet?",
    "Right, back to the spreadsheet I was fighting with earlier.",
]
"""Sentences a long message wraps a fact in: a fact said in passing, in the middle of a
paragraph about other things, is one that a single vector for the whole message dilutes."""

BURIED = 0.3
"""The share of facts said in passing inside a long message rather than on their own."""

LIFE_REPLIES = [
    "That sounds like a lot. How are you feeling about it?",
    "Oh nice, that must have been fun!",
    "Sorry to hear that. Anything I can help with?",
    "Ha, that's a classic. Hope it gets better soon.",
    "That's lovely. Do you want some ideas for it?",
]

SLOTS = {
    "who": ["my manager", "the landlord", "a client", "the school", "my team", "the bank"],
    "topic": ["the deadline", "a refund", "the invoice", "next week's meeting", "a delay"],
    "task": [
        "read a CSV file",
        "sort a dictionary",
        "parse dates",
        "retry a request",
        "merge two lists",
        "write a unit test",
    ],
    "ingredient": ["chickpeas", "spinach", "rice", "mushrooms", "lentils", "salmon", "tofu"],
    "ingredient2": ["garlic", "lemon", "tomatoes", "coconut milk", "feta", "ginger"],
    "thing": ["laptop", "printer", "router", "washing machine", "bike", "dishwasher"],
    "problem": ["freezing", "disconnecting", "beeping", "restarting", "slowing down"],
    "concept": ["recursion", "inflation", "photosynthesis", "compound interest", "entropy"],
    "concept2": ["iteration", "deflation", "respiration", "simple interest", "enthalpy"],
    "place": ["Edinburgh", "Madrid", "Copenhagen", "Prague", "Dublin", "Tallinn"],
    "occasion": ["a rainy Saturday", "a team lunch", "a first date", "a kid's party"],
    "option": ["rent", "buy a used one", "learn alone", "go in the morning"],
    "option2": ["buy", "buy a new one", "take a course", "go at night"],
    "event": ["the French Revolution", "the 2008 crisis", "the fall of Rome", "World War I"],
    "cook": ["boil", "bake", "roast", "steam"],
    "lang": ["German", "Italian", "Dutch", "Polish", "Swedish"],
    "subject": ["autumn", "the sea", "a cup of tea", "Monday mornings", "old trains"],
    "activity": ["studying", "working from home", "reading long reports", "coding"],
    "season": ["spring", "summer", "autumn", "winter"],
}


def fill(template: str, rng: random.Random, values: dict[str, str]) -> str:
    """The template with each slot filled: a fact's own values where it names them, else a
    fresh pick from the pools."""

    class Slots(dict):
        def __missing__(self, key: str) -> str:
            return rng.choice(SLOTS[key])

    return template.format_map(Slots(values))


def fact_values(rng: random.Random) -> dict[str, str]:
    city, city2, city3 = rng.sample(CITIES, 3)
    month, month2 = rng.sample(MONTHS, 2)
    name, name2 = rng.sample(NAMES, 2)
    man, man2 = rng.sample(MEN, 2)
    country, country2 = rng.sample(COUNTRIES, 2)
    surname, surname2 = rng.sample(SURNAMES, 2)
    return {
        "name": name,
        "name2": name2,
        "man": man,
        "man2": man2,
        "city": city,
        "city2": city2,
        "city3": city3,
        "country": country,
        "country2": country2,
        "surname2": surname2,
        "town": rng.choice(TOWNS),
        "month": month,
        "month2": month2,
        "pet": rng.choice(PETS),
        "surname": surname,
        "word": rng.choice(WORDS),
    }


def split_role(line: str) -> tuple[str, str]:
    role, content = line.split(": ", 1)
    return role, content


def session(rng: random.Random, index: int, turns: int, facts_per_session: int) -> tuple:
    """One session's messages and its questions."""
    lines: list[tuple[str, str, str | None]] = []  # role, content, the fact key it plants
    for _ in range(turns):
        if rng.random() < 0.2:
            lines.append((*split_role(rng.choice(LIFE_FILLER)), None))
            lines.append(("AI", rng.choice(LIFE_REPLIES), None))
        else:
            lines.append(("Human", fill(rng.choice(HUMAN_FILLER), rng, {}), None))
            lines.append(("AI", fill(rng.choice(AI_FILLER), rng, {}), None))
    facts = rng.sample(FACTS, facts_per_session)
    # Facts go in the first 85% (a question comes later); distractors and near misses anywhere,
    # so the newest messages are no shortcut.
    insertions: list[tuple[int, tuple[str, str, str | None]]] = []
    values_of: dict[str, dict[str, str]] = {}
    for fact in facts:
        values = values_of[fact.key] = fact_values(rng)
        where = rng.randrange(0, int(len(lines) * 0.85))
        content = fill(fact.fact, rng, values)
        if fact.role == "Human" and rng.random() < BURIED:
            ramble = rng.sample(RAMBLE, 5)
            cut = rng.randint(2, 3)
            content = " ".join([*ramble[:cut], content, *ramble[cut : cut + rng.randint(0, 2)]])
        insertions.append((where, (fact.role, content, fact.key)))
        for extra in (*fact.distractors, *fact.near):
            role, content = split_role(extra)
            insertions.append(
                (rng.randrange(0, len(lines)), (role, fill(content, rng, values), None))
            )
    for where, line in sorted(insertions, key=lambda pair: pair[0], reverse=True):
        lines.insert(where, line)
    session_id = f"s{index}"
    messages, evidence = [], {}
    for n, (role, content, key) in enumerate(lines):
        message_id = f"{session_id}-m{n:04d}"
        messages.append({"id": message_id, "role": role, "content": content})
        if key is not None:
            evidence[key] = message_id
    questions = [
        {
            "session": session_id,
            "key": fact.key,
            "kind": kind,
            "question": fill(text, rng, values_of[fact.key]),
            "evidence": [evidence[fact.key]],
        }
        for fact in facts
        for kind, text in (
            ("paraphrase", fact.question),
            ("partial", fact.partial),
            ("entity", rng.choice(ENTITY_QUESTIONS).replace("{entity}", ENTITIES[fact.key])),
        )
    ]
    return {"id": session_id, "messages": messages}, questions


def generate(seed: int, sessions: int, turns: int, facts_per_session: int) -> dict:
    rng = random.Random(seed)
    made, questions = [], []
    for index in range(sessions):
        one, asked = session(rng, index, turns, facts_per_session)
        made.append(one)
        questions.extend(asked)
    return {
        "generator": "bench/recall_set_gen.py",
        "seed": seed,
        "sessions": made,
        "questions": questions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--turns", type=int, default=200, help="filler exchanges per session")
    parser.add_argument("--facts", type=int, default=12, help="planted facts per session")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = generate(args.seed, args.sessions, args.turns, args.facts)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    count = sum(len(s["messages"]) for s in data["sessions"])
    print(
        f"{args.out}: {len(data['sessions'])} sessions, {count} messages, "
        f"{len(data['questions'])} questions"
    )


if __name__ == "__main__":
    main()
