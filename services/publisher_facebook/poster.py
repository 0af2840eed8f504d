"""Facebook Page posts: a photo post when the job has an image, else a link post."""

from __future__ import annotations

from schemas.publish import MediaKind, PublishCommand
from services.publishing.graph import GraphClient, read_permalink
from services.publishing.worker import Posted


class FacebookPoster:
    """`POST /{page-id}/photos` or `/{page-id}/feed`, then read the permalink."""

    async def publish(self, graph: GraphClient, command: PublishCommand, token: str) -> Posted:
        """Make the post and return its id and permalink."""
        content = command.content
        images = [m for m in content.media if m.kind is MediaKind.IMAGE]
        if images:
            created = await graph.call(
                "POST",
                f"{command.account_id}/photos",
                token,
                data={"url": str(images[0].url), "caption": content.text},
            )
            post_id = str(created.get("post_id") or created["id"])
        else:
            data = {"message": content.text}
            if content.link is not None:
                data["link"] = str(content.link)
            created = await graph.call("POST", f"{command.account_id}/feed", token, data=data)
            post_id = str(created["id"])
        return Posted(post_id, await read_permalink(graph, post_id, token, "permalink_url"))
