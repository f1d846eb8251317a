"""Long messages are embedded as chunks of whole sentences; short ones as themselves."""

from __future__ import annotations

from chatcli.recall.chunking import chunks, first_of_each, owners, sentences


def test_a_short_message_is_one_chunk_of_its_indexed_text() -> None:
    assert chunks("Human", "My sister moved to Lisbon.") == ["Human: My sister moved to Lisbon."]


def test_a_long_message_is_cut_at_sentence_ends() -> None:
    content = "One two three. Four five six! Seven eight nine?"
    assert chunks("Human", content, max_words=6) == [
        "Human: One two three. Four five six!",
        "Human: Seven eight nine?",
    ]


def test_every_chunk_has_at_most_max_words() -> None:
    content = " ".join(f"Sentence number {i} has a few words in it." for i in range(30))
    assert all(len(c.split(": ", 1)[1].split()) <= 12 for c in chunks("AI", content, 12))


def test_a_sentence_longer_than_a_chunk_is_cut_at_word_bounds() -> None:
    content = " ".join(f"w{i}" for i in range(10))
    assert chunks("Human", content, max_words=4) == [
        "Human: w0 w1 w2 w3",
        "Human: w4 w5 w6 w7",
        "Human: w8 w9",
    ]


def test_chunks_keep_every_word_in_order() -> None:
    content = "A b c. " * 20 + "The wifi password is pinecone42. " + "D e f! " * 20
    joined = " ".join(c.split(": ", 1)[1] for c in chunks("Human", content, 10))
    assert joined.split() == content.split()


def test_sentences_split_on_end_marks_and_newlines() -> None:
    assert sentences("Hi. How are you?\nFine… thanks") == ["Hi.", "How are you?", "Fine…", "thanks"]


def test_a_chunk_ranking_becomes_a_message_ranking_at_each_best_chunk() -> None:
    assert first_of_each(["m2", "m1", "m2", "m3", "m1"]) == ["m2", "m1", "m3"]


def test_owners_name_the_message_of_every_chunk() -> None:
    assert owners([["a"], ["b1", "b2"], ["c"]], ["m1", "m2", "m3"]) == ["m1", "m2", "m2", "m3"]
