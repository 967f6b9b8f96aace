"""A DICOMweb client set up the way a hospital PACS needs: credentials, TLS, retries, one-line
errors.

Credentials come from the environment only (a command line is visible to every user of the
machine in ``ps`` and lands in shell histories): ``MAMMORCNN_DICOMWEB_USER`` +
``MAMMORCNN_DICOMWEB_PASSWORD`` (HTTP basic) or ``MAMMORCNN_DICOMWEB_TOKEN`` (bearer). They go
into the session's auth, never into a URL, a message or a log line.

Retries: dicomweb-client retries only on some HTTP statuses and not on a refused connection or
a timeout, so its own retrying is switched off and urllib3's ``Retry`` does all of it with
exponential backoff (connection errors and timeouts, 429/502/503/504), bounded by
:data:`RETRIES`. A POST (STOW-RS) is retried only when the connection could not be made, as
the server may have stored what it received before a read timed out.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from dicomweb_client import DICOMwebClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mammorcnn.errors import ConfigError, InputError

log = logging.getLogger("mammorcnn.dicomweb")

USER_ENV, PASSWORD_ENV, TOKEN_ENV = (
    "MAMMORCNN_DICOMWEB_USER",
    "MAMMORCNN_DICOMWEB_PASSWORD",
    "MAMMORCNN_DICOMWEB_TOKEN",
)
RETRIES = 4  # retries after the first attempt
BACKOFF = 0.5  # seconds; urllib3 waits 0, 2*BACKOFF, 4*BACKOFF, ... between attempts
RETRY_STATUSES = (429, 502, 503, 504)
TIMEOUT = 60.0  # seconds per request (connect and read)


class ServerError(InputError):
    """The server cannot be used (down, timing out, refusing access): fatal even with
    --skip-bad, which skips bad images, not a bad connection."""

    fatal = True


class _LoggedRetry(Retry):
    """urllib3's Retry, announcing each retry in one short line (urllib3's own warning holds
    the whole exception repr)."""

    def increment(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - urllib3's signature
        retry = super().increment(*args, **kwargs)
        error = kwargs.get("error") or (args[3] if len(args) > 3 else None)
        status = getattr(kwargs.get("response"), "status", None)
        why = f"HTTP {status}" if error is None else type(error).__name__
        done = len(retry.history)
        log.warning("DICOMweb request failed (%s); retry %d of %d", why, done, RETRIES)
        return retry


@dataclass
class Server:
    """The client and what messages say about the server (its URL has no credentials)."""

    client: DICOMwebClient
    url: str
    attempts: int
    timeout: float


def check_url(url: str) -> str:
    """The base URL without a trailing slash; credentials in it are refused unshown."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--dicomweb: not an http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise ConfigError(
            "--dicomweb: the URL holds credentials; put them in "
            f"{USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV} instead"
        )
    return url.rstrip("/")


def _session(insecure: bool) -> requests.Session:
    """A session with the environment's credentials, TLS verification and retries."""
    user, password, token = (os.environ.get(n) for n in (USER_ENV, PASSWORD_ENV, TOKEN_ENV))
    session = requests.Session()
    if token and (user or password):
        raise ConfigError(f"set either {TOKEN_ENV} or {USER_ENV}/{PASSWORD_ENV}, not both")
    if bool(user) != bool(password):
        raise ConfigError(f"{USER_ENV} and {PASSWORD_ENV} must be set together")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif user:
        session.auth = (user, password or "")
    session.verify = not insecure
    if insecure:  # said once here, not by urllib3 on every request
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        log.warning(
            "--dicomweb-insecure: TLS certificates are NOT verified; anyone on the network "
            "path can read and alter the images and the results"
        )
    retry = _LoggedRetry(
        total=RETRIES,
        connect=RETRIES,
        read=RETRIES,
        status=RETRIES,
        backoff_factor=BACKOFF,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,  # the last answer goes back, so its status can be named
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connect(url: str, insecure: bool = False, timeout: float = TIMEOUT) -> Server:
    """A :class:`Server` for ``url`` (nothing is sent yet)."""
    base = check_url(url)
    if timeout <= 0:
        raise ConfigError(f"--dicomweb-timeout must be > 0, got {timeout}")
    client = DICOMwebClient(base, session=_session(insecure), timeout=timeout)
    client.set_http_retry_params(retry=False)
    if not log.isEnabledFor(logging.DEBUG):  # one INFO line per request otherwise
        logging.getLogger("dicomweb_client").setLevel(logging.WARNING)
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # see _LoggedRetry
    return Server(client, base, RETRIES + 1, timeout)


def _reason(error: requests.ConnectionError) -> str:
    """The innermost cause of a connection error, short (no URL, no headers)."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(getattr(cause, "reason", None) or cause)
    for known in ("Connection refused", "Name or service not known", "Connection reset"):
        if known in text or known in str(error):
            return known.lower()
    return text.split(": ", 1)[-1][:160]


class _RetriedTimeout(Exception):
    """Timeouts that exhausted the retries (requests reports them as a ConnectionError)."""


def _timed_out(error: requests.ConnectionError) -> bool:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    # urllib3's NewConnectionError (refused, unknown host) subclasses its ConnectTimeoutError
    refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
    return isinstance(reason, urllib3.exceptions.TimeoutError) and not refused


@contextmanager
def server_errors(server: Server, what: str) -> Iterator[None]:
    """Turn what requests/dicomweb-client raise while doing ``what`` into one InputError line
    naming the server's URL (credentials are never part of these messages)."""
    try:
        try:
            yield
        except requests.exceptions.ConnectionError as error:
            if _timed_out(error):
                raise _RetriedTimeout from None
            raise
    except requests.exceptions.SSLError:
        raise ServerError(
            server.url,
            f"{what}: TLS certificate verification failed; give the server a trusted "
            "certificate (or REQUESTS_CA_BUNDLE=file), --dicomweb-insecure only for a test server",
        ) from None
    except (requests.exceptions.Timeout, _RetriedTimeout):
        raise ServerError(
            server.url,
            f"{what}: no answer within {server.timeout:g} s, {server.attempts} attempts",
        ) from None
    except requests.exceptions.ConnectionError as error:
        raise ServerError(
            server.url,
            f"{what}: server not reachable ({_reason(error)}), {server.attempts} attempts",
        ) from None
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        if status in (401, 403):
            hint = f"set {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV}"
            raise ServerError(
                server.url, f"{what}: access refused (HTTP {status}); {hint}"
            ) from None
        reason = error.response.reason if error.response is not None else ""
        kind = (
            ServerError
            if status == 429 or (isinstance(status, int) and status >= 500)
            else InputError
        )
        raise kind(server.url, f"{what}: HTTP {status} {reason}".rstrip()) from None
    except (ValueError, KeyError) as error:  # dicomweb-client on a malformed answer
        raise InputError(server.url, f"{what}: unexpected answer ({error})") from None
