"""autopipe_core.toolkit.tokenizers: each builder gives the class its pipelines take, the vocabulary it says, real tokenization, and a folder that loads back."""

from __future__ import annotations

import gc

import pytest

from autopipe_core.toolkit import tokenizers

PROMPT = "a photo of a cat"

#: builder, keywords, class name, len(tokenizer), model_max_length (None: the library's "no limit").
CASES = {
    "clip": (tokenizers.clip, {}, "CLIPTokenizer", 49408, 77),
    "clip_characters": (tokenizers.clip_characters, {}, "CLIPTokenizer", 138, 77),
    "t5": (tokenizers.t5, {}, "T5Tokenizer", 192, 512),
    "xlm_roberta": (tokenizers.xlm_roberta, {}, "XLMRobertaTokenizer", 142, 512),
    "bert": (tokenizers.bert, {}, "BertTokenizer", 141, 512),
    "gemma": (tokenizers.gemma, {}, "GemmaTokenizer", 194, None),
    "llama": (tokenizers.llama, {}, "LlamaTokenizer", 192, None),
    "qwen2": (tokenizers.qwen2, {}, "Qwen2Tokenizer", 259, None),
    "glm": (tokenizers.glm, {}, "TokenizersBackend", 266, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_builder_gives_its_class_its_vocabulary_and_its_length(name):
    build, kwargs, cls, size, limit = CASES[name]
    tok = build(**kwargs)
    assert type(tok).__name__ == cls and len(tok) == size
    if limit is None:
        assert tok.model_max_length > 10**9
    else:
        assert tok.model_max_length == limit


def test_the_fast_names_the_pipelines_annotate_are_the_same_classes():
    """diffusers' SD3 and FLUX take T5TokenizerFast, Sana GemmaTokenizerFast, CogView4 a PreTrainedTokenizerFast: in transformers 5 these are the builders' classes."""
    import transformers

    assert isinstance(tokenizers.t5(), transformers.T5TokenizerFast)
    assert isinstance(tokenizers.gemma(), transformers.GemmaTokenizerFast)
    assert isinstance(tokenizers.llama(), transformers.LlamaTokenizerFast)
    assert isinstance(tokenizers.qwen2(), transformers.Qwen2TokenizerFast)
    assert isinstance(tokenizers.glm(), transformers.PreTrainedTokenizerFast)
    assert isinstance(tokenizers.clip(), transformers.CLIPTokenizerFast)


def test_the_real_clip_tokenizer_gives_clips_own_ids():
    tok = tokenizers.clip()
    assert tok(PROMPT).input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok("A PHOTO of a dog").input_ids == [49406, 320, 1125, 539, 320, 1929, 49407]  # lower-cased, as CLIP reads
    assert tok.convert_ids_to_tokens([1125, 2368, 1929]) == ["photo</w>", "cat</w>", "dog</w>"]
    padded = tok(PROMPT, padding="max_length", max_length=tok.model_max_length).input_ids
    assert len(padded) == 77 and padded[7:] == [49407] * 70  # CLIP pads with <|endoftext|>
    long = tok("a photo of an astronaut " * 30, truncation=True, max_length=tok.model_max_length).input_ids
    assert len(long) == 77 and long[-1] == 49407


def test_the_clip_vocabulary_is_clips_and_each_call_gets_its_own_copy():
    vocab, merges = tokenizers.clip_bpe()
    assert len(vocab) == 49408 and len(merges) == 48894 and merges[0] == ("i", "n")
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407 and vocab["cat</w>"] == 2368
    vocab["cat</w>"] = 0
    merges.clear()
    again, merges_again = tokenizers.clip_bpe()
    assert again["cat</w>"] == 2368 and len(merges_again) == 48894
    assert (tokenizers.CLIP_BPE / "LICENSE").is_file()


def test_a_tokenizer_config_gives_the_clip_tokenizer_its_special_tokens_and_length():
    tok = tokenizers.clip_from_config({"pad_token": "!", "model_max_length": 64, "tokenizer_class": "CLIPTokenizer"})
    assert (tok.pad_token, tok.pad_token_id, tok.model_max_length) == ("!", 0, 64)  # "!" is CLIP's first byte symbol
    assert tokenizers.clip_from_config({}).model_max_length == 77


def test_the_tiny_clip_tokenizer_tokenizes_characters_and_pads_to_77():
    tok = tokenizers.clip_characters()
    assert tok.convert_ids_to_tokens(tok("A cat").input_ids) == ["<|startoftext|>", "a</w>", "c", "a", "t</w>", "<|endoftext|>"]
    ids = tok(PROMPT, padding="max_length", max_length=tok.model_max_length).input_ids
    assert len(ids) == 77 and ids[:2] == [0, tok.convert_tokens_to_ids("a</w>")] and ids[-1] == tok.pad_token_id == 1
    second = tokenizers.clip_characters(pad_token="!")  # SDXL's tokenizer_2
    assert second.pad_token == "!" and second(PROMPT, padding="max_length", max_length=77).input_ids[-1] == second.convert_tokens_to_ids("!")


@pytest.mark.parametrize("build, specials", [(tokenizers.t5, ("<pad>", "</s>", "<unk>")), (tokenizers.xlm_roberta, ("<s>", "<pad>", "</s>", "<unk>"))])
def test_the_unigram_tokenizers_mark_word_starts_and_pad_where_asked(build, specials):
    tok = build(model_max_length=77)  # DeepFloyd IF and Kandinsky 2.1 pad to 77
    assert tok.convert_ids_to_tokens(list(range(len(specials)))) == list(specials)
    pieces = [t for t in tok.convert_ids_to_tokens(tok("a fox").input_ids) if t not in specials]
    assert pieces == ["\u2581a", "\u2581f", "o", "x"]
    ids = tok(PROMPT, padding="max_length", max_length=tok.model_max_length).input_ids
    assert len(ids) == 77 and ids[-1] == tok.pad_token_id and tok.eos_token_id in ids


def test_t5_has_no_sentinels_unless_asked():
    assert not any(t.startswith("<extra_id_") for t in tokenizers.t5().get_vocab())
    assert len(tokenizers.t5(extra_ids=3)) == 195


def test_unigram_characters_scores_a_word_start_better_as_one_piece():
    pieces = dict(tokenizers.unigram_characters(("<pad>",), "ab"))
    assert list(pieces) == ["<pad>", "\u2581", "a", "b", "\u2581a", "\u2581b"]
    assert pieces["\u2581a"] > pieces["\u2581"] + pieces["a"]


def test_the_sentencepiece_bpe_kinds_start_with_their_token_and_mark_words():
    gemma, llama = tokenizers.gemma(), tokenizers.llama()
    assert gemma.convert_ids_to_tokens(gemma(PROMPT).input_ids)[:4] == ["<bos>", "a", "\u2581p", "h"]  # Gemma marks spaces, not the first word
    assert llama.convert_ids_to_tokens(llama(PROMPT).input_ids)[:4] == ["<s>", "\u2581a", "\u2581p", "h"]
    assert gemma.decode(gemma(PROMPT).input_ids, skip_special_tokens=True) == PROMPT
    assert (gemma.pad_token_id, gemma.eos_token_id, gemma.bos_token_id) == (0, 1, 2)
    assert llama.pad_token is None and tokenizers.llama(pad_token="</s>").pad_token_id == 2


def test_qwen2_reads_bytes_and_keeps_its_chat_markers_whole():
    tok = tokenizers.qwen2()
    ids = tok("<|im_start|>user\nA caf\u00e9<|im_end|>").input_ids
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>") and ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")
    assert len(ids) == 2 + len("user\nA caf\u00e9".encode())  # one token a byte, no start token
    assert tok.decode(ids) == "<|im_start|>user\nA caf\u00e9<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_glm_starts_each_sequence_as_glm4_does_and_pads_on_the_left():
    tok = tokenizers.glm()
    ids = tok("a cat", padding="max_length", max_length=10).input_ids
    assert tok.convert_ids_to_tokens(ids[-7:-5]) == ["[gMASK]", "<sop>"] and ids[:3] == [tok.pad_token_id] * 3
    assert tok.decode(ids, skip_special_tokens=True) == "a cat"
    with pytest.raises(ValueError, match=r"\[gMASK\]"):
        tokenizers.glm({"a": 0, "<|endoftext|>": 1}, [])


def test_chatglm_is_diffusers_kolors_tokenizer_and_its_file_lives_with_it(tmp_path):
    pytest.importorskip("sentencepiece")
    from diffusers.pipelines.kolors import ChatGLMTokenizer

    tok = tokenizers.chatglm()
    assert isinstance(tok, ChatGLMTokenizer) and tok.vocab_size == 192 + 9
    encoded = tok(PROMPT, padding="max_length", max_length=24)
    assert tok.convert_ids_to_tokens(encoded["input_ids"][-14:-10]) == ["[gMASK]", "sop", "\u2581a", "\u2581p"]
    assert encoded["input_ids"][:6] == [0] * 6 and encoded["attention_mask"][:6] == [0] * 6  # left, with <unk>
    model = tok.vocab_file
    tok.save_pretrained(tmp_path / "saved")
    assert ChatGLMTokenizer.from_pretrained(tmp_path / "saved")(PROMPT).input_ids == tok(PROMPT).input_ids
    del tok, encoded
    gc.collect()
    import os

    assert not os.path.exists(model)  # the temporary tokenizer.model went with the tokenizer
    kept = tokenizers.chatglm(folder=tmp_path / "spm")
    assert (tmp_path / "spm" / "tokenizer.model").is_file() and kept.vocab_file == str(tmp_path / "spm" / "tokenizer.model")
    with pytest.raises(ValueError, match="<unk>"):
        tokenizers.chatglm([("<s>", 0.0), ("</s>", 0.0), ("a", -1.0)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_saved_tokenizer_loads_back_with_the_same_ids(name, tmp_path):
    """What save_pretrained writes into a tiny checkpoint, the pipeline loads back with the same class and the same ids."""
    from transformers import AutoTokenizer

    build, kwargs, cls, _, _ = CASES[name]
    tok = build(**kwargs)
    tok.save_pretrained(tmp_path)
    back = type(tok).from_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    prompt = "A red fox, 2 owls & a cat!"
    assert back(prompt).input_ids == tok(prompt).input_ids == again(prompt).input_ids
    assert type(again).__name__ == cls
