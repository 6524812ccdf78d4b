"""Text embeddings the way AUTOMATIC1111's webui makes them: weights, BREAK, long prompts.

A prompt is cut into chunks of 75 tokens (a ``BREAK`` or a full chunk starts the next;
a full chunk moves the words after a comma within the last 20 tokens to the next chunk,
the webui's default *comma padding backtrack*), each chunk is wrapped in start/end tokens
and padded to 77, encoded by the CLIP text encoder, its token embeddings multiplied by
their weights and the chunk's mean restored (the webui's "Original" emphasis); the chunks
are concatenated. Positive and negative embeddings are padded to the same number of
chunks with the empty prompt's chunk. ``compel`` weights differently (no mean restore,
other syntax), hence this module. SD 1.x and 2.x text encoders only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.prompt_weights import BREAK, is_plain, parse_prompt_attention
from .textual_inversion import expand_embedding_ids

CHUNK = 75
COMMA_BACKTRACK = 20


@dataclass
class _Chunk:
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def prompt_chunks(tokenizer: Any, text: str) -> list[tuple[list[int], list[float]]]:
    """The 77-token chunks of ``text`` and their per-token weights, as the webui cuts them."""
    parsed = parse_prompt_attention(text)
    tokenized = tokenizer([run for run, _ in parsed], truncation=False, add_special_tokens=False)
    comma = tokenizer.get_vocab().get(",</w>")
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end
    chunks: list[tuple[list[int], list[float]]] = []
    chunk = _Chunk()
    last_comma = -1

    def close() -> None:
        nonlocal chunk, last_comma
        missing = CHUNK - len(chunk.tokens)
        # After the end token comes padding (SD 2's pad differs from its end token).
        tokens = [start, *chunk.tokens, end] + [pad] * missing
        weights = [1.0, *chunk.weights, 1.0] + [1.0] * missing
        chunks.append((tokens, weights))
        chunk, last_comma = _Chunk(), -1

    for ids, (run, weight) in zip(tokenized["input_ids"], parsed, strict=True):
        if run == BREAK and weight == -1.0:
            close()
            continue
        for token in expand_embedding_ids(tokenizer, ids):  # all of a multi-vector embedding
            if token == comma:
                last_comma = len(chunk.tokens)
            elif (
                len(chunk.tokens) == CHUNK
                and last_comma != -1
                and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK
            ):
                cut = last_comma + 1
                moved = _Chunk(chunk.tokens[cut:], chunk.weights[cut:])
                chunk = _Chunk(chunk.tokens[:cut], chunk.weights[:cut])
                close()
                chunk = moved
            if len(chunk.tokens) == CHUNK:
                close()
            chunk.tokens.append(token)
            chunk.weights.append(weight)
    if chunk.tokens or not chunks:
        close()
    return chunks


def needs_webui_encoding(tokenizer: Any, text: str) -> bool:
    """True when ``text`` has weights, BREAK or more tokens than one chunk holds."""
    if not is_plain(text):
        return True
    ids = tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"]
    return len(expand_embedding_ids(tokenizer, ids)) > CHUNK


def encode_text(
    text_encoder: Any, tokenizer: Any, text: str, device: str, clip_skip: int = 1
) -> Any:
    """One prompt's embeddings (1 × 77·chunks × width), weighted as the webui weights them.

    ``clip_skip`` N > 1 reads the N-th layer from the end, through the final layer norm.
    """
    import torch

    pieces = []
    for tokens, weights in prompt_chunks(tokenizer, text):
        ids = torch.tensor([tokens], device=device)
        if clip_skip > 1:
            hidden = text_encoder(ids, output_hidden_states=True).hidden_states[-clip_skip]
            z = getattr(text_encoder, "text_model", text_encoder).final_layer_norm(hidden)
        else:
            z = text_encoder(ids)[0]
        scale = torch.tensor(weights, device=device, dtype=z.dtype).reshape(1, -1, 1)
        original_mean = z.mean()
        z = z * scale
        new_mean = z.mean()
        # A mean of about zero (a layer-normed encoder without bias) has nothing to restore.
        if new_mean.abs() > 1e-6 * z.abs().mean():
            z = z * (original_mean / new_mean)
        pieces.append(z)
    return torch.cat(pieces, dim=1)


def webui_embeddings(
    pipe: Any, prompt: str, negative: str, device: str, clip_skip: int = 1
) -> dict[str, Any]:
    """``prompt_embeds`` and ``negative_prompt_embeds`` for an SD 1.x/2.x pipeline."""
    import torch

    encoder, tokenizer = pipe.text_encoder, pipe.tokenizer
    positive = encode_text(encoder, tokenizer, prompt, device, clip_skip)
    uncond = encode_text(encoder, tokenizer, negative, device, clip_skip)
    if positive.shape[1] != uncond.shape[1]:
        empty = encode_text(encoder, tokenizer, "", device, clip_skip)
        longest = max(positive.shape[1], uncond.shape[1])

        def padded(z: Any) -> Any:
            repeats = (longest - z.shape[1]) // empty.shape[1]
            return torch.cat([z, empty.repeat(1, repeats, 1)], dim=1) if repeats else z

        positive, uncond = padded(positive), padded(uncond)
    dtype = encoder.dtype
    return {"prompt_embeds": positive.to(dtype), "negative_prompt_embeds": uncond.to(dtype)}


def supports_webui_encoding(pipe: Any) -> bool:
    """SD 1.x/2.x pipelines (one CLIP text encoder); SDXL's two encoders are not covered."""
    return getattr(pipe, "text_encoder_2", None) is None and pipe.tokenizer is not None


def mix_embeddings(
    parts: list[tuple[dict[str, Any], float]], empty: dict[str, Any]
) -> dict[str, Any]:
    """The weighted sum of several prompts' embeddings, key by key.

    Token sequences of different lengths (more chunks) are padded with the empty prompt's
    chunk first, as the webui pads a shorter conditioning.
    """
    import torch

    mixed: dict[str, Any] = {}
    for name in parts[0][0]:
        tensors = [embeddings[name] for embeddings, _ in parts]
        if tensors[0].dim() == 3:  # (batch, tokens, width); pooled embeddings have no tokens
            longest = max(t.shape[1] for t in tensors)
            chunk = empty[name]
            tensors = [
                torch.cat([t, chunk.repeat(1, (longest - t.shape[1]) // chunk.shape[1], 1)], dim=1)
                for t in tensors
            ]
        mixed[name] = sum(t * weight for t, (_, weight) in zip(tensors, parts, strict=True))
    return mixed
