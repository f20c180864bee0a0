import pytest

from logitscope.testing import bytelevel_tokenizer, sentencepiece_tokenizer, tiny_lm


@pytest.fixture(scope="session")
def bl_tok():
    return bytelevel_tokenizer()


@pytest.fixture(scope="session")
def sp_tok():
    return sentencepiece_tokenizer()


@pytest.fixture(scope="session")
def llama_lm(bl_tok):
    return tiny_lm("llama", bl_tok)


@pytest.fixture(scope="session")
def gemma_lm(sp_tok):
    return tiny_lm("gemma3", sp_tok, sliding_window=8)


@pytest.fixture(scope="session")
def qwen_lm(bl_tok):
    return tiny_lm("qwen2", bl_tok)
