"""Settings from the environment and `.env` (prefix VIBOT_), read once and injected."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from content.images.loading import Memory, Speed


class ExecutorKind(StrEnum):
    """Where posts are generated (bot/executors.py holds each one's code)."""

    LOCAL = "local"  # one worker process beside the daemon
    RAY = "ray"  # a pool of actors on a Ray cluster


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VIBOT_", env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    home: Path = Field(default=Path("data"), description="data directory")
    database_url: str | None = Field(default=None, description="default: SQLite in home")
    personas_dir: Path = Path("personas")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    device: str | None = Field(default=None, description="cuda, mps or cpu; default: best found")
    dtype: Literal["bfloat16", "float16", "float32"] | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    # GPU speed switches for Flux, each off by default (quality costs: docs/images.md).
    compile: bool = Field(default=False, description="torch.compile the transformer's blocks")
    fuse_qkv: bool = False
    channels_last: bool = False
    quantize: Literal["none", "int8", "fp8"] = "none"
    step_cache: float = Field(default=0.0, ge=0.0, le=1.0, description="First Block Cache threshold")
    attention: str | None = Field(default=None, description="diffusers attention backend")
    lora_max_rank: int = Field(default=128, ge=1, le=1024, description="hot-swap rank when compiled")
    plan_days: int = Field(default=14, ge=1, le=365)
    plan_seed: int = 0
    publish_interval_s: float = Field(default=60.0, gt=0)
    insights_interval_s: float = Field(default=900.0, gt=0, description="how often insights are collected")
    insights_calls_per_hour: int = Field(
        default=150, ge=1, le=10_000, description="insights API calls per account"
    )
    prepare_interval_s: float = Field(default=300.0, gt=0)
    misfire_grace_s: int = Field(default=600, ge=1)

    # Captions by a language model on any OpenAI-compatible server. Unset model: templates.
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "VIBOT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "VIBOT_OPENAI_BASE_URL")
    )
    llm_model: str | None = None
    llm_temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_max_rewrites: int = Field(default=2, ge=0, le=10)
    llm_price_in_per_mtok: float = Field(default=0.0, ge=0.0, description="USD per million input tokens")
    llm_price_out_per_mtok: float = Field(default=0.0, ge=0.0, description="USD per million output tokens")
    llm_daily_budget_usd: float | None = Field(default=None, ge=0.0, description="per persona")
    caption_similarity_max: float = Field(default=0.5, gt=0.0, le=1.0)

    # The kling reel backend: Kling's image-to-video API.
    kling_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KLING_ACCESS_KEY", "VIBOT_KLING_ACCESS_KEY")
    )
    kling_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KLING_SECRET_KEY", "VIBOT_KLING_SECRET_KEY")
    )
    kling_api_url: str = "https://api.klingai.com"
    kling_model: str = "kling-v1-6"
    kling_mode: Literal["std", "pro"] = "std"

    # Publishing through the Instagram Graph API: Meta fetches media from vibot's web server.
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v22.0"
    graph_request_timeout_s: float = Field(default=30.0, gt=0)
    # Publishing to Threads through the Threads API (Meta's container protocol).
    threads_api_url: str = "https://graph.threads.net"
    threads_api_version: str = "v1.0"
    # Publishing to TikTok through the Content Posting API v2 (Direct Post).
    tiktok_api_url: str = "https://open.tiktokapis.com"
    # Publishing YouTube Shorts through the YouTube Data API v3 (uploads and their status).
    youtube_api_url: str = "https://www.googleapis.com"
    # Any publisher's API base URL, by publisher name (VIBOT_API_URLS='{"bluesky": "…"}'):
    # a new publisher keeps its default in its own module and needs no field here.
    api_urls: dict[str, str] = Field(default_factory=dict)
    web_host: str = Field(default="127.0.0.1", description="where vibot's web server listens")
    web_port: int = Field(default=8080, ge=0, le=65535, description="0: any free port")
    web_enabled: bool = Field(default=True, description="the daemon serves the web UI")
    standby_poll_s: float = Field(
        default=2.0, gt=0, le=60,
        description="PostgreSQL: how often a standby daemon asks for the daemon lock (takeover time)",
    )  # fmt: skip
    web_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # None: Secure cookies exactly when the request came over HTTPS (directly or, through a
    # trusted proxy, by X-Forwarded-Proto).
    web_secure_cookies: bool | None = None
    web_trusted_proxies: str = Field(default="127.0.0.1", description="proxies whose X-Forwarded-* count")
    web_login_attempts: int = Field(default=5, ge=1, le=100, description="failed logins per 15 min")
    web_max_body: int = Field(
        default=1 << 20,
        ge=4096,
        le=1 << 30,
        description="largest request body in bytes, checked before parsing",
    )
    # The public /verify page: anyone may upload a copy of a post (streamed to disk) to
    # read its watermark, so its uploads get their own size limit and a per-address rate.
    web_verify_max_bytes: int = Field(
        default=64 << 20, ge=1 << 20, le=1 << 31, description="largest upload to /verify in bytes"
    )
    web_verify_per_minute: int = Field(default=10, ge=1, le=10_000, description="/verify lookups per address")
    public_base_url: str | None = Field(default=None, description="where Meta can reach vibot's web server")
    public_url_secret: SecretStr | None = Field(default=None, description="HMAC key of public media URLs")
    media_store: str | None = Field(
        default=None,
        description="s3://bucket/prefix: media in S3-compatible storage (default: files on disk)",
    )
    s3_endpoint_url: str | None = Field(default=None, description="an S3-compatible server (default: AWS)")

    # Where generation runs: a worker process here, or actors on a Ray cluster (vibot[ray]).
    executor: ExecutorKind = ExecutorKind.LOCAL
    generation_retries: int = Field(
        default=2, ge=0, le=10, description="times a post is sent again after its worker died"
    )
    ray_address: str = Field(default="auto", description="auto, host:port or ray://host:10001")
    ray_actors: int | None = Field(
        default=None, ge=1, le=4096, description="actors in the pool (default: one per GPU, else one)"
    )
    ray_actor_cpus: float = Field(
        default=1.0, gt=0, le=256, description="CPUs per actor on a cluster without GPUs"
    )
    ray_asset_cache: Path = Field(
        default=Path("~/.cache/vibot/assets"), description="where each worker machine keeps persona assets"
    )

    # A webhook for a person (Slack or Discord incoming-webhook URL): failures, held accounts,
    # posts that need reconciling. A secret: the URL itself grants posting.
    notify_url: SecretStr | None = None

    # C2PA signing: a real certificate chain and key for production; unset, a local CA in
    # VIBOT_HOME/certs (made on first use) signs, and vibot trusts it when verifying.
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None
    c2pa_timestamp_url: str | None = None

    def speed(self) -> Speed:
        return Speed(
            compile=self.compile,
            fuse_qkv=self.fuse_qkv,
            channels_last=self.channels_last,
            quantize=self.quantize,
            cache_threshold=self.step_cache,
            attention=self.attention,
            lora_max_rank=self.lora_max_rank,
        )

    def memory(self) -> Memory:
        return Memory(
            dtype=self.dtype,
            cpu_offload=self.cpu_offload,
            vae_tiling=self.vae_tiling,
            vae_slicing=self.vae_slicing,
        )

    @property
    def db_url(self) -> str:
        from storage.db import sqlite_url  # here, not at the top: generation reads settings only

        return self.database_url or sqlite_url(self.home)

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def certs_dir(self) -> Path:
        return self.home / "certs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def audit_file(self) -> Path:
        """The hash-chained audit trail (storage/audit.py)."""
        return self.home / "audit.jsonl"

    def api_url(self, publisher: str, default: str = "") -> str:
        """A publisher's API base URL: VIBOT_API_URLS' entry, else its own setting
        (VIBOT_TIKTOK_API_URL…), else the default its module gives."""
        own = getattr(self, f"{publisher}_api_url", None)
        return self.api_urls.get(publisher) or (own if isinstance(own, str) else None) or default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
