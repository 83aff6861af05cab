"""The verifier of generated answers, on hand-written answers against passages of the two articles."""

import pytest

from assistant.answering.verify import check_answer, split_cited, support

SHORE = (
    "The French Government recently announced that officers could intercept boats leaving within 300 metres of the "
    "shoreline. While this has not come into effect yet, the interior ministry is set to change the current policy."
)
UNION = (
    "But now Alliance, the largest police union in France, has said it is too dangerous for its members to carry out "
    "arrests at sea while trying to force a boat to change course."
)
PASSAGES = {1: (SHORE, 0, len(SHORE)), 2: (UNION, 0, len(UNION))}


@pytest.fixture(scope="module")
def check(encoder):
    return lambda answer: check_answer(answer, PASSAGES, encoder.encode)


def test_a_supported_paraphrase_with_its_citation(check):
    [sentence] = check("Officers may intercept boats leaving within 300 metres of the shoreline [1].")
    assert sentence.verdict == "supported" and sentence.cites == [1] and sentence.support >= 0.8
    assert sentence.evidence == (1, 0, SHORE.index(" While"))  # the exact passage sentence it leans on


def test_a_wrong_number_is_unsupported(check):
    [sentence] = check("Officers may intercept boats leaving within 500 metres of the shoreline [1].")
    assert sentence.verdict == "unsupported" and sentence.support <= 0.3


def test_the_right_fact_with_the_wrong_source_is_unsupported(check):
    [sentence] = check("Alliance is the largest police union in France [1].")
    assert sentence.verdict == "unsupported"
    [moved] = check("Alliance is the largest police union in France [2].")
    assert moved.verdict == "supported"


def test_an_invented_citation_number_is_removed(check):
    [sentence] = check("Alliance is the largest police union in France [2][7].")
    assert sentence.cites == [2] and sentence.invented == [7] and sentence.verdict == "supported"
    [only_invented] = check("Alliance is the largest police union in France [9].")
    assert only_invented.cites == [] and only_invented.verdict == "uncited"


def test_a_sentence_without_citation_is_uncited(check):
    first, second = check("Alliance is the largest police union in France [2]. Macron will visit London next week.")
    assert first.verdict == "supported" and second.verdict == "uncited"


def test_a_name_the_passage_never_mentions_is_not_supported(check):
    [sentence] = check("Unison is the largest police union in France [2].")
    assert sentence.verdict == "unsupported"
    assert support("Rishi Sunak will visit the UK.", "when Emmanuel Macron will visit the UK") <= 0.5


def test_citations_after_the_full_stop_belong_to_the_sentence_before():
    assert split_cited("One fact. [1] Another fact [2][3]. A third [1, 2].") == [
        ("One fact.", [1]),
        ("Another fact.", [2, 3]),
        ("A third.", [1, 2]),
    ]


def test_an_irregular_verb_form_supports_its_base_form():
    passage = "In a letter written by Sir Keir to Mr Macron last month, the Prime Minister said: 'It is essential.'"
    assert support("Sir Keir wrote to Mr Macron last month.", passage) == 1.0
    assert support("Sir Keir phoned Mr Macron last month.", passage) < 1.0
