"""LoRAs named in prompts (``<lora:NAME:WEIGHT>``), loaded once and weighted per frame.

``NAME.safetensors`` is looked up in the job's LoRA folder and loaded through diffusers'
``load_lora_weights`` (peft) as an adapter named ``NAME``; each frame sets the adapters'
weights (0 for a LoRA its prompt does not name), so a prompt schedule can switch LoRAs
without reloading. The txt2img and img2img pipelines share the UNet and text encoder,
so one load serves both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import DeforumInputError


def lora_names(folder: Path) -> list[str]:
    """The LoRAs a folder offers (``NAME.safetensors``), sorted."""
    return sorted(path.stem for path in folder.glob("*.safetensors"))


class LoraAdapters:
    """The LoRAs loaded into one pipeline, by name, and their current weights."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.loaded: dict[str, Path] = {}
        self.weights: dict[str, float] = {}

    def apply(self, folder: str | None, weights: dict[str, float]) -> None:
        """Load what ``weights`` names (once), then set every adapter's weight for this call.

        A LoRA first named at weight 0 is not loaded yet (its file is still checked when a
        folder is set), so frames before a LoRA is switched on are exactly the plain ones.
        """
        for name, weight in weights.items():
            if name in self.loaded:
                continue
            if weight != 0.0:
                self.load(folder, name)
            elif folder:
                lora_file(folder, name)
        wanted = {name: weights.get(name, 0.0) for name in self.loaded}
        if not self.loaded or wanted == self.weights:
            return
        self.pipe.set_adapters(list(wanted), adapter_weights=list(wanted.values()))
        self.weights = wanted

    def load(self, folder: str | None, name: str) -> None:
        path = lora_file(folder, name)
        self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
        self.loaded[name] = path


def lora_file(folder: str | None, name: str) -> Path:
    """``NAME.safetensors`` in the LoRA folder; a clear error when either is missing."""
    if not folder:
        raise DeforumInputError(
            f"prompt: <lora:{name}:…> needs a LoRA folder; set lora_dir (--set lora_dir=DIR, "
            f"or the add-on's LoRA Folder) to the folder holding {name}.safetensors"
        )
    path = Path(folder).expanduser() / f"{name}.safetensors"
    if not path.is_file():
        offered = ", ".join(lora_names(path.parent)) or "none"
        raise DeforumInputError(
            f"prompt: <lora:{name}:…>: no {path.name} in {str(path.parent)!r} "
            f"(LoRAs there: {offered}); check the name or lora_dir"
        )
    return path


def build_tiny_lora(sd_folder: Path, target: Path) -> Path:
    """A random-weight LoRA for the tiny UNet, saved as diffusers publishes LoRA weights."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(sd_folder / "unet")
    torch.manual_seed(20261127)
    # Random A and B (peft's default makes B zero, a LoRA that changes nothing).
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    unet.add_adapter(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(target.parent),
        unet_lora_layers=get_peft_model_state_dict(unet),
        weight_name=target.name,
        safe_serialization=True,
    )
    return target
