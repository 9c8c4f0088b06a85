"""What every command needs: settings, the database engine (migrated), the
media store and the personas — built once per process and passed around."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sqlalchemy as sa

from bot.settings import Settings
from content.disclosure.certs import SigningMaterial, load_material
from content.errors import NotFoundError
from content.persona import Persona, load_personas, persona_files
from storage.audit import write_log
from storage.db import make_engine, upgrade
from storage.media import MediaStore, open_store


@dataclass
class App:
    settings: Settings

    @cached_property
    def engine(self) -> sa.Engine:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        engine = make_engine(self.settings.db_url)
        upgrade(engine)
        return engine

    @cached_property
    def media(self) -> MediaStore:
        settings = self.settings
        return open_store(settings.media_store, settings.media_dir, settings.s3_endpoint_url)

    @cached_property
    def signing(self) -> SigningMaterial:
        settings = self.settings
        return load_material(
            settings.c2pa_cert, settings.c2pa_key, settings.certs_dir, settings.c2pa_timestamp_url
        )

    @cached_property
    def personas(self) -> dict[str, Persona]:
        directory = self.settings.personas_dir
        if not directory.is_dir():
            raise NotFoundError(
                f"persona folder '{directory}' does not exist — create it or set VIBOT_PERSONAS_DIR"
            )
        return {persona.id: persona for persona in load_personas(persona_files(directory))}

    def write_audit(self) -> None:
        """Append the committed audit entries the trail lacks (after every state change)."""
        write_log(self.engine, self.settings.audit_file)

    def persona(self, persona_id: str) -> Persona:
        try:
            return self.personas[persona_id]
        except KeyError:
            raise NotFoundError(
                f"no persona '{persona_id}' in {self.settings.personas_dir} — "
                f"known: {', '.join(sorted(self.personas)) or 'none'}"
            ) from None
