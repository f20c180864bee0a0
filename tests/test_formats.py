import pytest

from logitscope.errors import UserError
from logitscope.kernels.models.formats import Format, bos_prefix, encode_text


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_raw_adds_bos_once(bl_tok):
    bos = bl_tok.convert_tokens_to_ids("<|begin_of_text|>")
    got = Format("raw").encode(bl_tok, "Move: rock", "Move:")
    assert got == [bos] + ids(bl_tok, "Move: rock\nMove:")
    assert got.count(bos) == 1
    # text that already starts with BOS keeps exactly one
    assert encode_text(bl_tok, "<|begin_of_text|>Move:") == [bos] + ids(bl_tok, "Move:")


def test_tulu_exact_ids(bl_tok):
    bos = bl_tok.convert_tokens_to_ids("<|begin_of_text|>")
    got = Format("tulu").encode(bl_tok, "Pick", "Number:")
    want = [bos] + ids(bl_tok, "<|user|>\nPick\n<|assistant|>\nNumber:")
    assert got == want
    assert bl_tok.convert_ids_to_tokens(got[:2]) == ["<|begin_of_text|>", "<|user|>"]


def test_tulu_multi_turn_closes_assistant_with_eos(bl_tok):
    text = Format("tulu").text(bl_tok, ["a", "Move: rock", "b"], "Move:")
    assert text == "<|user|>\na\n<|assistant|>\nMove: rock<|end_of_text|>\n<|user|>\nb\n<|assistant|>\nMove:"


def test_llama3_instruct_has_system_prompt_and_single_bos(bl_tok):
    got = Format("llama3-instruct").encode(bl_tok, "Pick", "Number:")
    toks = bl_tok.convert_ids_to_tokens(got)
    assert toks[:2] == ["<|begin_of_text|>", "<|start_header_id|>"]
    assert toks.count("<|begin_of_text|>") == 1
    text = bl_tok.decode(got)
    assert "You are an expert at following human instructions.<|eot_id|>" in text
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\nNumber:")


def test_chat_uses_tokenizer_template(bl_tok):
    got = Format("chat").encode(bl_tok, "Pick", "Number:")
    want = encode_text(bl_tok, bl_tok.apply_chat_template([{"role": "user", "content": "Pick"}],
                                                          add_generation_prompt=True, tokenize=False) + "Number:")
    assert got == want
    assert bl_tok.convert_ids_to_tokens(got).count("<|begin_of_text|>") == 1


def test_chat_without_template_is_a_user_error(sp_tok):
    with pytest.raises(UserError, match="no chat template"):
        Format("chat").encode(sp_tok, "Pick")


def test_sentencepiece_bos_prefix(sp_tok):
    assert bos_prefix(sp_tok) == [sp_tok.convert_tokens_to_ids("<bos>")]
    got = Format("raw").encode(sp_tok, "rock")
    assert sp_tok.convert_ids_to_tokens(got)[0] == "<bos>"


def test_bad_format_and_empty_prompt(bl_tok):
    with pytest.raises(UserError, match="unknown format"):
        Format("alpaca")
    with pytest.raises(UserError, match="empty prompt"):
        Format("raw").encode(bl_tok, "   ")
