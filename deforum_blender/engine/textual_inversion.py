"""Textual inversion embeddings named in prompts, loaded once from the embeddings folder.

The webui's rule: an embedding file's stem is its trigger word, so ``NAME.safetensors``
in ``embeddings_dir`` is loaded (diffusers' ``load_textual_inversion(path, token=NAME)``)
the first time a prompt says ``NAME`` as a word. ``.pt``/``.bin`` files are pickles and
load only when ``allow_pickle`` is on, as for checkpoints. The txt2img and img2img
pipelines share the tokenizer and text encoder, so one load serves both. A multi-vector
embedding adds tokens ``NAME``, ``NAME_1``, …: :func:`expand_embedding_ids` spells them
out for the webui encoding path as diffusers' ``maybe_convert_prompt`` does for its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..core.errors import DeforumInputError

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".bin")


def embedding_files(folder: Path) -> dict[str, Path]:
    """The embeddings a folder offers, by trigger word (a .safetensors file wins a tie)."""
    found: dict[str, Path] = {}
    for suffix in (*PICKLE_SUFFIXES, *SAFE_SUFFIXES):  # later suffixes win
        for path in sorted(folder.glob(f"*{suffix}")):
            found[path.stem] = path
    return found


def named_in(texts: list[str], names: list[str]) -> list[str]:
    """The ``names`` said as a whole word in any of ``texts``, in ``names``' order."""
    return [
        name
        for name in names
        if any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) for text in texts)
    ]


class TextualInversions:
    """The embeddings loaded into one pipeline's tokenizer and text encoder, by name."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.loaded: dict[str, Path] = {}
        self._offered: dict[str, dict[str, Path]] = {}  # folder -> its files, listed once

    def apply(self, folder: str | None, allow_pickle: bool, texts: list[str]) -> None:
        """Load every embedding of ``folder`` that ``texts`` name and is not loaded yet."""
        if not folder:
            return
        location = Path(folder).expanduser()
        if not location.is_dir():
            raise DeforumInputError(
                f"embeddings_dir: {str(location)!r} is not a folder; set embeddings_dir to the "
                "folder of textual inversion embeddings (NAME.safetensors), or leave it empty"
            )
        offered = self._offered.get(str(location))
        if offered is None:
            offered = self._offered[str(location)] = embedding_files(location)
        for name in named_in(texts, [n for n in offered if n not in self.loaded]):
            self.load(name, offered[name], allow_pickle)

    def load(self, name: str, path: Path, allow_pickle: bool) -> None:
        if path.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
            raise DeforumInputError(
                f"embeddings_dir: the prompt names the embedding {name!r}, whose file "
                f"{str(path)!r} is a pickle ({path.suffix}), which can run arbitrary code when "
                "loaded; convert it to .safetensors, or allow pickle files explicitly "
                "(allow_pickle) if you trust its source"
            )
        try:
            self.pipe.load_textual_inversion(str(path), token=name)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise DeforumInputError(
                f"embeddings_dir: could not load the embedding {str(path)!r} ({error}); it must "
                "hold one tensor (diffusers, or the webui's .safetensors) or the webui's "
                "string_to_param, sized for this model's text encoder"
            ) from error
        self.loaded[name] = path


def expand_embedding_ids(tokenizer: Any, ids: list[int]) -> list[int]:
    """``ids`` with each multi-vector embedding's first token followed by its others."""
    added = getattr(tokenizer, "added_tokens_encoder", None) or {}
    if not added:
        return ids
    by_id = {token_id: token for token, token_id in added.items()}
    out: list[int] = []
    for token_id in ids:
        out.append(token_id)
        token = by_id.get(token_id)
        index = 1
        while token is not None and f"{token}_{index}" in added:
            out.append(added[f"{token}_{index}"])
            index += 1
    return out


def build_tiny_embedding(target: Path, width: int, vectors: int = 2) -> Path:
    """A random ``vectors``-token embedding for a text encoder ``width`` wide, in the webui's
    .safetensors layout (one tensor, ``emb_params``)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(20261128)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": torch.randn(vectors, width, generator=generator)}, str(target))
    return target
