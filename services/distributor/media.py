"""Which of a job's photos and videos go to a platform, as what kind of post. Pure: no I/O.

The list: `platform_settings.<platform>.media` when given (`[]`: none), else the job's
`media`, else its `image_url` as one image; Instagram, which needs media, gets the
tenant's default image when the list is empty.

Instagram: one image → IMAGE (with its alt text); one video → REELS; 2-10 items →
CAROUSEL, videos included.

Facebook: no media → a link post; one image → a photo post; 2-10 images → one post with
the photos attached; one video → a Page video, or a Page Reel when the tenant profile
sets `facebook_video_as_reel`. A Facebook post holds photos or one video, never both:
when the list has a video, the first video is posted alone and the other items are left
out, with a warning (the video is the richer item, and a Reel is what reaches people).

LinkedIn: no media → an article post (the apply link's card, titled with the job's
title); images → an image post of the first image, the others left out with a warning (a
multi-image post is not built yet); videos are not posted to LinkedIn yet, left out with a
warning. The tenant's default image is not used: the article's card is the better post.
Threads: no media → a text post (its apply link previewed); one image → IMAGE; one video →
VIDEO; 2-20 items → CAROUSEL, videos included (20 only through
`platform_settings.threads.media`: a job holds 10).

Format warnings come from the URL's extension, only a hint (CDNs serve JPEG from any
path), so they never skip a post: Instagram takes JPEG photos and MP4 or MOV videos,
Threads JPEG or PNG photos and MP4 or MOV videos;
Meta reports anything it cannot read as a failed post with its reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from schemas.jobs import JobPosting
from schemas.media import MediaKind, PostFormat
from schemas.platforms import Platform
from schemas.publish import MediaItem
from services.distributor.models import ContentWarning, TenantProfile

# Extensions that are certainly not JPEG, by the name Meta's users know them by.
NOT_JPEG = {
    ".png": "PNG",
    ".apng": "PNG",
    ".gif": "GIF",
    ".webp": "WebP",
    ".heic": "HEIC",
    ".heif": "HEIF",
    ".avif": "AVIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".svg": "SVG",
    ".ico": "ICO",
    ".jxl": "JPEG XL",
}
# Extensions that are certainly not MP4 or MOV (Instagram's video containers).
NOT_MP4 = {
    ".avi": "AVI",
    ".mkv": "Matroska",
    ".webm": "WebM",
    ".wmv": "WMV",
    ".flv": "FLV",
    ".3gp": "3GP",
    ".mpg": "MPEG",
    ".mpeg": "MPEG",
    ".gif": "GIF",
    ".ogv": "Ogg",
}


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """What one platform's post is made of."""

    items: tuple[MediaItem, ...]
    format: PostFormat
    warnings: tuple[ContentWarning, ...] = ()


Source = tuple[tuple[MediaKind, str, str | None], ...]
"""Media as (kind, URL, alt text), before platform rules."""


def source_media(job: JobPosting, platform: Platform) -> Source:
    """The job's media for `platform` before platform rules (empty: none given)."""
    settings = job.platform_settings.get(platform)
    given = settings.media if settings is not None and settings.media is not None else job.media
    if given:
        return tuple((m.kind, str(m.url), m.alt_text) for m in given)
    if job.image_url is not None and (settings is None or settings.media is None):
        # The shorthand, read without building a JobMedia (the hot path: most jobs).
        return ((MediaKind.IMAGE, str(job.image_url), None),)
    return ()


def has_media(job: JobPosting, platform: Platform, profile: TenantProfile) -> bool:
    """Whether `platform`'s post has anything to show (Instagram posts nothing without)."""
    return bool(source_media(job, platform)) or profile.default_image_url is not None


def plan_media(job: JobPosting, platform: Platform, profile: TenantProfile) -> MediaPlan:
    """The media and format of `job`'s post on `platform` (see the module docstring).

    Raises `ValueError` on Instagram when there is no media at all (the caller skips)."""
    items = tuple(_item(*given) for given in source_media(job, platform))
    if platform is Platform.INSTAGRAM:
        return _instagram(items, profile)
    if platform is Platform.LINKEDIN:
        return _linkedin(items)
    if platform is Platform.THREADS:
        return _threads(items)
    return _facebook(items, profile)


def _instagram(items: tuple[MediaItem, ...], profile: TenantProfile) -> MediaPlan:
    warnings: list[ContentWarning] = []
    if not items:
        if profile.default_image_url is None:
            raise ValueError("Instagram needs an image or a video")
        items = (_item(MediaKind.IMAGE, profile.default_image_url, None),)
        warnings.append(
            ContentWarning("default_image", "job has no image: the tenant's default is used")
        )
    for number, item in enumerate(items, start=1):
        which = f"item {number}" if len(items) > 1 else ("image" if _is_image(item) else "video")
        if _is_image(item) and (kind := image_format(str(item.url))) is not None:
            warnings.append(
                ContentWarning("image_not_jpeg", f"{which} is {kind}; Instagram needs JPEG")
            )
        if not _is_image(item) and (kind := _named_format(str(item.url), NOT_MP4)) is not None:
            warnings.append(
                ContentWarning(
                    "video_format", f"{which} is {kind}; Instagram takes MP4 or MOV videos"
                )
            )
    if len(items) > 1:
        post_format = PostFormat.CAROUSEL
    else:
        post_format = PostFormat.IMAGE if _is_image(items[0]) else PostFormat.REEL
    return MediaPlan(items, post_format, tuple(warnings))


def _threads(items: tuple[MediaItem, ...]) -> MediaPlan:
    warnings: list[ContentWarning] = []
    for number, item in enumerate(items, start=1):
        which = f"item {number}" if len(items) > 1 else ("image" if _is_image(item) else "video")
        if _is_image(item) and (kind := image_format(str(item.url))) not in (None, "PNG"):
            warnings.append(
                ContentWarning("image_format", f"{which} is {kind}; Threads takes JPEG or PNG")
            )
        if not _is_image(item) and (kind := _named_format(str(item.url), NOT_MP4)) is not None:
            warnings.append(
                ContentWarning(
                    "video_format", f"{which} is {kind}; Threads takes MP4 or MOV videos"
                )
            )
    if not items:
        return MediaPlan((), PostFormat.LINK)
    if len(items) > 1:
        return MediaPlan(items, PostFormat.CAROUSEL, tuple(warnings))
    one = PostFormat.IMAGE if _is_image(items[0]) else PostFormat.VIDEO
    return MediaPlan(items, one, tuple(warnings))


def _facebook(items: tuple[MediaItem, ...], profile: TenantProfile) -> MediaPlan:
    videos = [item for item in items if not _is_image(item)]
    if videos:
        left_out = len(items) - 1
        warnings = (
            (
                ContentWarning(
                    "media_left_out",
                    f"a Facebook post holds photos or one video: {left_out} other "
                    f"item{'s' if left_out > 1 else ''} left out, the first video posted",
                ),
            )
            if left_out
            else ()
        )
        post_format = PostFormat.REEL if profile.facebook_video_as_reel else PostFormat.VIDEO
        return MediaPlan((videos[0],), post_format, warnings)
    if not items:
        return MediaPlan((), PostFormat.LINK)
    return MediaPlan(items, PostFormat.IMAGE if len(items) == 1 else PostFormat.IMAGES)


def _linkedin(items: tuple[MediaItem, ...]) -> MediaPlan:
    images = [item for item in items if _is_image(item)]
    videos = len(items) - len(images)
    warnings: list[ContentWarning] = []
    if videos:
        warnings.append(
            ContentWarning(
                "video_not_supported",
                f"{_items(videos, 'video')} left out: videos are not posted to LinkedIn yet",
            )
        )
    if len(images) > 1:
        warnings.append(
            ContentWarning(
                "media_left_out",
                f"a LinkedIn post here holds one image: {_items(len(images) - 1, 'other image')}"
                " left out, the first image posted",
            )
        )
    if not images:
        return MediaPlan((), PostFormat.LINK, tuple(warnings))
    return MediaPlan((images[0],), PostFormat.IMAGE, tuple(warnings))


def _items(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _is_image(item: MediaItem) -> bool:
    return item.kind is MediaKind.IMAGE


@functools.lru_cache(maxsize=256)
def _item(kind: MediaKind, url: str, alt_text: str | None) -> MediaItem:
    # Cached: both platforms' posts of a job show the same media (a frozen model: shareable).
    return MediaItem(kind=kind, url=url, alt_text=alt_text)


def image_format(url: str) -> str | None:
    """The format an image URL's extension clearly names when that is not JPEG, else None."""
    return _named_format(url, NOT_JPEG)


def _named_format(url: str, formats: dict[str, str]) -> str | None:
    last_segment = _path_of(url).rsplit("/", 1)[-1]  # "a.png/" ends in no extension
    return formats.get(_suffix(last_segment).lower())


def _path_of(url: str) -> str:
    """`urlsplit(url).path` for "scheme://authority/path?query#fragment" in normal form,
    found by its delimiters (a job's URL is new every time, so urlsplit's cache never
    helps)."""
    head = url.partition("#")[0].partition("?")[0]
    _, separator, rest = head.partition("://")
    if not separator:
        return urlsplit(url).path
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else ""


def _suffix(name: str) -> str:
    """`PurePosixPath(name).suffix` for a name without "/", without building a path:
    from the last dot, unless the name starts or ends with it ("", ".", "..", ".jpg")."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""
