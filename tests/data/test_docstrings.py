"""The standard-library docstring corpus, its tokenizer and vocabulary."""

import json

import numpy as np
import pytest

from funcnet.data.docstrings import (
    DEFAULT_MODULES,
    UNK,
    build_vocab,
    encode,
    stdlib_docstrings,
    word_tokens,
)


@pytest.fixture(scope="module")
def corpus():
    return stdlib_docstrings()


def test_default_corpus_is_large_and_deterministic(corpus):
    assert len(corpus) > 500_000
    assert len(word_tokens(corpus)) > 80_000
    assert stdlib_docstrings() == corpus
    assert len(DEFAULT_MODULES) == len(set(DEFAULT_MODULES))


def test_corpus_holds_known_docstrings_in_module_order():
    text = stdlib_docstrings(("json", "heapq"))
    json_dumps = text.index(json.dumps.__doc__.strip().splitlines()[0])
    heappush = text.index("Push item onto heap, maintaining the heap invariant.")
    assert json_dumps < heappush  # modules in the order given
    # within a module: the module's docstring first, then its members by name (dumps, load,
    # loads)
    assert text.index(json.__doc__.strip().splitlines()[0]) < json_dumps
    assert json_dumps < text.index("Deserialize ``fp``") < text.index("Deserialize ``s``")


def test_docstrings_are_dedented_and_each_object_counted_once():
    text = stdlib_docstrings(("json", "json"))
    assert text == stdlib_docstrings(("json",))
    assert "\n        " not in text.split("\n\n")[1]  # cleandoc removed the indentation


def test_modules_that_fail_to_import_are_skipped():
    assert stdlib_docstrings(("no_such_module_funcnet",)) == ""
    assert stdlib_docstrings(("no_such_module_funcnet", "heapq")) == stdlib_docstrings(("heapq",))


def test_word_tokens_lowercase_letters_only():
    assert word_tokens("Return os.path_join(a, b2)! It's 3 O'Clock.") == [
        "return", "os", "path", "join", "a", "b", "it", "s", "o", "clock",
    ]  # fmt: skip
    assert word_tokens("") == [] and word_tokens("123 -- ...") == []


def test_build_vocab_orders_by_count_then_alphabet_with_unk_first():
    tokens = ["b", "a", "c", "a", "b", "a", "d"]
    vocab = build_vocab(tokens)
    assert vocab.words == (UNK, "a", "b", "c", "d")
    assert vocab.counts == (0, 3, 2, 1, 1)
    assert vocab.index["a"] == 1 and len(vocab) == 5


def test_build_vocab_min_count_and_max_size_send_the_rest_to_unk():
    tokens = ["b", "a", "c", "a", "b", "a", "d"]
    vocab = build_vocab(tokens, min_count=2)
    assert vocab.words == (UNK, "a", "b") and vocab.counts == (2, 3, 2)
    small = build_vocab(tokens, max_size=2)
    assert small.words == (UNK, "a") and small.counts[0] == 4
    np.testing.assert_array_equal(encode(["a", "b", "z", "c"], vocab), [1, 2, 0, 0])
    assert encode([], vocab).dtype == np.int32


def test_build_vocab_rejects_bad_limits():
    with pytest.raises(ValueError, match="build_vocab: expected max_size >= 2 or None, got 1"):
        build_vocab(["a"], max_size=1)
    with pytest.raises(ValueError, match="build_vocab: expected min_count to be an integer >= 1"):
        build_vocab(["a"], min_count=0)


def test_corpus_vocabulary_has_the_expected_frequent_words(corpus):
    vocab = build_vocab(word_tokens(corpus), min_count=5)
    assert vocab.words[1] == "the"
    for word in ("file", "list", "return", "string", "error", "thread"):
        assert vocab.index[word] < 500, word
