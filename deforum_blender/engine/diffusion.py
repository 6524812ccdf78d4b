"""Stable Diffusion through diffusers: load once, then text-to-image and image-to-image.

Reads top to bottom: where a model comes from (``resolve_source``), how it loads
(``load_diffuser``, with a process-wide cache so a worker that keeps running loads each
model once), and how one frame is generated (``Diffuser.txt2img`` / ``Diffuser.img2img``).

Steps semantics: an img2img frame with ``steps`` and denoise ``d`` (= 1 − Deforum strength)
runs what A1111 runs under Deforum, ``int(min(d, 0.999) × steps) + 1`` sampler steps (25 at
strength 0.65: 9; at 0.6: 11). diffusers on its own runs ``int(steps × d)`` (and float
error can push it either way), so we ask it for exactly ``planned_steps(steps, d)`` steps,
taken as the last ones of a ``steps``-long schedule (the same noise level A1111 starts
from). ``d == 0`` runs no diffusion and returns the input frame unchanged.

Per frame only the UNet, the VAE and the sampler run: a prompt is encoded once (while its
LoRAs stay), each sampler's schedule is computed once per step count (``SchedulerCache``),
and an img2img frame given as a torch tensor stays on its device, in and out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from ..core.errors import DeforumInputError
from ..core.job_fields import DEFAULT_TINY_VAE, TINY_VAE_XL
from ..core.prompt_weights import extract_loras
from ..core.protocol import OFFLINE_REASON_VARIABLE
from . import compiled as compiled_parts
from .compiled import Guarded
from .lora import LoraAdapters
from .prompt_encoding import (
    mix_embeddings,
    needs_webui_encoding,
    supports_webui_encoding,
    webui_embeddings,
)
from .samplers import SchedulerCache
from .textual_inversion import TextualInversions

if TYPE_CHECKING:
    import torch

    from .controlnet import FrameControl

FrameT = TypeVar("FrameT", NDArray[Any], "torch.Tensor")
"""A uint8 H×W×3 frame: a numpy array, or a torch tensor that stays on its device."""

StepCallback = Callable[[int, int], None]
"""Called after every denoising iteration with (iterations done, total); raise Cancelled to stop."""

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# "org/name" as the Hugging Face hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Keys that mark an original-layout (CompVis/Stability) checkpoint and its architecture.
_UNET_PREFIX = "model.diffusion_model."
_SDXL_PREFIX = "conditioner.embedders.1."
_DTYPES = ("auto", "float16", "bfloat16", "float32")


class Cancelled(Exception):
    """Raised from a step callback to stop the current generation after this step."""


@dataclass(frozen=True)
class ModelOptions:
    """How to load a model; every field is part of the model cache key."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (float16 on CUDA, float32 on CPU) | float16 | bfloat16 | float32
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # model CPU offload (CUDA only; ignored on the CPU)
    allow_pickle: bool = False  # .ckpt/.pt files can run code when loaded: refused unless True
    sha256: str | None = None  # expected hash of a single-file checkpoint
    single_file_config: str | None = None  # diffusers folder or hub id with matching configs
    # An AutoencoderTiny (folder or hub id) in place of the model's VAE: fast drafts.
    tiny_vae: str | None = None
    # torch.compile of the UNet, ControlNets and VAE: auto (CUDA only) | on | off; the
    # Job's default, so a job's render and a direct load share one cached model.
    compile: str = "auto"


@dataclass(frozen=True)
class ModelSource:
    """Where a model lives: a diffusers ``folder``, a ``single_file`` checkpoint or a ``hub`` id."""

    kind: str
    location: str


# --- where the model comes from -------------------------------------------------------


def resolve_source(model: str, allow_pickle: bool = False) -> ModelSource:
    """Classify ``model`` as a local folder, a single-file checkpoint or a hub id.

    Refuses pickle checkpoints unless ``allow_pickle``; a path that does not exist and is
    not a hub id says so.
    """
    text = str(model).strip()
    if not text:
        raise DeforumInputError(
            "model: empty; give a diffusers folder, a .safetensors file or a Hugging Face id"
        )
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise DeforumInputError(
                f"model: folder {str(path)!r} has no model_index.json, so it is not a diffusers "
                "pipeline; give the folder that holds model_index.json, or a .safetensors file"
            )
        return ModelSource("folder", str(path.resolve()))
    if path.is_file():
        if suffix in PICKLE_SUFFIXES and not allow_pickle:
            raise DeforumInputError(
                f"model: {str(path)!r} is a pickle checkpoint ({suffix}), which can run arbitrary "
                "code when loaded; convert it to .safetensors, or allow pickle files explicitly "
                "(allow_pickle) if you trust its source"
            )
        if suffix not in SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES:
            raise DeforumInputError(
                f"model: {str(path)!r} is not a checkpoint this loader reads; use a .safetensors "
                "file or a diffusers folder"
            )
        return ModelSource("single_file", str(path.resolve()))
    if _HUB_ID.match(text) and suffix not in SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES:
        return ModelSource("hub", text)
    raise DeforumInputError(
        f"model: no such file or folder {str(path)!r} (and it is not a Hugging Face id of the "
        "form 'org/name'); check the path"
    )


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> str:
    """Check a checkpoint against its expected sha256; returns the actual hash."""
    actual = file_sha256(path)
    if actual.lower() != expected.strip().lower():
        raise DeforumInputError(
            f"model_sha256: {str(path)!r} has sha256 {actual}, expected {expected.strip()}; the "
            "file is damaged or a different model: download it again or correct the hash"
        )
    return actual


def _checkpoint_keys(path: str | Path) -> list[str]:
    """Tensor names in a checkpoint: the header of a .safetensors file, or a pickle read
    with torch's weights-only loader (no code runs) for an allowed .ckpt."""
    location = str(path)
    try:
        if location.lower().endswith(SAFETENSORS_SUFFIXES):
            from safetensors import safe_open

            with safe_open(location, framework="pt") as checkpoint:
                return list(checkpoint.keys())
        import torch

        loaded = torch.load(location, map_location="cpu", weights_only=True, mmap=True)
        state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else {}
        return [str(key) for key in state]
    except Exception as error:
        raise DeforumInputError(
            f"model: {location!r} is not a readable checkpoint ({error})"
        ) from error


def checkpoint_architecture(path: str | Path) -> str:
    """``"sdxl"`` or ``"sd"`` (1.x/2.x) for an original-layout single-file checkpoint.

    A file without Stable Diffusion UNet weights (a LoRA, a VAE, a diffusers-layout
    component) is refused with a message saying what it is not.
    """
    keys = _checkpoint_keys(path)
    if not any(key.startswith(_UNET_PREFIX) for key in keys):
        raise DeforumInputError(
            f"model: {str(path)!r} holds no '{_UNET_PREFIX}*' weights, so it is not a full "
            "Stable Diffusion checkpoint (a LoRA, VAE or single component?); give a full "
            "checkpoint or a diffusers folder"
        )
    return "sdxl" if any(key.startswith(_SDXL_PREFIX) for key in keys) else "sd"


# --- downloads: only the models the user asked for ----------------------------------------


@dataclass(frozen=True)
class DownloadPolicy:
    """Which hub models this process may download; any other must already be in the cache."""

    allowed: frozenset[str] | None = None  # model names as the job spells them; None: any
    fix: str = "allow downloads"  # how the user lets a refused model download


_DOWNLOADS = DownloadPolicy()


def set_download_policy(policy: DownloadPolicy) -> None:
    """Set which models may download (the CLI: only those named on its command line)."""
    global _DOWNLOADS
    _DOWNLOADS = policy


def may_download(model: str | None) -> bool:
    """True when ``model`` may be fetched from the hub (HF_HUB_OFFLINE=1 forbids all)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    return _DOWNLOADS.allowed is None or (model or "").strip() in _DOWNLOADS.allowed


def download_refusal() -> str:
    """Why this process downloads nothing unasked, and the fix (for error messages)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return os.environ.get(OFFLINE_REASON_VARIABLE) or "HF_HUB_OFFLINE=1 forbids downloading"
    return _DOWNLOADS.fix


def require_cached(field: str, repo_id: str, filename: str) -> None:
    """Refuse a hub model that may not download and is not in the cache (asking no server)."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, filename), str):
        return
    raise DeforumInputError(
        f"{field}: {repo_id!r} is not a local file or folder, and the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}) holds no copy of it; it is not downloaded: "
        f"{download_refusal()}; or fetch it with `python -m deforum_blender models pull "
        f"{repo_id}` (or `hf download {repo_id}`) using the same HF_HOME, or set {field} to a "
        "local folder"
    )


def _require_hub_model(repo_id: str, online: bool = True) -> None:
    """Find the model's model_index.json in the cache, or fetch it when ``online``.

    Explains a model that is missing, with the fix.
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    if not online:
        require_cached("model", repo_id, "model_index.json")
        return
    try:
        hf_hub_download(repo_id, "model_index.json")
    except (LocalEntryNotFoundError, ConnectionError) as error:
        raise DeforumInputError(
            f"model: {repo_id!r} is not a local file or folder, and the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) holds no copy of it"
            + (" (HF_HUB_OFFLINE=1 forbids downloading)" if constants.HF_HUB_OFFLINE else "")
            + f"; fetch it with `python -m deforum_blender models pull {repo_id}` (or "
            f"`hf download {repo_id}`) using the same HF_HOME, "
            "or set model to a local diffusers folder or .safetensors file"
        ) from error
    except RepositoryNotFoundError as error:
        raise DeforumInputError(
            f"model: the Hugging Face hub has no model {repo_id!r} (or it is gated/private: "
            "accept its licence and log in with `hf auth login`); check the id"
        ) from error
    except Exception as error:  # an HTTP or file error: keep its text, name the field
        raise DeforumInputError(f"model: could not fetch {repo_id!r}: {error}") from error


# --- device, dtype and steps ------------------------------------------------------------


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a CUDA GPU, else ``cpu``; checks ``cuda`` exists."""
    wanted = (device or "auto").strip().lower()
    if wanted == "cpu" or (wanted == "auto" and cpu_only_torch()):
        return "cpu"
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if re.fullmatch(r"cuda(:\d+)?", wanted):
        if not torch.cuda.is_available():
            raise DeforumInputError(
                f"device: {device!r} asked, but this torch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu (or auto), or install a CUDA build of torch in the worker"
            )
        return wanted
    raise DeforumInputError(f"device: unknown device {device!r}; use auto, cpu or cuda")


def cpu_only_torch() -> bool:
    """True when the installed torch is a CPU build (``+cpu``), read from its metadata: a
    motion preview then needs no ``import torch`` (seconds) to learn there is no GPU."""
    if "torch" in sys.modules:
        return False  # loaded already: asking it costs nothing
    try:
        return metadata.version("torch").endswith("+cpu")
    except metadata.PackageNotFoundError:
        return False


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype: float16 on CUDA and float32 on the CPU unless asked otherwise."""
    import torch

    name = (dtype or "auto").strip().lower()
    if name not in _DTYPES:
        raise DeforumInputError(f"dtype: unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
    if name == "auto":
        name = "float16" if device.startswith("cuda") else "float32"
    return getattr(torch, name)


def planned_steps(steps: int, denoise: float) -> int:
    """Sampler steps an img2img frame runs: A1111's ``int(min(d, 0.999) × steps) + 1``.

    0 when denoise is 0. Float rounding counts as in A1111: at strength 0.8 the denoise is
    0.19999…, so 25 steps run int(4.99…) + 1 = 5.
    """
    if int(steps) != steps or steps < 1:
        raise DeforumInputError(f"steps: {steps!r} is not a whole number ≥ 1")
    if not 0.0 <= denoise <= 1.0:
        raise DeforumInputError(
            f"strength: denoise {denoise!r} (1 − strength) is outside 0…1; keep strength in 0…1"
        )
    if denoise == 0.0:
        return 0
    return min(int(steps), int(min(denoise, 0.999) * steps) + 1)


def _diffusers_strength(steps: int, wanted: int) -> float:
    """The ``strength`` that makes diffusers' ``int(steps × strength)`` equal ``wanted``."""
    # Half a step above the wanted count survives float error in diffusers' product.
    return min(1.0, (wanted + 0.5) / steps)


def _check_size(width: int, height: int) -> None:
    for field, value in (("W", width), ("H", height)):
        if value < 8 or value % 8:
            raise DeforumInputError(
                f"{field}: {value} is not a multiple of 8; use e.g. {max(8, value // 8 * 8)}"
            )


def _seeded_generator(seed: int) -> Any:
    """A CPU generator for this call's seed: the same noise on every device."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed) % (1 << 64))


def _to_uint8(images: Any) -> Any:
    """diffusers' float ``pt`` output (1×3×H×W in 0…1) → a uint8 H×W×3 tensor where it lies,
    rounded half to even as numpy's ``rint``."""
    import torch

    scaled = torch.round(images[0].float() * 255.0).clamp_(0, 255)
    return scaled.to(torch.uint8).permute(1, 2, 0).contiguous()


def _image_tensor(image: Any) -> Any:
    """A uint8 H×W×3 frame (numpy or torch) → float32 1×3×H×W in 0…1, where it lies.

    The numbers of diffusers' own PIL path (numpy divides), but contiguous, not its
    channels-last view: the encoder's latents then reach the UNet in the layout of txt2img's,
    and a compiled UNet and decoder, which guard on strides, compile once, not twice.
    """
    import torch

    if isinstance(image, np.ndarray):
        pixels = np.ascontiguousarray(image[None], dtype=np.float32) / 255.0
        return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    planar = image[None].permute(0, 3, 1, 2)
    return planar.to(torch.float32, memory_format=torch.contiguous_format).div(255.0)


def _check_frame(image: Any) -> None:
    shape, dtype = tuple(image.shape), str(image.dtype)
    if dtype not in ("uint8", "torch.uint8") or len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"img2img needs a uint8 H×W×3 image, got {dtype} {shape}")


# The pipelines whose image goes in as VAE latents, encoded here as their own
# prepare_latents would (a tensor given as pixels costs a host sync in diffusers' check of
# its range). Others (SDXL, which upcasts its VAE) get pixels.
_ENCODED_HERE = frozenset(
    {"StableDiffusionImg2ImgPipeline", "StableDiffusionControlNetImg2ImgPipeline"}
)


# --- the loaded model ---------------------------------------------------------------------


class Diffuser:
    """One loaded model: a text-to-image and an image-to-image pipeline sharing components."""

    def __init__(
        self,
        txt2img_pipe: Any,
        img2img_pipe: Any,
        source: ModelSource,
        device: str,
        dtype: Any,
        sha256: str | None,
    ) -> None:
        self.txt2img_pipe = txt2img_pipe
        self.img2img_pipe = img2img_pipe
        self.source = source
        self.device = device
        self.dtype = dtype
        self.sha256 = sha256
        # Kept apart from the pipelines' scheduler, which each call replaces.
        self._scheduler_config = txt2img_pipe.scheduler.config
        self._schedulers = SchedulerCache(self._scheduler_config)
        self._lock = threading.Lock()
        self.loras = LoraAdapters(txt2img_pipe)
        self._encoded: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.lora_dir: str | None = None  # where <lora:NAME:…> finds NAME.safetensors
        # ControlNet pipelines built from these components, by (base pipeline, ControlNets).
        self._control_pipes: dict[tuple[int, tuple[int, ...]], Any] = {}
        self.embeddings = TextualInversions(txt2img_pipe)
        self.embeddings_dir: str | None = None  # where a prompt's NAME finds NAME.safetensors
        self.allow_pickle_embeddings = False  # .pt/.bin embeddings can run code when loaded
        # The compiled parts (compiled.py); empty when compile is off.
        self.compiled: list[Guarded] = []
        self.warn: Callable[[str], None] = compiled_parts.LOG.warning  # a render's warnings

    def on_warning(self, warn: Callable[[str], None]) -> None:
        """Send this model's warnings (a compiled part falling back to eager) to ``warn``."""
        self.warn = warn
        compiled_parts.set_warn(self.compiled, warn)

    def set_tiling(self, tiling: bool) -> None:
        """Pad every convolution of the UNet and VAE circularly (seamless tiles) or with zeros,
        as Automatic1111's Tiling does; the pipelines share these modules."""
        import torch

        mode: Literal["circular", "zeros"] = "circular" if tiling else "zeros"
        for part in (self.txt2img_pipe.unet, self.txt2img_pipe.vae):
            for layer in part.modules():
                if isinstance(layer, torch.nn.Conv2d):
                    layer.padding_mode = mode

    @property
    def architecture(self) -> str:
        """The pipeline class name, e.g. ``StableDiffusionPipeline`` (for run.json)."""
        return type(self.txt2img_pipe).__name__

    def control_pipe(self, base: Any, models: list[Any]) -> Any:
        """``base`` (txt2img or img2img) with ControlNet ``models``, sharing its UNet, VAE and
        text encoder; several models make a MultiControlNet. Built once per combination."""
        key = (id(base), tuple(id(model) for model in models))
        if key not in self._control_pipes:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

            text = base is self.txt2img_pipe
            auto = AutoPipelineForText2Image if text else AutoPipelineForImage2Image
            pipe = auto.from_pipe(base, controlnet=models[0] if len(models) == 1 else models)
            if self.compiled:  # the ControlNets run at the UNet's shapes: compile them too
                self.compiled += [
                    compiled_parts.compile_module(model, "ControlNet", self.device, self.warn)
                    for model in models
                ]
            pipe.set_progress_bar_config(disable=True)
            self._control_pipes[key] = pipe
        return self._control_pipes[key]

    def _step_end(self, step_callback: StepCallback | None) -> Callable[..., dict[str, Any]] | None:
        if step_callback is None:
            return None

        def on_step_end(
            pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            step_callback(index + 1, int(pipe.num_timesteps))
            return {}

        return on_step_end

    def _generate(
        self,
        pipe: Any,
        sampler: str,
        seed: int,
        step_callback: StepCallback | None,
        noise_multiplier: float = 1.0,
        init_image: Any = None,
        as_tensor: bool = False,
        **inputs: Any,
    ) -> Any:
        """Run ``pipe`` on ``inputs`` with ``sampler``, ``seed``'s noise and step progress;
        the uint8 H×W×3 frame as a tensor on the device (``as_tensor``) or a numpy array.

        Under the lock: each call sets the pipeline's scheduler and its state, and calls may
        come from other threads. ``noise_multiplier`` scales the noise img2img adds to the
        init latents (A1111's "initial noise multiplier", Deforum's ``noise_multiplier``).
        """
        with self._lock:
            scheduler = self._schedulers.get(sampler, noise_multiplier)
            if pipe.scheduler is not scheduler:  # setting it rewrites the pipeline's config
                pipe.scheduler = scheduler
            generator = _seeded_generator(seed)
            if init_image is not None:
                inputs["image"] = self._init_image(pipe, init_image, generator, inputs)
            result = pipe(
                **inputs,
                generator=generator,
                output_type="pt",
                callback_on_step_end=self._step_end(step_callback),
            )
        frame = _to_uint8(result.images)
        return frame if as_tensor else frame.cpu().numpy()

    def _init_image(self, pipe: Any, image: Any, generator: Any, inputs: dict[str, Any]) -> Any:
        """The img2img input: the frame's VAE latents, drawn from ``generator`` as the
        pipeline's own ``prepare_latents`` draws them (then its noise, in the same order),
        or for other pipelines its pixels as a 0…1 tensor."""
        import torch

        pixels = _image_tensor(image)
        if type(pipe).__name__ not in _ENCODED_HERE:
            return pixels
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import (
            retrieve_latents,
        )

        dtype = inputs["prompt_embeds"].dtype  # what the pipeline gives prepare_latents
        normalized = (2.0 * pixels - 1.0).to(device=pipe._execution_device, dtype=dtype)
        with torch.no_grad():
            latents = retrieve_latents(pipe.vae.encode(normalized), generator=generator)
        return pipe.vae.config.scaling_factor * latents

    def txt2img(
        self,
        prompt: str,
        negative: str,
        seed: int,
        steps: int,
        cfg: float,
        width: int,
        height: int,
        sampler: str,
        step_callback: StepCallback | None = None,
        embeddings: dict[str, Any] | None = None,
        clip_skip: int = 1,
        control: FrameControl | None = None,
    ) -> NDArray[Any]:
        """Generate a uint8 H×W×3 image from text (or from ``embeddings`` given instead),
        guided by the ControlNet units of ``control`` when given."""
        _check_size(width, height)
        planned_steps(steps, 1.0)
        pipe, extra = self.txt2img_pipe, {}
        if control is not None:
            pipe = self.control_pipe(pipe, control.models)
            extra = control.pipeline_inputs()
            extra["image"] = extra.pop("control_image")  # the text-to-image name of it
        frame: NDArray[Any] = self._generate(
            pipe,
            sampler,
            seed,
            step_callback,
            **(embeddings or self.encode_prompt(prompt, negative, clip_skip)),
            num_inference_steps=int(steps),
            guidance_scale=float(cfg),
            width=int(width),
            height=int(height),
            **extra,
        )
        return frame

    def encode_prompt(self, prompt: str, negative: str, clip_skip: int = 1) -> dict[str, Any]:
        """The text embeddings of a prompt, as the pipeline's keyword arguments.

        ``prompt_embeds`` and ``negative_prompt_embeds`` (plus SDXL's pooled ones): mix
        two of these key by key to morph between prompts (Interpolation mode). The
        prompt's ``<lora:…>`` tags are applied first (the text encoder may carry them).
        """
        prompt, negative = self.use_loras([(prompt, negative, 1.0)])[0]
        return self._encode(prompt, negative, clip_skip)

    def _encode(self, prompt: str, negative: str, clip_skip: int = 1) -> dict[str, Any]:
        """The embeddings, encoded once per prompt while the LoRA weights and the loaded
        embeddings stay the same (a blend re-asks for the same keyframes every frame)."""
        key = (
            prompt,
            negative,
            clip_skip,
            tuple(sorted(self.loras.weights.items())),
            tuple(sorted(self.embeddings.loaded)),
        )
        cached = self._encoded.get(key)
        if cached is None:
            if len(self._encoded) >= _ENCODED_KEPT:
                self._encoded.pop(next(iter(self._encoded)))  # the oldest
            cached = self._encoded[key] = self._encode_now(prompt, negative, clip_skip)
        return dict(cached)

    def _encode_now(self, prompt: str, negative: str, clip_skip: int) -> dict[str, Any]:
        import torch

        if self.webui_syntax(prompt, negative, clip_skip):
            with self._lock, torch.no_grad():
                return webui_embeddings(self.txt2img_pipe, prompt, negative, self.device, clip_skip)
        with self._lock, torch.no_grad():
            encoded = self.txt2img_pipe.encode_prompt(
                prompt=prompt,
                device=self.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,
                negative_prompt=negative or None,
            )
        return dict(zip(_EMBEDDING_NAMES, encoded, strict=False))

    def use_loras(self, prompts: list[tuple[str, str, float]]) -> list[tuple[str, str]]:
        """Weight the LoRAs the prompts name (each prompt's share of the frame), loading them
        once from :attr:`lora_dir`, and load the embeddings they name from
        :attr:`embeddings_dir`; the prompts without their LoRA tags."""
        weights: dict[str, float] = {}
        stripped = []
        for positive, negative, share in prompts:
            text, loras = extract_loras(positive)
            for name, weight in loras.items():
                weights[name] = weights.get(name, 0.0) + weight * share
            stripped.append((text, extract_loras(negative)[0]))
        if weights:  # LoRAs add layers and weigh them per frame: each would recompile
            for guard in self.compiled:
                if guard.part == "unet":
                    guard.give_up("LoRA weights would recompile it on every frame")
        with self._lock:
            self.loras.apply(self.lora_dir, weights)
            texts = [text for pair in stripped for text in pair]
            self.embeddings.apply(self.embeddings_dir, self.allow_pickle_embeddings, texts)
        return stripped

    def webui_syntax(self, prompt: str, negative: str, clip_skip: int = 1) -> bool:
        """True when the webui would weight, break or chunk the text, or skip CLIP layers
        (which diffusers would not do for the negative prompt); SD 1.x/2.x only."""
        pipe = self.txt2img_pipe
        if not supports_webui_encoding(pipe):
            return False
        if clip_skip > 1:
            return True
        return any(needs_webui_encoding(pipe.tokenizer, text) for text in (prompt, negative))

    def text_inputs(self, prompt: str, negative: str, clip_skip: int = 1) -> dict[str, Any]:
        """The pipeline's text arguments: plain text, or embeddings for the webui's syntax."""
        prompt, negative = self.use_loras([(prompt, negative, 1.0)])[0]
        if self.webui_syntax(prompt, negative, clip_skip):
            return self._encode(prompt, negative, clip_skip)
        return {"prompt": prompt, "negative_prompt": negative or None}

    def blend(self, prompts: list[tuple[str, str, float]], clip_skip: int = 1) -> dict[str, Any]:
        """The weighted mix of several prompts' embeddings ((positive, negative, weight) each);
        their LoRAs weighted by the same shares."""
        texts = self.use_loras(prompts)
        encoded = [
            (self._encode(p, n, clip_skip), w)
            for (p, n), (*_, w) in zip(texts, prompts, strict=True)
        ]
        return mix_embeddings(encoded, self._encode("", "", clip_skip))

    def initial_noise(self, seed: int, width: int, height: int) -> Any:
        """The initial latent noise txt2img draws for ``seed`` (the same tensor, on the CPU)."""
        import torch

        _check_size(width, height)
        pipe = self.txt2img_pipe
        factor = int(pipe.vae_scale_factor)
        shape = (1, int(pipe.unet.config.in_channels), height // factor, width // factor)
        return torch.randn(shape, generator=_seeded_generator(seed), dtype=self.dtype)

    def txt2img_from_embeddings(
        self,
        embeddings: dict[str, Any],
        latents: Any,
        seed: int,
        steps: int,
        cfg: float,
        width: int,
        height: int,
        sampler: str,
        step_callback: StepCallback | None = None,
    ) -> NDArray[Any]:
        """Text-to-image from given text embeddings and initial noise (see encode_prompt).

        With ``encode_prompt(p, n)`` and ``initial_noise(seed, …)`` it gives exactly
        ``txt2img(p, n, seed, …)``; ``seed`` still drives the sampler's own noise.
        """
        _check_size(width, height)
        planned_steps(steps, 1.0)
        frame: NDArray[Any] = self._generate(
            self.txt2img_pipe,
            sampler,
            seed,
            step_callback,
            **embeddings,
            latents=latents.to(self.device, self.dtype),
            num_inference_steps=int(steps),
            guidance_scale=float(cfg),
            width=int(width),
            height=int(height),
        )
        return frame

    def img2img(
        self,
        image: FrameT,
        prompt: str,
        negative: str,
        seed: int,
        steps: int,
        cfg: float,
        denoise: float,
        sampler: str,
        step_callback: StepCallback | None = None,
        noise_multiplier: float = 1.0,
        embeddings: dict[str, Any] | None = None,
        clip_skip: int = 1,
        control: FrameControl | None = None,
    ) -> FrameT:
        """Re-diffuse a uint8 H×W×3 image with ``denoise`` (= 1 − Deforum strength),
        guided by the ControlNet units of ``control`` when given.

        The image is a numpy array (the result is one too) or a torch tensor on the device
        (the result is a uint8 tensor there, and the frame never leaves the device). Runs
        exactly ``planned_steps(steps, denoise)`` sampler steps; denoise 0 returns a copy.
        ``noise_multiplier`` scales the initial noise (1.0: diffusers' own amount).
        """
        _check_frame(image)
        _check_size(image.shape[1], image.shape[0])
        wanted = planned_steps(steps, denoise)
        if wanted == 0:
            return image.copy() if isinstance(image, np.ndarray) else image.clone()
        pipe, extra = self.img2img_pipe, {}
        if control is not None:
            pipe = self.control_pipe(pipe, control.models)
            extra = control.pipeline_inputs()
        frame = self._generate(
            pipe,
            sampler,
            seed,
            step_callback,
            noise_multiplier=float(noise_multiplier),
            init_image=image,
            as_tensor=not isinstance(image, np.ndarray),
            **(embeddings or self.encode_prompt(prompt, negative, clip_skip)),
            strength=_diffusers_strength(int(steps), wanted),
            num_inference_steps=int(steps),
            guidance_scale=float(cfg),
            **extra,
        )
        return cast(FrameT, frame)


_ENCODED_KEPT = 32  # prompts whose embeddings a Diffuser keeps

# What encode_prompt returns, in order (SD gives the first two, SDXL all four).
_EMBEDDING_NAMES = (
    "prompt_embeds",
    "negative_prompt_embeds",
    "pooled_prompt_embeds",
    "negative_pooled_prompt_embeds",
)

# --- loading, once per process ----------------------------------------------------------

_CACHE: dict[tuple[str, str, str, ModelOptions], Diffuser] = {}
_CACHE_LOCK = threading.Lock()


def load_diffuser(model: str, options: ModelOptions | None = None) -> Diffuser:
    """The Diffuser for ``model`` with ``options``, loaded once per process and then reused."""
    options = options or ModelOptions()
    source = resolve_source(model, allow_pickle=options.allow_pickle)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    key = (source.kind + ":" + source.location, device, str(dtype), options)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _load(source, device, dtype, options, online=may_download(model))
            _CACHE[key] = cached
    return cached


def clear_model_cache() -> None:
    """Forget every loaded model (and give CUDA memory back)."""
    import gc

    with _CACHE_LOCK:
        _CACHE.clear()
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _load(
    source: ModelSource, device: str, dtype: Any, options: ModelOptions, online: bool = True
) -> Diffuser:
    from diffusers import AutoPipelineForImage2Image

    sha256 = None
    if options.sha256:
        if source.kind != "single_file":
            raise DeforumInputError(
                "model_sha256: a hash check needs a single-file checkpoint; "
                f"{source.location!r} is a {source.kind.replace('_', ' ')} model"
            )
        sha256 = verify_sha256(source.location, options.sha256)
    if source.kind == "single_file":
        txt2img = _load_single_file(source.location, dtype, options, online)
    else:
        if source.kind == "hub":
            _require_hub_model(source.location, online)
        txt2img = _load_pretrained(source.location, dtype, online)
    if options.tiny_vae:
        txt2img.vae = load_tiny_vae(tiny_vae_for(options.tiny_vae, txt2img), dtype)
    img2img = AutoPipelineForImage2Image.from_pipe(txt2img)
    for pipe in (txt2img, img2img):
        pipe.set_progress_bar_config(disable=True)
    _place(txt2img, device, options)
    diffuser = Diffuser(txt2img, img2img, source, device, dtype, sha256)
    if compiled_parts.enabled(options.compile, device, options.cpu_offload):
        diffuser.compiled = compiled_parts.compile_pipe(txt2img, device, diffuser.warn)
    return diffuser


def tiny_vae_for(tiny_vae: str, pipe: Any) -> str:
    """The tiny VAE to load for ``pipe``: the SDXL one in place of the default for SD 1.x/2.x
    when the model is SDXL (their latents differ)."""
    xl = "XL" in type(pipe).__name__
    return TINY_VAE_XL if xl and tiny_vae.strip() == DEFAULT_TINY_VAE else tiny_vae.strip()


def load_tiny_vae(location: str, dtype: Any) -> Any:
    """An ``AutoencoderTiny`` from a diffusers folder or hub id (as madebyollin/taesd is
    published); a hub id downloads only as a model named by the user may."""
    from diffusers import AutoencoderTiny

    path = Path(location).expanduser()
    online = False
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DeforumInputError(
                f"tiny_vae: folder {str(path)!r} has no config.json, so it is not a diffusers "
                "AutoencoderTiny; give the folder holding config.json and "
                "diffusion_pytorch_model.safetensors (as madebyollin/taesd is published)"
            )
        kind = json.loads((path / "config.json").read_text(encoding="utf-8")).get("_class_name")
        if kind != "AutoencoderTiny":
            raise DeforumInputError(
                f"tiny_vae: {str(path)!r} is not an AutoencoderTiny (its config says {kind}); "
                f"give a tiny autoencoder such as {DEFAULT_TINY_VAE}, or set VAE to full"
            )
        location = str(path.resolve())
    elif _HUB_ID.match(location):
        online = may_download(location)
        if not online:
            require_cached("tiny_vae", location, "config.json")
    else:
        raise DeforumInputError(
            f"tiny_vae: no such folder {location!r} (and it is not a Hugging Face id of the "
            f"form 'org/name'); use e.g. {DEFAULT_TINY_VAE} or a local folder"
        )
    try:
        return AutoencoderTiny.from_pretrained(location, dtype=dtype, local_files_only=not online)
    except (OSError, ValueError) as error:
        raise DeforumInputError(f"tiny_vae: could not load {location!r}: {error}") from error


def _load_pretrained(location: str, dtype: Any, online: bool = True) -> Any:
    from diffusers import AutoPipelineForText2Image

    try:
        # No safety checker: Deforum has none, and it would black out frames at random.
        return AutoPipelineForText2Image.from_pretrained(
            location,
            dtype=dtype,
            safety_checker=None,
            requires_safety_checker=False,
            local_files_only=not online,
        )
    except (OSError, ValueError) as error:
        raise DeforumInputError(f"model: could not load {location!r}: {error}") from error


def _load_single_file(location: str, dtype: Any, options: ModelOptions, online: bool = True) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    kind = checkpoint_architecture(location)
    pipeline_class = StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline
    extra: dict[str, Any] = {}
    if options.single_file_config:
        extra["config"] = options.single_file_config
    if kind == "sd":
        extra.update(safety_checker=None, requires_safety_checker=False)
    try:
        return pipeline_class.from_single_file(
            location, dtype=dtype, local_files_only=not online, **extra
        )
    except DeforumInputError:
        raise
    except Exception as error:
        raise DeforumInputError(
            f"model: could not load the single-file checkpoint {location!r}: "
            f"{str(error).rstrip('.')}. diffusers "
            "takes the component configs from the matching hub model (it must be in the cache "
            + ("when offline" if online else f"now: {download_refusal()}")
            + "); set single_file_config to a diffusers folder of the same "
            "architecture to load it fully offline"
        ) from error


def _place(pipe: Any, device: str, options: ModelOptions) -> None:
    """Move to the device and apply the memory options (components are shared, so once)."""
    if options.attention_slicing:
        pipe.enable_attention_slicing()
    if options.vae_tiling:
        pipe.vae.enable_tiling()
    if options.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if device.startswith("cuda"):
        import torch

        # Convolutions run faster on NHWC tensors on NVIDIA tensor cores.
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
