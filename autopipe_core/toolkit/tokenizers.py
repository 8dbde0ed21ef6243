"""Tokenizers built in memory with transformers 5: no download, no vocabulary file copied into a plugin.

Each builder returns the tokenizer class of transformers (or diffusers) that
the family's diffusers pipeline takes, so that ``save_pretrained`` writes a
folder the pipeline loads back with the same class:

| builder | class | vocabulary (default) | pipelines that take it |
| --- | --- | --- | --- |
| :func:`clip` | ``CLIPTokenizer`` | CLIP's own 49,408 entries, from the merges shipped in ``data/clip-bpe`` | SD, SDXL, SD3, FLUX, Kandinsky's prior (loading single files) |
| :func:`clip_characters` | ``CLIPTokenizer`` | 138: 2 specials, 68 characters, the same 68 ending a word | the same, tiny checkpoints |
| :func:`t5` | ``T5Tokenizer`` (= ``T5TokenizerFast``) | 192, Unigram over characters | DeepFloyd IF, SD3, FLUX, HunyuanDiT (mT5), CogView3 |
| :func:`xlm_roberta` | ``XLMRobertaTokenizer`` | 142, Unigram over characters | Kandinsky 2.1 |
| :func:`bert` | ``BertTokenizer`` | 141, WordPiece over characters | HunyuanDiT |
| :func:`gemma` | ``GemmaTokenizer`` (= ``GemmaTokenizerFast``) | 194, BPE over characters | Sana (Gemma 2), Lumina |
| :func:`llama` | ``LlamaTokenizer`` (= ``LlamaTokenizerFast``) | 192, BPE over characters | Llama text encoders |
| :func:`qwen2` | ``Qwen2Tokenizer`` (= ``Qwen2TokenizerFast``) | 259, byte-level BPE | Qwen-Image (Qwen2.5-VL) |
| :func:`glm` | ``PreTrainedTokenizerFast`` | 266, byte-level BPE | CogView4 (GLM-4) |
| :func:`chatglm` | diffusers' ``ChatGLMTokenizer`` | 192 SentencePiece pieces (+9 ChatGLM specials) | Kolors (ChatGLM3) |

In transformers 5 the ``...Fast`` names are the same classes. The tiny
vocabularies tokenize for real (a prompt becomes the ids of its characters,
word starts marked as each family marks them); a character outside them is
the unknown token. ``model_max_length`` is 77 for CLIP, as every CLIP-based
pipeline expects; the others keep their model's own limit (512 for T5,
XLM-RoBERTa and BERT; none for the decoder-only kinds), since their pipelines
pass ``max_length`` themselves: pass ``model_max_length=`` where a family
wants another (DeepFloyd IF and Kandinsky 2.1 pad to 77).

Importing this module imports no transformers; every builder does. Every
builder needs transformers 5 (older releases cannot build these classes
from a vocabulary in memory) and says so otherwise.
"""

from __future__ import annotations

import functools
import gzip
import string
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["CHARACTERS", "CLIP_BPE", "CLIP_MAX_LENGTH", "CLIP_SPECIALS", "GLM_SPECIALS", "LETTERS", "QWEN2_SPECIALS", "SPECIAL_TOKEN_KEYS", "WORD_START", "bert", "bpe_characters", "byte_level", "bytes_to_unicode", "chatglm", "clip", "clip_bpe", "clip_characters", "clip_from_config", "gemma", "glm", "llama", "qwen2", "t5", "unigram_characters", "xlm_roberta"]

#: The tiny CLIP and XLM-RoBERTa vocabularies' characters (CLIP lower-cases what it reads).
CHARACTERS = string.ascii_lowercase + string.digits + string.punctuation
#: The tiny T5, Gemma, Llama and ChatGLM vocabularies' characters (they keep case).
LETTERS = string.ascii_letters + string.digits + string.punctuation
#: SentencePiece's word-start marker.
WORD_START = "\u2581"
#: CLIP's context length: 77 tokens, start and end included.
CLIP_MAX_LENGTH = 77
#: The folder of the shipped CLIP merges and their licence (MIT, OpenAI CLIP via open_clip).
CLIP_BPE = Path(__file__).parent / "data" / "clip-bpe"
#: CLIP's special tokens (ids 49406 and 49407 in the real vocabulary, 0 and 1 in the tiny one).
CLIP_SPECIALS = ("<|startoftext|>", "<|endoftext|>")
#: The special-token keys of a tokenizer_config.json that the CLIP builders take.
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


def _transformers_5(what: str) -> None:
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        raise RuntimeError(
            f"the {what} tokenizer is built in memory from its vocabulary, which needs transformers>=5 "
            f"(installed: {transformers.__version__})"
        )


# --------------------------------------------------------------------------- vocabularies


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's and CLIP's reversible map from the 256 byte values to printable characters (a byte-level BPE's base symbols).

    The printable bytes (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) map to
    themselves, the other 68 to ``chr(256)``, ``chr(257)``, ... in order.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


@functools.lru_cache(maxsize=1)
def _clip_bpe() -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    lines = gzip.decompress((CLIP_BPE / "merges.txt.gz").read_bytes()).decode("utf-8").split("\n")
    merges = tuple(tuple(line.split(" ", 1)) for line in lines[1:] if line)
    base = list(bytes_to_unicode().values())
    pieces = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + list(CLIP_SPECIALS)
    return tuple((piece, i) for i, piece in enumerate(pieces)), merges  # type: ignore[return-value]


def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary (49,408 entries) and its 48,894 merges, derived from the shipped merges as CLIP's SimpleTokenizer does.

    The 256 byte symbols, the same ending a word (``</w>``), each merge joined,
    then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407). Read once
    per process; each call returns fresh copies.
    """
    vocab, merges = _clip_bpe()
    return dict(vocab), list(merges)


def unigram_characters(specials: Sequence[str], characters: str = LETTERS) -> list[tuple[str, float]]:
    """A Unigram vocabulary of (piece, score) pairs over single characters, for the T5, XLM-RoBERTa and ChatGLM builders.

    The specials first (score 0, ids 0, 1, ...), then the word-start marker
    "▁" (-2), each character (-3) and each character after "▁" (-2.5): a
    word-initial character scores better as one piece than as the marker and
    the character apart, so "a fox" is ``["▁a", "▁f", "o", "x"]``.
    """
    return (
        [(s, 0.0) for s in specials]
        + [(WORD_START, -2.0)]
        + [(c, -3.0) for c in characters]
        + [(WORD_START + c, -2.5) for c in characters]
    )


def bpe_characters(specials: Sequence[str], characters: str = LETTERS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A SentencePiece-style BPE vocabulary and merges over single characters, for the Gemma and Llama builders.

    Ids: the specials, "▁", each character, each character after "▁"; one
    merge ("▁", c) for each character, so a word-initial character is one
    token, as in SentencePiece vocabularies.
    """
    pieces = [*specials, WORD_START, *characters, *(WORD_START + c for c in characters)]
    return {p: i for i, p in enumerate(pieces)}, [(WORD_START, c) for c in characters]


def byte_level(specials: Sequence[str]) -> dict[str, int]:
    """A byte-level BPE vocabulary with no merges: the 256 byte symbols of :func:`bytes_to_unicode` (ids 0-255), then the specials.

    Any text tokenizes (one token a byte), for the Qwen2 and GLM builders.
    """
    vocab = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    for token in specials:
        vocab.setdefault(token, len(vocab))
    return vocab


# --------------------------------------------------------------------------- CLIP


def clip(*, model_max_length: int = CLIP_MAX_LENGTH, **special: Any) -> Any:
    """The real CLIP tokenizer (``CLIPTokenizer``, 49,408 entries) over the shipped merges: CLIP's own ids, no download.

    ``special`` takes ``bos_token``, ``eos_token``, ``unk_token`` and
    ``pad_token`` (CLIP's defaults: ``<|startoftext|>``, ``<|endoftext|>``
    for the others; SD 2's and SDXL's second tokenizer pad with ``"!"``).
    "a photo of a cat" is ``[49406, 320, 1125, 539, 320, 2368, 49407]``.
    """
    _transformers_5("CLIP")
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length, **special)


def clip_from_config(config: Mapping[str, Any]) -> Any:
    """The real CLIP tokenizer a tokenizer_config.json describes: its special tokens and ``model_max_length`` (77 if it has none)."""
    special = {k: config[k] for k in SPECIAL_TOKEN_KEYS if k in config}
    return clip(model_max_length=config.get("model_max_length", CLIP_MAX_LENGTH), **special)


def clip_characters(*, pad_token: str = "<|endoftext|>", model_max_length: int = CLIP_MAX_LENGTH, characters: str = CHARACTERS) -> Any:
    """A tiny CLIP BPE tokenizer (``CLIPTokenizer``) over single characters: no merges, 138 entries with the default characters.

    Ids: ``<|startoftext|>`` 0, ``<|endoftext|>`` 1, each character, then
    each character ending a word (``a</w>``). It tokenizes for real
    (lower-cased, one token a character) and pads and truncates to
    ``model_max_length``. SDXL's second tokenizer pads with ``"!"``.
    """
    _transformers_5("tiny CLIP")
    from transformers import CLIPTokenizer

    pieces = [*CLIP_SPECIALS, *characters, *(c + "</w>" for c in characters)]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length, pad_token=pad_token)


# --------------------------------------------------------------------------- SentencePiece / Unigram


def t5(pieces: Sequence[tuple[str, float]] | None = None, *, model_max_length: int = 512, extra_ids: int = 0) -> Any:
    """A T5 tokenizer (``T5Tokenizer``, which is ``T5TokenizerFast``) from Unigram (piece, score) pairs: no spiece.model, no sentencepiece.

    ``pieces`` default: :func:`unigram_characters` over ``<pad>`` 0,
    ``</s>`` 1, ``<unk>`` 2 and :data:`LETTERS`, 192 entries. ``extra_ids``
    sentinel tokens (``<extra_id_N>``) are appended; 0 by default, since a
    text encoder for diffusion never sees them (T5's own tokenizers have 100).
    Sequences end with ``</s>``.
    """
    _transformers_5("T5")
    from transformers import T5Tokenizer

    pieces = list(pieces) if pieces is not None else unigram_characters(("<pad>", "</s>", "<unk>"))
    return T5Tokenizer(vocab=pieces, extra_ids=extra_ids, model_max_length=model_max_length)


def xlm_roberta(pieces: Sequence[tuple[str, float]] | None = None, *, model_max_length: int = 512) -> Any:
    """An XLM-RoBERTa tokenizer (``XLMRobertaTokenizer``, Unigram) from (piece, score) pairs.

    ``pieces`` default: :func:`unigram_characters` over ``<s>`` 0, ``<pad>``
    1, ``</s>`` 2, ``<unk>`` 3 and :data:`CHARACTERS`, then ``<mask>``: 142
    entries. Sequences are ``<s> ... </s>``.
    """
    _transformers_5("XLM-RoBERTa")
    from transformers import XLMRobertaTokenizer

    if pieces is None:
        pieces = unigram_characters(("<s>", "<pad>", "</s>", "<unk>"), CHARACTERS) + [("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=list(pieces), model_max_length=model_max_length)


def chatglm(pieces: Sequence[tuple[str, float]] | None = None, *, folder: str | Path | None = None) -> Any:
    """diffusers' ``ChatGLMTokenizer`` (Kolors' ChatGLM3) over a SentencePiece Unigram model written from (piece, score) pairs.

    ``pieces`` default: :func:`unigram_characters` over ``<unk>`` 0, ``<s>``
    1, ``</s>`` 2 and :data:`LETTERS`, 192 pieces; the tokenizer adds
    ChatGLM's 9 specials after them (``[MASK]``, ``[gMASK]``, ``[sMASK]``,
    ``sop``, ``eop`` and the 4 role tokens) and starts each sequence with
    ``[gMASK] sop``; it pads on the left with ``<unk>`` (id 0), as ChatGLM3's.
    ``pieces`` must contain ``<unk>``, ``<s>`` and ``</s>`` (ValueError
    otherwise). ChatGLMTokenizer reads a ``tokenizer.model`` file, also when
    saved: it is written into ``folder``, or into a temporary folder that
    lives as long as the tokenizer. Needs ``sentencepiece`` and ``protobuf``.
    """
    _transformers_5("ChatGLM")
    import tempfile

    from diffusers.pipelines.kolors import ChatGLMTokenizer
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    pieces = list(pieces) if pieces is not None else unigram_characters(("<unk>", "<s>", "</s>"))
    names = [p for p, _ in pieces]
    missing = [s for s in ("<unk>", "<s>", "</s>") if s not in names]
    if missing:
        raise ValueError(f"a ChatGLM vocabulary needs {', '.join(missing)} among its pieces")
    model = model_pb2.ModelProto()
    model.trainer_spec.model_type = model_pb2.TrainerSpec.UNIGRAM
    model.trainer_spec.unk_id, model.trainer_spec.bos_id = names.index("<unk>"), names.index("<s>")
    model.trainer_spec.eos_id, model.trainer_spec.pad_id = names.index("</s>"), -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = False
    kinds = {"<unk>": model_pb2.ModelProto.SentencePiece.UNKNOWN, "<s>": model_pb2.ModelProto.SentencePiece.CONTROL, "</s>": model_pb2.ModelProto.SentencePiece.CONTROL}
    for piece, score in pieces:
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = kinds.get(piece, model_pb2.ModelProto.SentencePiece.NORMAL)
    keep = None
    if folder is None:
        keep = tempfile.TemporaryDirectory(prefix="autopipe-chatglm-")
        folder = keep.name
    path = Path(folder) / "tokenizer.model"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    tokenizer = ChatGLMTokenizer(vocab_file=str(path))
    if keep is not None:
        tokenizer._autopipe_folder = keep  # removed with the tokenizer, not before
    return tokenizer


# --------------------------------------------------------------------------- WordPiece


def bert(vocab: Mapping[str, int] | None = None, *, model_max_length: int = 512, do_lower_case: bool = True) -> Any:
    """A BERT tokenizer (``BertTokenizer``, WordPiece), HunyuanDiT's first.

    ``vocab`` default: ``[PAD]`` 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3,
    ``[MASK]`` 4, each of :data:`CHARACTERS`, the same continuing a word
    (``##a``): 141 entries. Sequences are ``[CLS] ... [SEP]``.
    """
    _transformers_5("BERT")
    from transformers import BertTokenizer

    if vocab is None:
        pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARACTERS, *("##" + c for c in CHARACTERS)]
        vocab = {p: i for i, p in enumerate(pieces)}
    return BertTokenizer(vocab=dict(vocab), model_max_length=model_max_length, do_lower_case=do_lower_case)


# --------------------------------------------------------------------------- BPE (SentencePiece-style and byte-level)


def _limit(model_max_length: int | None) -> dict[str, Any]:
    return {} if model_max_length is None else {"model_max_length": model_max_length}


def gemma(vocab: Mapping[str, int] | None = None, merges: Sequence[tuple[str, str]] | None = None, *, model_max_length: int | None = None) -> Any:
    """A Gemma tokenizer (``GemmaTokenizer``, which is ``GemmaTokenizerFast``): BPE with byte fallback, "▁" for spaces, ``<bos>`` first.

    Default vocabulary: :func:`bpe_characters` over ``<pad>`` 0, ``<eos>`` 1,
    ``<bos>`` 2, ``<unk>`` 3, ``<mask>`` 4 and :data:`LETTERS`: 194 entries.
    Pads on the left, as Gemma's (Sana sets right itself).
    """
    _transformers_5("Gemma")
    from transformers import GemmaTokenizer

    if vocab is None:
        vocab, merges = bpe_characters(("<pad>", "<eos>", "<bos>", "<unk>", "<mask>"))
    return GemmaTokenizer(vocab=dict(vocab), merges=list(merges or []), add_bos_token=True, **_limit(model_max_length))


def llama(
    vocab: Mapping[str, int] | None = None, merges: Sequence[tuple[str, str]] | None = None, *,
    model_max_length: int | None = None, pad_token: str | None = None,
) -> Any:
    """A Llama tokenizer (``LlamaTokenizer``, which is ``LlamaTokenizerFast``): SentencePiece-style BPE, "▁" before each word, ``<s>`` first.

    Default vocabulary: :func:`bpe_characters` over ``<unk>`` 0, ``<s>`` 1,
    ``</s>`` 2 and :data:`LETTERS`: 192 entries. Llama has no padding token;
    pass ``pad_token=`` (one of the vocabulary's) where a pipeline pads.
    """
    _transformers_5("Llama")
    from transformers import LlamaTokenizer

    if vocab is None:
        vocab, merges = bpe_characters(("<unk>", "<s>", "</s>"))
    pad = {} if pad_token is None else {"pad_token": pad_token}
    return LlamaTokenizer(vocab=dict(vocab), merges=list(merges or []), add_bos_token=True, **pad, **_limit(model_max_length))


#: Qwen2's special tokens: end of text (also padding and unknown) and the chat template's turn markers.
QWEN2_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def qwen2(
    vocab: Mapping[str, int] | None = None,
    merges: Sequence[tuple[str, str]] | None = None,
    *,
    model_max_length: int | None = None,
    specials: Sequence[str] = (),
    chat_template: str | None = None,
) -> Any:
    """A Qwen2 tokenizer (``Qwen2Tokenizer``, which is ``Qwen2TokenizerFast``; Qwen2.5-VL's): byte-level BPE, no start token.

    Default vocabulary: :func:`byte_level` over :data:`QWEN2_SPECIALS`, 259
    entries with no merges (one token a byte). ``<|endoftext|>`` pads; the
    chat markers ``<|im_start|>`` and ``<|im_end|>`` that Qwen-Image's prompt
    template uses are single special tokens. `specials`: more single special
    tokens after those (Qwen3's ``<think>``, ``</think>``, its vision markers),
    each one id more, registered as additional special tokens; with `vocab`
    given they are a ValueError (put them in `vocab`). `chat_template`: the
    Jinja template ``apply_chat_template`` renders (the family's prompt
    format), None for none.
    """
    _transformers_5("Qwen2")
    from transformers import Qwen2Tokenizer

    if vocab is not None and specials:
        raise ValueError("qwen2() takes specials with its default vocabulary only; put them in the vocab you pass")
    if vocab is None:
        vocab, merges = byte_level((*QWEN2_SPECIALS, *specials)), []
    extra = [t for t in QWEN2_SPECIALS[1:] if t in vocab]
    built = Qwen2Tokenizer(vocab=dict(vocab), merges=list(merges or []), extra_special_tokens=extra, **_limit(model_max_length))
    if specials:
        built.add_special_tokens({"additional_special_tokens": list(specials)})
    if chat_template is not None:
        built.chat_template = chat_template
    return built


#: GLM-4's special tokens: end of text (also padding), the mask and start-of-piece tokens its sequences start with, the roles.
GLM_SPECIALS = (
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>",
    "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>",
)


def glm(vocab: Mapping[str, int] | None = None, merges: Sequence[tuple[str, str]] | None = None, *, model_max_length: int | None = None) -> Any:
    """A GLM-4 tokenizer (``PreTrainedTokenizerFast``, as CogView4's ``AutoTokenizer`` loads it): byte-level BPE, ``[gMASK] <sop>`` first.

    Default vocabulary: :func:`byte_level` over :data:`GLM_SPECIALS`, 266
    entries with no merges. ``<|endoftext|>`` ends and pads (on the left, as GLM-4's).
    ``vocab`` must hold ``[gMASK]``, ``<sop>`` and ``<|endoftext|>`` (ValueError otherwise).
    """
    _transformers_5("GLM")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if vocab is None:
        vocab, merges = byte_level(GLM_SPECIALS), []
    missing = [t for t in ("[gMASK]", "<sop>", "<|endoftext|>") if t not in vocab]
    if missing:
        raise ValueError(f"a GLM vocabulary needs {', '.join(missing)}")
    backend = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges or [])))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(
        single="[gMASK] <sop> $A", pair="[gMASK] <sop> $A $B",
        special_tokens=[("[gMASK]", vocab["[gMASK]"]), ("<sop>", vocab["<sop>"])],
    )
    extra = [t for t in GLM_SPECIALS[1:] if t in vocab]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        extra_special_tokens=extra, padding_side="left", **_limit(model_max_length),
    )
