"""Photos in chat rooms, the gateway's side (docs/design/0032-chat-photos.md): a ``publish``
with ``photo`` names a photo its author uploaded to the room over HTTP (``web/photos/api.py``);
the message carries a reference to it (``data.photo``), never the bytes.
"""

from __future__ import annotations

from typing import Any

from channels.access import Action
from channels.names import ChannelRef
from gateway.codes import ErrorCode
from gateway.connection import Connection
from gateway.gateway import Gateway, RequestError
from linli.feature import Services
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore


def photo_urls(photo_id: str) -> dict[str, str]:
    base = f"/api/photos/{photo_id}"
    return {"url": base, "thumb_url": f"{base}/thumb"}


def photo_ref(photo: ChatPhoto) -> dict[str, Any]:
    """``data.photo`` of a message (docs/protocol.md, "Photos")."""
    return {
        "id": photo.id,
        "blob": photo.blob_id,
        "thumb": photo.thumb_id,
        "width": photo.width,
        "height": photo.height,
        **photo_urls(photo.id),
    }


class GatewayPhotos:
    def __init__(self, gateway: Gateway, services: Services) -> None:
        self.gateway = gateway
        self.store = SqlPhotoStore(services.database)

    async def claim(
        self, conn: Connection, channel: ChannelRef, photo_id: str, client_msg_id: str
    ) -> dict[str, Any]:
        await self.gateway.require(conn, channel, Action.WRITE)
        photo = await self.store.claim(
            photo_id,
            uploader_id=conn.principal.user_id,
            channel=channel.name,
            cmid=client_msg_id,
        )
        if photo is None:
            raise RequestError(
                ErrorCode.NOT_FOUND,
                "no such photo of yours for this room, or it is sent with another message",
            )
        return photo_ref(photo)

    async def attached(self, photo_id: str, offset: int) -> None:
        await self.store.attach(photo_id, offset)


def install(gateway: Gateway, services: Services) -> GatewayPhotos:
    """The chat photos feature of a gateway (its entry in ``linli/features.py``)."""
    photos = GatewayPhotos(gateway, services)
    gateway.photo_attacher = photos
    return photos
