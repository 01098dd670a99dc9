"""textgen/classify/data.py: .jsonl, .csv and .gz read the same examples; every bad input is one
error naming the file and line; label sets (ordinal, nominal) and class weights."""

from __future__ import annotations

import gzip
import json

import pytest

from textgen.classify.data import Labels, check_known, class_weights, labels_of, read_labelled
from textgen.data.corpus import CorpusWarning
from textgen.errors import TextgenError

ROWS = [("Great taffy, lovely.", 5), ("Stale and, sadly, \"hard\".", 1), ("Fine.\nNothing more.", 3), ("Good value", 5)]


def write_jsonl(path, rows, text="text", label="rating"):
    path.write_text("".join(json.dumps({text: t, label: r}) + "\n" for t, r in rows), encoding="utf-8")
    return path


def write_csv(path, rows):
    import csv

    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("\ufeff")  # a spreadsheet's byte-order mark
        writer = csv.writer(file)
        writer.writerow(["rating", "text"])
        writer.writerows([(r, t) for t, r in rows])
    return path


def test_jsonl_csv_and_gz_read_the_same_examples(tmp_path):
    jsonl = write_jsonl(tmp_path / "reviews.jsonl", ROWS)
    csv_file = write_csv(tmp_path / "reviews.csv", ROWS)
    packed = tmp_path / "reviews.jsonl.gz"
    packed.write_bytes(gzip.compress(jsonl.read_bytes()))
    expected = [(t, str(r)) for t, r in ROWS]
    for path in (jsonl, csv_file, packed):
        data = read_labelled(path)
        assert [(e.text, e.label) for e in data.examples] == expected, path
    assert [e.line for e in read_labelled(jsonl).examples] == [1, 2, 3, 4]
    assert [e.line for e in read_labelled(csv_file).examples] == [2, 3, 4, 6]  # the quoted text of line 4 spans two lines
    assert read_labelled(csv_file).format == "csv" and read_labelled(packed).format == "jsonl"


def test_other_field_names(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", ROWS, text="review", label="stars")
    data = read_labelled(path, text_field="review", label_field="stars")
    assert data.counts() == {"5": 2, "1": 1, "3": 1}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("r.jsonl", '{"text": "ok", "rating": 5}\n{"review": "no label", "score": 2}\n', r'r\.jsonl:2 has no "text" field \(keys: review, score\): name it with --text-field'),
    ("r.jsonl", '{"text": "ok", "score": 5}\n', r'r\.jsonl:1 has no "rating" field \(keys: score, text\): name it with --label-field'),
    ("r.jsonl", '{"text": "ok", "rating": 5}\n{"text": "   ", "rating": 4}\n', r'r\.jsonl:2: "text" is empty: every example needs text'),
    ("r.jsonl", '{"text": 7, "rating": 4}\n', r'r\.jsonl:1: "text" is int, not text'),
    ("r.jsonl", '{"text": "ok", "rating": null}\n', r'r\.jsonl:1: "rating" is null: a label is a number or a string'),
    ("r.jsonl", '{"text": "ok", "rating": true}\n', r'"rating" is true or false'),
    ("r.jsonl", '{"text": "ok", "rating": [5]}\n', r'"rating" is a list'),
    ("r.jsonl", '{"text": "ok", "rating": ""}\n', r'r\.jsonl:1: "rating" is empty: every example needs a label'),
    ("r.jsonl", '{"text": "ok", "rating": 5}\n{"text": broken\n', r'r\.jsonl:2 is not valid JSON'),
    ("r.jsonl", '[1, 2]\n', r'r\.jsonl:1 is a list, not a JSON object'),
    ("r.jsonl", '\n\n', r'holds no examples'),
    ("r.csv", "Great taffy,5\nStale,1\n", r'no header row naming "text" and "rating" \(first row: "Great taffy", "5"\)'),
    ("r.csv", "text,rating\nGreat,5\nStale,1,extra\n", r"r\.csv:3 has 3 columns, the header 2"),
    ("r.csv", "text,rating\n,5\n", r'r\.csv:2: "text" is empty'),
])
def test_bad_input_is_one_error_naming_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextgenError, match=message):
        read_labelled(path)


def test_other_suffixes_and_missing_files_are_refused(tmp_path):
    with pytest.raises(TextgenError, match=r"must be \.jsonl or \.csv"):
        read_labelled(tmp_path / "reviews.txt")
    with pytest.raises(TextgenError, match="cannot read"):
        read_labelled(tmp_path / "missing.jsonl")


def test_whole_number_labels_are_ordinal_and_sorted_numerically(tmp_path):
    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", [("a", 10), ("b", 9), ("c", 2), ("d", 10)]))
    labels = labels_of(data)
    assert labels == Labels(("2", "9", "10"), ordinal=True) and labels.values == (2.0, 9.0, 10.0)
    assert labels_of(data, ordinal=False).ordinal is False
    assert Labels.from_dict(labels.to_dict()) == labels


def test_string_labels_keep_their_first_order_and_are_nominal(tmp_path):
    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", [("a", "pos"), ("b", "neg"), ("c", "pos")]))
    labels = labels_of(data)
    assert labels.names == ("pos", "neg") and not labels.ordinal and labels.values is None
    with pytest.raises(TextgenError, match='--ordinal needs number labels, and .* has "pos"'):
        labels_of(data, ordinal=True)


def test_one_class_is_refused_and_unseen_labels_name_their_line(tmp_path):
    single = read_labelled(write_jsonl(tmp_path / "one.jsonl", [("a", 5), ("b", 5)]))
    with pytest.raises(TextgenError, match=r'one class only \("5" on all 2 examples\)'):
        labels_of(single)
    labels = labels_of(read_labelled(write_jsonl(tmp_path / "train.jsonl", ROWS)))
    valid = read_labelled(write_jsonl(tmp_path / "valid.jsonl", [("a", 5), ("b", 6)]))
    with pytest.raises(TextgenError, match=r'valid\.jsonl:2 has label "6", which the training data never has \(classes 1, 3, 5\)'):
        check_known(valid, labels)
    check_known(read_labelled(write_jsonl(tmp_path / "ok.jsonl", [("a", 1), ("b", 3)])), labels)  # known labels pass


def test_class_weights(tmp_path):
    """Counts 6, 3, 1: balanced weights are n / (k * count), rescaled so the mean weight over the
    examples is 1; sqrt is milder; none is all ones; an unknown mode names the known ones."""
    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", [("x", 5)] * 6 + [("y", 4)] * 3 + [("z", 1)]))
    labels = labels_of(data)  # ("1", "4", "5")
    counts = [1, 3, 6]
    for mode in ("balanced", "sqrt"):
        weights = class_weights(data, labels, mode)
        assert sum(w * c for w, c in zip(weights, counts)) / 10 == pytest.approx(1.0)
        assert weights[0] > weights[1] > weights[2]
    balanced, mild = class_weights(data, labels, "balanced"), class_weights(data, labels, "sqrt")
    assert balanced[0] / balanced[2] == pytest.approx(6.0) and mild[0] / mild[2] == pytest.approx(6.0 ** 0.5)
    assert class_weights(data, labels, "none") == [1.0, 1.0, 1.0]
    with pytest.raises(TextgenError, match="none, balanced, sqrt"):
        class_weights(data, labels, "inverse")


def test_examples_are_encoded_as_the_language_model_reads_a_story(tmp_path, sentencepiece_tokenizer):
    from textgen.classify.data import encode_examples
    from textgen.tokenizer import BOS_ID, EOS_ID

    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", [("  Lily saw a cat.  \n\n The end. ", 5), ("Tom ran " * 40, 1)]))
    labels = labels_of(data)
    expected = [BOS_ID] + sentencepiece_tokenizer.encode("Lily saw a cat.\nThe end.") + [EOS_ID]
    size = len(expected)  # the first text just fits; the second is longer
    encoded = encode_examples(data, labels, sentencepiece_tokenizer, max_tokens=size)
    assert encoded.ids[0].tolist() == expected
    assert encoded.ids[1].tolist() == ([BOS_ID] + sentencepiece_tokenizer.encode("Tom ran " * 40))[:size]
    assert encoded.truncated == 1 and encoded.targets.tolist() == [1, 0] and encoded.lengths.tolist() == [size, size]
    assert encoded.tokens == 2 * size and encoded.unknown == 0
    assert encode_examples(data, None, sentencepiece_tokenizer, size).targets.tolist() == [-1, -1]


def test_batch_order_is_a_function_of_seed_and_epoch_covers_every_example_and_pads_little():
    import numpy as np

    from textgen.classify.data import batch_order

    lengths = np.random.default_rng(0).integers(3, 300, size=1000)
    first = batch_order(lengths, 16, seed=1, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in batch_order(lengths, 16, seed=1, epoch=0)]
    assert [b.tolist() for b in first] != [b.tolist() for b in batch_order(lengths, 16, seed=1, epoch=1)]
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in first)
    shuffled = np.random.default_rng(2).permutation(1000)
    unsorted = sum(16 * lengths[shuffled[i:i + 16]].max() for i in range(0, 1000, 16))
    assert padded < 0.7 * unsorted  # sorting within windows cuts the padding


def test_a_padded_batch_keeps_each_texts_ids_and_length(tmp_path, sentencepiece_tokenizer):
    import numpy as np

    from textgen.classify.data import encode_examples, pad_batch
    from textgen.tokenizer import PAD_ID

    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", ROWS))
    encoded = encode_examples(data, labels_of(data), sentencepiece_tokenizer, 64)
    tokens, lengths, targets = pad_batch(encoded, np.array([2, 0]))
    assert lengths.tolist() == [len(encoded.ids[2]), len(encoded.ids[0])]
    assert tokens[1, : lengths[1]].tolist() == encoded.ids[0].tolist()
    assert (tokens[1, lengths[1]:] == PAD_ID).all() and targets.tolist() == [encoded.targets[2], encoded.targets[0]]


def test_labels_that_only_look_like_numbers_are_nominal(tmp_path):
    data = read_labelled(write_jsonl(tmp_path / "r.jsonl", [("a", "\u00b2"), ("b", "1"), ("c", "--5")]))
    with pytest.warns(CorpusWarning, match='"rating" has number labels and others \\("\u00b2"\\), so all are read as plain '
                                           'unordered classes: is "\u00b2" a mistake\\?'):
        labels = labels_of(data)
    assert not labels.ordinal and labels.names == ("\u00b2", "1", "--5")


def test_decimal_labels_are_numbers_sorted_and_ordinal_and_say_so(tmp_path):
    """Ratings 1.0, 2.5, 4.0 (JSON numbers, and CSV text "4.0", "2.50"): one class per number ("4.0" and
    4 are one), sorted numerically, ordinal with their values, and a note says how they were read."""
    jsonl = write_jsonl(tmp_path / "half.jsonl", [("a", 4.0), ("b", 2.5), ("c", 1.0), ("d", 4), ("e", 2.5)])
    csv_file = write_csv(tmp_path / "half.csv", [("a", "4.0"), ("b", "2.50"), ("c", "1"), ("d", "4"), ("e", " 2.5")])
    for path in (jsonl, csv_file):
        data = read_labelled(path)
        assert [example.label for example in data.examples] == ["4", "2.5", "1", "4", "2.5"], path
        with pytest.warns(CorpusWarning, match=r'the labels of "rating" are numbers \(1, 2\.5, 4\), read as ordered ratings '
                                               r'\(the mean absolute error applies\): --nominal makes them plain classes'):
            labels = labels_of(data)
        assert labels == Labels(("1", "2.5", "4"), ordinal=True) and labels.values == (1.0, 2.5, 4.0)
    assert labels_of(data, ordinal=False) == Labels(("1", "2.5", "4"), ordinal=False)  # chosen: no note
    assert labels_of(data, ordinal=True).ordinal
    negative = read_labelled(write_jsonl(tmp_path / "n.jsonl", [("a", -0.0), ("b", "-1.50"), ("c", 10)]))
    assert labels_of(negative, ordinal=True).names == ("-1.5", "0", "10")


def test_thousands_of_labels_are_refused_as_the_wrong_column(tmp_path):
    """10,000 labels with one example each (an id column): one line naming the count, the field and
    the fix, before anything is built; number labels add the advice for scores."""
    ids = read_labelled(write_jsonl(tmp_path / "ids.jsonl", [(f"text {i}", f"id-{i}") for i in range(10_000)], label="id"),
                        label_field="id")
    with pytest.raises(TextgenError) as error:
        labels_of(ids)
    assert str(error.value) == (f"{tmp_path / 'ids.jsonl'} has 10,000 different labels in \"id\", more than the 100 "
                                "classes a classifier takes: is --label-field the right column?")
    scores = read_labelled(write_jsonl(tmp_path / "scores.jsonl", [(f"text {i}", i / 1000) for i in range(500)]))
    with pytest.raises(TextgenError, match=r"has 500 different labels .*right column\? If these numbers are scores, round them"):
        labels_of(scores)


def test_many_classes_of_one_example_are_refused_and_a_stray_one_is_noted(tmp_path):
    single = read_labelled(write_jsonl(tmp_path / "one.jsonl", [(f"text {i}", f"c{i}") for i in range(100)]))
    with pytest.raises(TextgenError, match=r'one\.jsonl: 100 of the 100 labels in "rating" have one example each, too few to '
                                           r"learn a class from: is --label-field the right column\?"):
        labels_of(single)
    rows = [(f"t {i}", 1 + i % 4) for i in range(100)] + [("odd", 7), ("one", 9)]
    mostly = read_labelled(write_jsonl(tmp_path / "mostly.jsonl", rows))
    with pytest.warns(CorpusWarning, match=r'labels "7", "9" of "rating" have one example only, too few to learn a class from: '
                                           r"add examples or merge the class into another"):
        assert labels_of(mostly).names == ("1", "2", "3", "4", "7", "9")


def test_a_model_description_with_too_many_labels_is_refused():
    assert Labels.from_dict({"names": [str(i) for i in range(100)], "ordinal": True}).names[-1] == "99"
    for names in ([str(i) for i in range(101)], ["1"], "12"):
        with pytest.raises(TextgenError, match="a classifier has 2 to 100 labels"):
            Labels.from_dict({"names": names, "ordinal": False})


def test_csv_rows_and_fields_are_capped_while_they_are_read(tmp_path):
    """A quote left open: a field past csv's own limit, or a row of many short quoted fields past the
    row cap, is refused naming the line where the row starts, without reading the rest."""
    from tests.conftest import write_repeated

    long_field = write_repeated(tmp_path / "field.csv", b"word word word word\n", 1_000_000, head=b'text,rating\nfine,5\n"')
    with pytest.raises(TextgenError, match=r'field\.csv:3 has a field longer than 131,072 characters: is a quote left open\?'):
        read_labelled(long_field)
    many = write_repeated(tmp_path / "many.csv", b'x\n","', 1_500_000, head=b'text,rating\nfine,5\n"')
    with pytest.raises(TextgenError) as error:
        read_labelled(many)
    assert str(error.value) == (f"{many}:3 starts a row longer than 1,000,000 characters: is a quote left open? "
                                'Close it (a quote inside a field is written "")')


def test_labelled_data_lines_are_capped_and_devices_refused(tmp_path):
    from tests.conftest import write_repeated

    huge = write_repeated(tmp_path / "huge.jsonl", b"x", 2_000_000, head=b'{"text": "ok", "rating": 1}\n{"text": "')
    with pytest.raises(TextgenError, match=r"line 2 of .*huge\.jsonl is longer than 1,000,000 bytes"):
        read_labelled(huge)
    zeros = write_repeated(tmp_path / "zeros.jsonl.gz", b"\0", 32 << 20, compress=True)
    with pytest.raises(TextgenError, match=r"zeros\.jsonl\.gz looks like a binary file"):
        read_labelled(zeros)
    device = tmp_path / "device.csv"
    device.symlink_to("/dev/zero")
    with pytest.raises(TextgenError, match=r"device\.csv is a device or socket, not a regular file"):
        read_labelled(device)


def test_a_long_label_is_cut_in_messages(tmp_path):
    """A 100,000-character label was quoted whole, on one line, in every message naming it."""
    long_label = "x" * 100_000
    single = read_labelled(write_jsonl(tmp_path / "one.jsonl", [("a", long_label), ("b", long_label)]))
    with pytest.raises(TextgenError, match=r"\(100,000 characters\)") as raised:
        labels_of(single)
    assert len(str(raised.value)) < 400
    labels = labels_of(read_labelled(write_jsonl(tmp_path / "train.jsonl", ROWS)))
    valid = read_labelled(write_jsonl(tmp_path / "valid.jsonl", [("a", 5), ("b", long_label)]))
    with pytest.raises(TextgenError, match=r"valid\.jsonl:2 has label \"x{80}\.\.\. \(100,000 characters\)\"") as raised:
        check_known(valid, labels)
    assert len(str(raised.value)) < 400
