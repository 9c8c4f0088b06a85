"""The Threads publisher: Meta's container protocol under the Threads API's names.

    quota (threads_publishing_limit) ─► container(s): IMAGE, VIDEO or CAROUSEL with `text`
    ─► poll `status` ─► threads_publish ─► permalink

It shares everything else with the Instagram Graph publisher (`GraphPublisher`): errors as
outcomes, the container id stored as vibot's handle before the one irreversible call, and
reconciliation that asks the container before it looks for the post. The Threads API has
no AI-label field (FACTS), so the caption's disclosure line and the visible label carry it.
"""

from __future__ import annotations

from bot.publishers import PublishRequest, Registration, UrlFor
from bot.publishers.graph import ContainerFlow, GraphPublisher, container_config
from bot.settings import Settings
from content.persona import Persona
from content.platforms.threads import ThreadsAccount

THREADS_FLOW = ContainerFlow(
    "Threads", "threads", "threads_publish", "threads_publishing_limit", "status", "status,error_message",
    "text", "id,text,timestamp,permalink",
)  # fmt: skip


class ThreadsPublisher(GraphPublisher):
    name = "threads"
    ai_flag = "none in the API (the caption line and the visible label)"
    flow = THREADS_FLOW

    def _containers(self, request: PublishRequest) -> str:
        user = self.config.ig_user_id
        urls = [self.url_for(request.post_id, sha) for sha in request.media_sha256]
        if request.format == "reel":  # the cover stays home: Threads picks its own
            params = {"media_type": "VIDEO", "video_url": urls[0], "text": request.caption}
            return str(self._call("POST", f"/{user}/threads", params)["id"])
        if request.format == "carousel":
            children = [
                str(
                    self._call(
                        "POST",
                        f"/{user}/threads",
                        {"media_type": "IMAGE", "image_url": url, "is_carousel_item": "true"},
                    )["id"]
                )
                for url in urls
            ]
            for child in children:
                self._wait(child)
            params = {"media_type": "CAROUSEL", "children": ",".join(children), "text": request.caption}
            return str(self._call("POST", f"/{user}/threads", params)["id"])
        params = {"media_type": "IMAGE", "image_url": urls[0], "text": request.caption}
        return str(self._call("POST", f"/{user}/threads", params)["id"])


def build(account: ThreadsAccount, persona: Persona, settings: Settings, url_for: UrlFor) -> ThreadsPublisher:
    config = container_config(
        settings.api_url("threads"), settings.threads_api_version, account, persona, settings
    )
    return ThreadsPublisher(config, url_for)


REGISTRATION = Registration(ThreadsAccount, build)
