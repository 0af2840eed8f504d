"""A lean HTTP/1.1 transport for httpx: keep-alive pools on asyncio, responses parsed by
httptools.

httpcore's pool and its anyio machinery cost more CPU than a small Graph call itself;
this transport keeps httpx's client API (`httpx.AsyncClient(transport=LeanTransport())`)
and does the HTTP part with one asyncio protocol per connection. `CookielessAsyncClient`
drops httpx's per-response cookie handling, the largest cost left in the client, and
`LeanClient.fetch` skips httpx's request and response models for hot small calls.
"""

from jobcast.http_transport._client import CookielessAsyncClient, LeanClient
from jobcast.http_transport._connection import RawResponse, ResponseTooLargeError
from jobcast.http_transport._transport import RETRYABLE_METHODS, LeanTransport

__all__ = [
    "RETRYABLE_METHODS",
    "CookielessAsyncClient",
    "LeanClient",
    "LeanTransport",
    "RawResponse",
    "ResponseTooLargeError",
]
