"""Training a persona's LoRA on Flux with the flow-matching objective.

    dataset ─► cache: VAE latent distributions + text embeddings, once; the text
               encoders are then freed and the VAE leaves the accelerator
            ─► peft LoRA on the transformer's attention projections (base frozen)
            ─► steps: x0 from the cached latents, noise, sigma ~ U(0,1),
               x_sigma = (1-sigma)·x0 + sigma·noise, loss = ‖v(x_sigma) - (noise - x0)‖²
            ─► every N steps: checkpoint (LoRA, optimizer, LR schedule, RNG, step)
               and validation (the persona's scenes, scored against its face)
            ─► the checkpoint whose validation faces are closest to the persona's is the LoRA

This follows diffusers' `train_dreambooth_lora_flux.py`, with three deliberate
differences: every random draw (latent sample, noise, timestep) comes from one
generator whose state is checkpointed, so a resumed run equals an uninterrupted
one bit for bit on CPU; the timestep table comes from a fresh copy of the
scheduler, never from the pipeline's, which validation sampling reconfigures; and
the image position ids use the packed latent size (height/2 × width/2), as the
pipeline does at inference.

Pure: files in, files out; no database. Progress goes to a callback.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from content.errors import ConfigError, GenerationError
from content.images.generate import PROMPT_TOKENS
from content.images.loading import Quantize, load_pretrained, pick_device, quantize_transformer
from content.images.lora import TARGET_MODULES
from content.models import TINY_FLUX

if TYPE_CHECKING:
    import torch

    from content.identity import References
    from content.training.dataset import Dataset

LORA_FILE = "pytorch_lora_weights.safetensors"  # the name diffusers looks for in a folder
STATE_FILE = "training-state.pt"
CHECKPOINT_PREFIX = "step-"


@dataclass(frozen=True)
class TrainSettings:
    """What a run is made of. Everything but `steps` must match when a run is resumed."""

    steps: int = 1000
    rank: int = 16
    alpha: float | None = None  # None: alpha = rank (scale 1)
    lr: float = 1e-4
    warmup: int = 50  # steps of linear warm-up, then constant
    resolution: int = 512
    batch: int = 1
    seed: int = 0
    checkpoint_every: int = 250
    guidance: float = 3.5  # the guidance input of guidance-distilled models (FLUX.1-dev)
    max_grad_norm: float = 1.0
    weight_decay: float = 1e-4
    validation_steps: int = 20  # sampling steps of each validation image
    keep_checkpoints: int = 3  # the newest N and the best are kept
    # The frozen base in 8 bits (torchao weight-only; peft trains the LoRA on top): FLUX.1-dev's
    # transformer is 23.8 GB in bf16, ~12 GB in int8. The LoRA itself stays float32.
    quantize: Quantize = "none"

    @property
    def lora_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)

    def matches(self, other: TrainSettings) -> list[str]:
        """The settings (other than steps) that differ from `other`."""
        mine, theirs = asdict(self), asdict(other)
        return [
            name for name in mine if name not in ("steps", "keep_checkpoints") and mine[name] != theirs[name]
        ]


@dataclass(frozen=True)
class Paths:
    """Where a run writes: the LoRA the persona loads, and everything beside it."""

    lora: Path

    @property
    def checkpoints(self) -> Path:
        return self.lora.with_name(self.lora.stem + ".checkpoints")

    @property
    def record(self) -> Path:
        return self.lora.with_name(self.lora.stem + ".training.json")

    @property
    def plot(self) -> Path:
        return self.lora.with_name(self.lora.stem + ".training.png")

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"{CHECKPOINT_PREFIX}{step:06d}"

    def finished_checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (one being written has a temporary name)."""
        if not self.checkpoints.is_dir():
            return []
        found = [p for p in self.checkpoints.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and p.is_dir()]
        return sorted(p for p in found if (p / STATE_FILE).is_file() and (p / LORA_FILE).is_file())


@dataclass(frozen=True)
class Validation:
    """The images of one checkpoint and how close their faces are to the persona's."""

    step: int
    images: list[str]  # file names inside the checkpoint folder
    distances: list[float | None]  # None: no face in that image, or not scored
    scored: bool = True  # False: no reference face to compare with

    @property
    def faces(self) -> int:
        return sum(d is not None for d in self.distances)

    @property
    def mean_distance(self) -> float | None:
        found = [d for d in self.distances if d is not None]
        return float(np.mean(found)) if found else None

    @property
    def summary(self) -> str:
        """One line for a person: what this checkpoint's validation images showed."""
        shown, mean = len(self.images), self.mean_distance
        if not self.scored:
            return f"{shown} validation image(s), not scored (no reference face)"
        if mean is None:
            return f"no face in {shown} validation image(s)"
        return f"identity {mean:.3f} ({self.faces}/{shown} faces)"

    def rank(self) -> tuple[int, float, int]:
        """Sort key, best first: more faces, then closer, then later."""
        mean = self.mean_distance
        return (-self.faces, mean if mean is not None else 9.0, -self.step)

    def as_record(self) -> dict[str, Any]:
        mean = self.mean_distance
        return {
            "step": self.step,
            "images": self.images,
            "distances": [None if d is None else round(d, 4) for d in self.distances],
            "faces": self.faces,
            "mean_distance": None if mean is None else round(mean, 4),
            "scored": self.scored,
        }


@dataclass(frozen=True)
class Resume:
    """The checkpoint a run continues from, its state read (and checked) once."""

    checkpoint: Path
    state: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class StepDone:
    step: int  # 1-based: steps done so far
    total: int
    loss: float


@dataclass(frozen=True)
class TrainResult:
    lora: Path
    best: Validation
    validations: list[Validation]
    losses: list[float]
    resumed_from: int | None
    seconds_per_step: float  # median of the optimizer steps alone
    seconds_total: float  # this run's steps, checkpoints and validation
    peak_memory_mb: float  # accelerator memory while training (CUDA), else the process's RSS


@dataclass(frozen=True)
class _Example:
    """One cached training image: its latent distribution and its caption's embeddings."""

    latent_mean: torch.Tensor  # already shifted and scaled into the transformer's latent space
    latent_std: torch.Tensor
    prompt_embeds: torch.Tensor
    pooled_embeds: torch.Tensor
    bucket: tuple[int, int]


# --- the data ------------------------------------------------------------------------


def pixels(path: Path, bucket: tuple[int, int]) -> torch.Tensor:
    """The photo scaled to cover its bucket and centre-cropped to it, as a (1, 3, H, W)
    tensor in [-1, 1] (the VAE's input range)."""
    import torch
    from PIL import ImageOps

    from content.identity import read_photo

    image = ImageOps.fit(read_photo(path), bucket, Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def batches(buckets: list[tuple[int, int]], batch: int, seed: int) -> Iterator[list[int]]:
    """Image indices, batch after batch, forever. Each epoch is a fresh shuffle (seeded by
    the epoch number, so a resumed run replays it), cut into batches of one bucket each."""
    epoch = 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(len(buckets)).tolist()
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for index in order:
            by_bucket.setdefault(buckets[index], []).append(index)
        position = {index: place for place, index in enumerate(order)}
        chunks = [group[i : i + batch] for group in by_bucket.values() for i in range(0, len(group), batch)]
        chunks.sort(key=lambda chunk: position[chunk[0]])
        yield from chunks
        epoch += 1


# --- the run -------------------------------------------------------------------------


def train_lora(
    pipeline: Any,
    location: str,
    dataset: Dataset,
    settings: TrainSettings,
    paths: Paths,
    validation_prompts: list[str],
    references: References | None,
    resume_from: Resume | None = None,
    on_step: Callable[[StepDone], None] | None = None,
    on_checkpoint: Callable[[Validation], None] | None = None,
) -> TrainResult:
    """Train `pipeline` (from `load_base`, on its device), from `resume_from` (from
    `checkpoint_to_resume`) or from scratch; checkpoint, validate; write the best checkpoint's
    LoRA to `paths.lora` with its record and plot beside it. Returns what was measured."""
    import torch

    device = str(pipeline.transformer.device)
    examples, validation_embeds = _cache(pipeline, dataset, validation_prompts, device)
    transformer = pipeline.transformer
    if settings.quantize != "none":
        quantize_transformer(transformer, settings.quantize)
    params = _add_lora(transformer, settings)
    optimizer, optimizer_name = _optimizer(params, settings, device)
    from diffusers.optimization import get_constant_schedule_with_warmup

    schedule = get_constant_schedule_with_warmup(optimizer, num_warmup_steps=settings.warmup)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    losses: list[float] = []
    validations: list[Validation] = []
    first_step = 0
    if resume_from is not None:
        _restore(resume_from, transformer, optimizer, schedule, generator)
        state = resume_from.state
        first_step, losses = state["step"], list(state["losses"])
        validations = [Validation(**v) for v in state["validations"]]

    from diffusers import FlowMatchEulerDiscreteScheduler

    # A fresh scheduler: the pipeline's own is reconfigured by every validation sample.
    timetable = FlowMatchEulerDiscreteScheduler.from_config(pipeline.scheduler.config)
    order = batches([e.bucket for e in examples], settings.batch, settings.seed)
    for _ in range(first_step):
        next(order)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started, step_seconds = time.perf_counter(), []
    for step in range(first_step, settings.steps):
        began = time.perf_counter()
        chosen = [examples[i] for i in next(order)]
        losses.append(
            train_step(transformer, params, optimizer, schedule, chosen, timetable, generator, settings)
        )
        step_seconds.append(time.perf_counter() - began)
        done = step + 1
        if on_step is not None:
            on_step(StepDone(done, settings.steps, losses[-1]))
        if done % settings.checkpoint_every == 0 or done == settings.steps:
            validation, images = _validate(pipeline, validation_embeds, references, settings, done, device)
            validations.append(validation)
            state = _state(done, optimizer, schedule, generator, losses, validations, settings, dataset)
            _save_checkpoint(paths.checkpoint(done), transformer, state, validation, images)
            _prune(paths, settings, validations)
            if on_checkpoint is not None:
                on_checkpoint(validation)
    best = min(validations, key=Validation.rank)
    _publish(paths.checkpoint(best.step) / LORA_FILE, paths.lora)
    result = TrainResult(
        lora=paths.lora,
        best=best,
        validations=validations,
        losses=losses,
        resumed_from=first_step or None,
        seconds_per_step=float(np.median(step_seconds)),
        seconds_total=time.perf_counter() - started,
        peak_memory_mb=_peak_memory_mb(device),
    )
    run = {
        "location": location,
        "device": device,
        "dtype": str(transformer.dtype),
        "optimizer": optimizer_name,
    }
    _write_json(paths.record, _record(result, run, dataset, settings, references))
    plot_training(losses, validations, best, paths.plot)
    return result


def load_base(location: str, device: str | None = None) -> Any:
    """The Flux pipeline to train on; a model that cannot load is the user's to fix."""
    from content.images.loading import Memory

    device = pick_device(device)
    try:
        pipeline = load_pretrained(
            "FluxPipeline", location, device, Memory(), "pipeline.image.model", TINY_FLUX
        )
    except GenerationError as err:
        raise ConfigError(str(err)) from None
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def _cache(
    pipeline: Any, dataset: Dataset, validation_prompts: list[str], device: str
) -> tuple[list[_Example], list[tuple[Any, Any]]]:
    """Encode every image and caption once, then free what only encoding needed."""
    import torch

    vae = pipeline.vae
    shift, scale = vae.config.shift_factor or 0.0, vae.config.scaling_factor
    examples = []
    with torch.no_grad():
        for image in dataset.images:
            latent = vae.encode(pixels(image.path, image.bucket).to(device, vae.dtype)).latent_dist
            embeds, pooled, _ = pipeline.encode_prompt(
                prompt=image.caption, prompt_2=None, device=device, max_sequence_length=PROMPT_TOKENS
            )
            # (sample - shift) · scale, with sample = mean + std · ε, is this mean and std.
            mean, std = (latent.mean - shift) * scale, latent.std * scale
            examples.append(_Example(mean, std, embeds, pooled, image.bucket))
        validation = [
            pipeline.encode_prompt(prompt=p, prompt_2=None, device=device, max_sequence_length=PROMPT_TOKENS)[
                :2
            ]
            for p in validation_prompts
        ]
    # The text encoders (T5-XXL is 9.5 GB in bf16) are not needed again; the VAE only decodes
    # the validation images and waits off the accelerator until then.
    pipeline.text_encoder = None
    pipeline.text_encoder_2 = None
    vae.to("cpu")
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return examples, validation


def _add_lora(transformer: Any, settings: TrainSettings) -> list[Any]:
    """A LoRA on the attention projections; the base weights stay frozen. Trainable weights
    are float32 even when the base is bfloat16: Adam's small updates vanish in bf16."""
    import torch
    from peft import LoraConfig

    transformer.requires_grad_(False)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.lora_alpha,
        init_lora_weights="gaussian",
        target_modules=TARGET_MODULES,
    )
    torch.manual_seed(settings.seed)  # peft draws the A matrices from the global generator
    with warnings.catch_warnings():
        # On an 8-bit base peft warns that merging would fail: training never merges.
        warnings.filterwarnings("ignore", message="TorchaoLoraLinear was instantiated without")
        transformer.add_adapter(config)
    params = [p for p in transformer.parameters() if p.requires_grad]
    for param in params:
        param.data = param.data.float()
    transformer.enable_gradient_checkpointing()
    return params


def _optimizer(params: list[Any], settings: TrainSettings, device: str) -> tuple[Any, str]:
    """8-bit AdamW where bitsandbytes and CUDA are there (a quarter of Adam's state memory),
    plain AdamW elsewhere."""
    import torch

    options = {"lr": settings.lr, "betas": (0.9, 0.999), "weight_decay": settings.weight_decay, "eps": 1e-8}
    if device.startswith("cuda"):
        try:
            import bitsandbytes

            return bitsandbytes.optim.AdamW8bit(params, **options), "AdamW8bit (bitsandbytes)"
        except ImportError:
            pass
    return torch.optim.AdamW(params, **options), "AdamW"


def train_step(
    transformer: Any,
    params: list[Any],
    optimizer: Any,
    schedule: Any,
    chosen: list[_Example],
    timetable: Any,
    generator: torch.Generator,
    settings: TrainSettings,
) -> float:
    """One optimizer step on one batch; returns its loss."""
    import torch

    transformer.train()
    loss = flow_matching_loss(transformer, chosen, timetable, generator, settings)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())  # waits for the accelerator: the step's time is its real time


def flow_matching_loss(
    transformer: Any,
    chosen: list[_Example],
    timetable: Any,
    generator: torch.Generator,
    settings: TrainSettings,
) -> torch.Tensor:
    """The flow-matching loss of one batch (one bucket)."""
    import torch
    from diffusers import FluxPipeline
    from diffusers.training_utils import compute_density_for_timestep_sampling

    dtype, device = transformer.dtype, transformer.device
    mean = torch.cat([e.latent_mean for e in chosen])
    std = torch.cat([e.latent_std for e in chosen])
    x0 = (mean + std * torch.randn(mean.shape, generator=generator).to(mean.device, mean.dtype)).to(dtype)
    noise = torch.randn(x0.shape, generator=generator).to(device, dtype)
    size, channels, height, width = x0.shape
    u = compute_density_for_timestep_sampling("none", size, generator=generator)
    indices = (u * timetable.config.num_train_timesteps).long()
    timesteps = timetable.timesteps[indices].to(device)
    sigmas = timetable.sigmas[indices].to(device, dtype).view(-1, 1, 1, 1)
    noisy = (1.0 - sigmas) * x0 + sigmas * noise
    guidance = None
    if transformer.config.guidance_embeds:
        guidance = torch.full((size,), settings.guidance, device=device)
    prediction = transformer(
        hidden_states=FluxPipeline._pack_latents(noisy, size, channels, height, width),
        timestep=timesteps / 1000,
        guidance=guidance,
        pooled_projections=torch.cat([e.pooled_embeds for e in chosen]),
        encoder_hidden_states=torch.cat([e.prompt_embeds for e in chosen]),
        txt_ids=torch.zeros(chosen[0].prompt_embeds.shape[1], 3, device=device, dtype=dtype),
        img_ids=FluxPipeline._prepare_latent_image_ids(size, height // 2, width // 2, device, dtype),
        return_dict=False,
    )[0]
    # The velocity target, packed like the prediction: a mean over all elements does not
    # care about their order, so nothing is unpacked.
    target = FluxPipeline._pack_latents(noise - x0, size, channels, height, width)
    return torch.nn.functional.mse_loss(prediction.float(), target.float())


# --- validation ----------------------------------------------------------------------


def _validate(
    pipeline: Any,
    embeds: list[tuple[Any, Any]],
    references: References | None,
    settings: TrainSettings,
    step: int,
    device: str,
) -> tuple[Validation, list[Image.Image]]:
    """The persona's scenes at this step, the same seeds every time, each scored against
    the persona's face (when there are references)."""
    import torch

    from content.identity import score

    pipeline.transformer.eval()
    pipeline.vae.to(device)
    images: list[Image.Image] = []
    with torch.no_grad():
        for index, (prompt_embeds, pooled) in enumerate(embeds):
            images.append(
                pipeline(
                    prompt_embeds=prompt_embeds,
                    pooled_prompt_embeds=pooled,
                    width=settings.resolution,
                    height=settings.resolution,
                    num_inference_steps=settings.validation_steps,
                    guidance_scale=settings.guidance,
                    generator=torch.Generator(device="cpu").manual_seed(settings.seed + index),
                ).images[0]
            )
    pipeline.vae.to("cpu")
    names = [f"validation-{index}.png" for index in range(len(images))]
    distances = [None if references is None else score(image, references).distance for image in images]
    return Validation(step, names, distances, scored=references is not None), images


# --- checkpoints ---------------------------------------------------------------------


def trained_on(lora: Path) -> Path | None:
    """The photo folder the LoRA was trained on, from the record `train_lora` wrote beside
    it; None without one (a LoRA made elsewhere) or when the folder is gone."""
    try:
        folder = json.loads(Paths(lora).record.read_text(encoding="utf-8")).get("images")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(folder) if isinstance(folder, str) and Path(folder).is_dir() else None


def fingerprint(dataset: Dataset) -> list[str]:
    """The training photos (content and caption): a resumed run must train on the same."""
    return [f"{image.sha256} {image.caption}" for image in dataset.images]


def checkpoint_to_resume(
    paths: Paths, settings: TrainSettings, dataset: Dataset, resume: bool
) -> Resume | None:
    """The newest checkpoint when `resume`, checked against these settings and photos; a
    fresh run refuses to overwrite an earlier run's checkpoints."""
    found = paths.finished_checkpoints()
    if not resume:
        if found:
            raise ConfigError(
                f"{paths.checkpoints}: checkpoints of an earlier run are there — add --resume to continue "
                "it, or delete that folder to start over"
            )
        return None
    if not found:
        raise ConfigError(
            f"{paths.checkpoints}: no checkpoint to resume from — run without --resume to start training"
        )
    latest = found[-1]
    state = _read_state(latest)
    saved = TrainSettings(**state["settings"])
    differing = saved.matches(settings)
    if differing:
        first = differing[0]
        raise ConfigError(
            f"{latest}: made with {first}={getattr(saved, first)!r}, now {getattr(settings, first)!r} — "
            "resume with the same settings (only --steps may change), or start over in a new --out"
        )
    if state["step"] >= settings.steps:
        raise ConfigError(
            f"{latest}: the run already reached step {state['step']} — give --steps above "
            f"{state['step']} to train on, or start over in a new --out"
        )
    if state["dataset"] != fingerprint(dataset):
        raise ConfigError(
            f"{latest}: the training photos or captions changed since this checkpoint — put them back, "
            "or start over in a new --out"
        )
    return Resume(latest, state)


def _read_state(checkpoint: Path) -> dict[str, Any]:
    import torch

    try:
        # weights_only: a checkpoint is data; loading it never runs code from the file.
        state: dict[str, Any] = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"{checkpoint / STATE_FILE}: unreadable ({str(err).splitlines()[0][:120]}) — delete that "
            "checkpoint folder to resume from the one before"
        ) from None
    return state


def _state(
    step: int,
    optimizer: Any,
    schedule: Any,
    generator: torch.Generator,
    losses: list[float],
    validations: list[Validation],
    settings: TrainSettings,
    dataset: Dataset,
) -> dict[str, Any]:
    """Everything but the LoRA that a resumed run needs to continue exactly."""
    import torch

    return {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "losses": losses,
        "validations": [asdict(v) for v in validations],
        "settings": asdict(settings),
        "dataset": fingerprint(dataset),
    }


def _save_checkpoint(
    folder: Path, transformer: Any, state: dict[str, Any], validation: Validation, images: list[Image.Image]
) -> None:
    """Written under a temporary name and renamed: a run killed while saving leaves the
    previous checkpoint as the latest, never half of this one."""
    import torch

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _save_lora(transformer, partial / LORA_FILE)
    torch.save(state, partial / STATE_FILE)
    for name, image in zip(validation.images, images, strict=True):
        image.save(partial / name)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def _save_lora(transformer: Any, path: Path) -> None:
    from diffusers import FluxPipeline
    from peft.utils import get_peft_model_state_dict

    FluxPipeline.save_lora_weights(
        str(path.parent),
        transformer_lora_layers=get_peft_model_state_dict(transformer),
        weight_name=path.name,
    )


def _restore(
    resume: Resume, transformer: Any, optimizer: Any, schedule: Any, generator: torch.Generator
) -> None:
    import torch
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    saved = load_file(resume.checkpoint / LORA_FILE)
    set_peft_model_state_dict(
        transformer, {key.removeprefix("transformer."): value for key, value in saved.items()}
    )
    state = resume.state
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])


def _prune(paths: Paths, settings: TrainSettings, validations: list[Validation]) -> None:
    """Keep the newest `keep_checkpoints` and the best so far."""
    best = min(validations, key=Validation.rank).step
    finished = paths.finished_checkpoints()
    for checkpoint in finished[: -settings.keep_checkpoints]:
        if checkpoint != paths.checkpoint(best):
            shutil.rmtree(checkpoint)


def _publish(source: Path, target: Path) -> None:
    """Copy then rename: a daemon loading the persona's LoRA sees the old file or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


# --- the record ----------------------------------------------------------------------


def _peak_memory_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _record(
    result: TrainResult,
    run: dict[str, str],
    dataset: Dataset,
    settings: TrainSettings,
    references: References | None,
) -> dict[str, Any]:
    """The JSON beside the LoRA: enough to know what it was trained on, how, and how it did."""
    from content.images.generate import model_fingerprint

    return {
        "lora": str(result.lora),
        "model": {"location": run["location"], "fingerprint": model_fingerprint(run["location"])},
        "device": run["device"],
        "dtype": run["dtype"].removeprefix("torch."),
        "optimizer": run["optimizer"],
        "objective": "flow matching (velocity noise - x0), sigma ~ U(0, 1)",
        "target_modules": TARGET_MODULES,
        "settings": asdict(settings),
        "dataset": [
            {
                "file": image.path.name,
                "sha256": image.sha256,
                "phash": image.phash,
                "caption": image.caption,
                "bucket": list(image.bucket),
                "face": image.face,
            }
            for image in dataset.images
        ],
        "images": str(dataset.folder.resolve()),  # the persona's default reference faces
        "dropped_duplicates": [[dropped.name, kept.name] for dropped, kept in dataset.duplicates],
        "references": None if references is None else references.names,
        "loss": [round(value, 6) for value in result.losses],
        "checkpoints": [validation.as_record() for validation in result.validations],
        "best_step": result.best.step,
        "resumed_from": result.resumed_from,
        "seconds_per_step": round(result.seconds_per_step, 4),
        "seconds_total": round(result.seconds_total, 2),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def plot_training(losses: list[float], validations: list[Validation], best: Validation, path: Path) -> Path:
    """Loss per step (and its moving average) above the mean identity distance per checkpoint."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True)
    steps = np.arange(1, len(losses) + 1)
    top.plot(steps, losses, color="#9aa5b1", linewidth=0.8, label="loss")
    window = max(2, len(losses) // 20)
    if len(losses) >= 2 * window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        top.plot(steps[window - 1 :], smooth, color="#1f4e79", linewidth=1.6, label=f"mean of {window} steps")
    top.set_ylabel("flow-matching loss")
    top.legend(loc="upper right")
    scored = [(v.step, v.mean_distance) for v in validations if v.mean_distance is not None]
    if scored:
        bottom.plot(*zip(*scored, strict=True), marker="o", color="#b03a2e")
        if best.mean_distance is not None:
            bottom.scatter(
                [best.step],
                [best.mean_distance],
                s=120,
                facecolors="none",
                edgecolors="black",
                label=f"kept: step {best.step}",
            )
            bottom.legend(loc="upper right")
    else:
        why = "no faces in the validation images" if best.scored else "no reference face: not scored"
        bottom.text(0.5, 0.5, why, ha="center", va="center", transform=bottom.transAxes)
    bottom.set_ylabel("identity distance (lower: closer)")
    bottom.set_xlabel("step")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
