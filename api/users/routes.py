"""`/api/users/*`: the signed-in account, profiles and avatars."""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.auth.service import Principal
from api.body_deadline import body_deadline, deadlines, upload_slots
from api.endpoints import Api
from api.errors import (
    BodyTimeout,
    ImageTooLarge,
    MalformedUpload,
    NotFound,
    RateLimited,
    UnsupportedImage,
    UnsupportedMediaType,
    UsernameTaken,
)
from api.services import SERVICES
from api.users.avatar_images import MAX_UPLOAD_BYTES
from api.users.models import MeResponse, PublicProfile, UpdateProfileRequest
from api.users.service import ProfileChanges

api = Api("users")

UPLOAD_CONTENT = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"avatar": {"type": "string", "format": "binary"}},
            "required": ["avatar"],
        }
    }
}
IMAGE_CONTENT = {"image/webp": {"schema": {"type": "string", "format": "binary"}}}
# A versioned URL (`?v=` the current ETag) never changes content; a bare one must revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"


@api.route("GET", "/api/users/me", summary="The signed-in user's account", response=MeResponse)
async def get_me(request: web.Request, principal: Principal) -> MeResponse:
    return MeResponse.of(principal.user)


@api.route(
    "PATCH",
    "/api/users/me",
    summary="Edit name, username and bio",
    body=UpdateProfileRequest,
    response=MeResponse,
    errors=(UsernameTaken,),
)
async def update_me(
    request: web.Request, principal: Principal, body: UpdateProfileRequest
) -> MeResponse:
    changes = ProfileChanges(name=body.name, username=body.username, bio=body.bio)
    user = await request.app[SERVICES].profiles.update(principal.user.id, changes)
    return MeResponse.of(user)


@api.route(
    "PUT",
    "/api/users/me/avatar",
    summary="Upload an avatar (PNG, JPEG, WebP or GIF, up to 5 MB)",
    response=MeResponse,
    errors=(
        UnsupportedImage,
        ImageTooLarge,
        UnsupportedMediaType,
        MalformedUpload,
        BodyTimeout,
        RateLimited,
    ),
    request_content=UPLOAD_CONTENT,
)
async def put_avatar(request: web.Request, principal: Principal) -> MeResponse:
    # A few uploads at once per user, each body within its deadline (408 `body_timeout`).
    async with (
        upload_slots(request).slot(principal.user.id),
        body_deadline(request, deadlines(request).avatar_seconds),
    ):
        upload = await _read_upload(request)
    user = await request.app[SERVICES].profiles.set_avatar(principal.user.id, upload)
    return MeResponse.of(user)


@api.route(
    "DELETE",
    "/api/users/me/avatar",
    summary="Remove the avatar (back to the generated one)",
    status=204,
)
async def delete_avatar(request: web.Request, principal: Principal) -> None:
    await request.app[SERVICES].profiles.remove_avatar(principal.user.id)


@api.route(
    "GET",
    "/api/users/{id}",
    summary="A user's public profile",
    response=PublicProfile,
    errors=(NotFound,),
)
async def get_user(request: web.Request, principal: Principal) -> PublicProfile:
    user = await request.app[SERVICES].profiles.user(request.match_info["id"])
    return PublicProfile.of(user)


@api.route(
    "GET",
    "/api/users/{id}/avatar",
    summary="A user's avatar (a generated one if none was uploaded)",
    auth=False,
    errors=(NotFound,),
    response_content=IMAGE_CONTENT,
)
async def get_avatar(request: web.Request) -> web.StreamResponse:
    profiles = request.app[SERVICES].profiles
    user_id = request.match_info["id"]
    version = await profiles.avatar_version(user_id)
    cache = IMMUTABLE if request.query.get("v") == version else REVALIDATE
    headers = {"ETag": f'"{version}"', "Cache-Control": cache}
    if _etag_matches(request.headers.get("If-None-Match"), version):
        return web.Response(status=304, headers=headers)
    avatar = await profiles.avatar(user_id)
    headers["ETag"] = f'"{avatar.etag}"'
    return web.Response(body=avatar.data, content_type="image/webp", headers=headers)


def _etag_matches(header: str | None, version: str) -> bool:
    if header is None:
        return False
    candidates = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return version in candidates or "*" in candidates


async def _read_upload(request: web.Request) -> bytes:
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Upload the image as multipart/form-data.")
    try:
        return await _first_file_part(request)
    except (ValueError, HttpProcessingError):
        # aiohttp's multipart reader raises these on a missing boundary or broken part headers.
        raise MalformedUpload() from None


async def _first_file_part(request: web.Request) -> bytes:
    """The first file part of a multipart body, read no further than the size limit."""
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or (
            part.filename is None and part.name != "avatar"
        ):
            continue
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise ImageTooLarge()
        return bytes(data)
    raise UnsupportedImage("The upload holds no file.")
