"""`vibot persona train`: a persona's photos in, its LoRA out, where the persona loads it.

The persona file is never edited: the LoRA goes where `appearance.lora` already
points (retraining), or to `--out` (a first LoRA), and the line to put in the
persona file is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from content.errors import ConfigError
from content.images.prompt import photo_prompt
from content.tiny import ensure_model

if TYPE_CHECKING:
    from bot.context import App
    from content.identity import References
    from content.persona import Persona
    from content.training.dataset import Dataset
    from content.training.train import Resume, StepDone, TrainResult, TrainSettings, Validation

VALIDATION_PROMPTS = 4


@dataclass(frozen=True)
class TrainingPlan:
    """What a run will read and write, decided before the model loads."""

    persona: Persona
    location: str
    dataset: Dataset
    references: References | None
    references_from: str  # where the face the run is scored against comes from
    validation_prompts: list[str]
    lora: Path
    resume_from: Resume | None
    pipeline: Any  # the base model, loaded: a plan is made only when everything can run


def lora_path(persona: Persona, out: Path | None) -> Path:
    if out is not None:
        if out.suffix != ".safetensors" or out.is_dir():
            raise ConfigError(f"--out {out}: give a file name ending in .safetensors")
        return out.resolve()
    if persona.appearance.lora is None:
        raise ConfigError(
            f"{persona.source}: appearance.lora is not set — give --out FILE.safetensors for the new LoRA"
        )
    return persona.appearance.lora


def validation_prompts(persona: Persona, count: int = VALIDATION_PROMPTS) -> list[str]:
    """The persona's own scenes, from pillars where the persona appears, taking one scene of
    each pillar in turn."""
    guarded = persona.appearance.identity is not None
    pillars = [p for p in persona.pillars if not guarded or persona.expects_face(p.name)]
    pillars = pillars or persona.pillars[:1]  # every pillar is faceless: still validate something
    depth = max(len(p.scenes) for p in pillars)
    in_turn = [(p.name, p.scenes[i]) for i in range(depth) for p in pillars if i < len(p.scenes)]
    return [photo_prompt(persona, pillar, scene) for pillar, scene in in_turn[:count]]


def plan_training(
    app: App, persona_id: str, images: Path, settings: TrainSettings, resume: bool, out: Path | None
) -> TrainingPlan:
    """Everything that can be wrong is found here, before a step is taken: the photos, the
    references, the checkpoint to resume, the model."""
    from content.identity import load_references
    from content.training.dataset import load_dataset
    from content.training.train import Paths, checkpoint_to_resume, load_base

    persona = app.persona(persona_id)
    lora = lora_path(persona, out)
    look = persona.appearance
    dataset = load_dataset(images, look.trigger, look.base_prompt, settings.resolution)
    references, source = dataset.references(), f"{images} (the training photos)"
    if look.identity is not None and look.identity.references is not None:
        references, source = load_references(look.identity.references), str(look.identity.references)
    resume_from = checkpoint_to_resume(Paths(lora), settings, dataset, resume)
    location = ensure_model(persona.pipeline.image.model, app.settings.models_dir)
    pipeline = load_base(location, app.settings.device)
    prompts = validation_prompts(persona)
    return TrainingPlan(persona, location, dataset, references, source, prompts, lora, resume_from, pipeline)


def run_training(
    plan: TrainingPlan,
    settings: TrainSettings,
    on_step: Callable[[StepDone], None] | None = None,
    on_checkpoint: Callable[[Validation], None] | None = None,
) -> TrainResult:
    from content.training.train import Paths, train_lora

    return train_lora(
        plan.pipeline,
        plan.location,
        plan.dataset,
        settings,
        Paths(plan.lora),
        plan.validation_prompts,
        plan.references,
        resume_from=plan.resume_from,
        on_step=on_step,
        on_checkpoint=on_checkpoint,
    )


def persona_line(persona: Persona, lora: Path) -> str:
    """The `appearance.lora` value for the persona file (relative to it when below it)."""
    base = persona.source.parent.resolve() if persona.source else Path.cwd()
    return f"appearance:\n  lora: {Path(os.path.relpath(lora, base)).as_posix()}"
