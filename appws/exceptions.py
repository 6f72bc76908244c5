"""Exceptions a handler may raise, and the ones appws raises at users."""

from __future__ import annotations


class AppwsError(Exception):
    """Raise in a handler to answer the request with ``error`` and ``errorText``.

    ``code`` is a short machine-readable string (``"not-found"``), ``text`` a
    sentence for people. Both reach the client: never put secrets in them.
    """

    def __init__(self, code: str, text: str = "") -> None:
        super().__init__(text or code)
        self.code = code
        self.text = text or code


class LoginFailed(Exception):
    """The AppLogin was refused; ``text`` becomes the ``errorText`` of the reply.

    ``wrong_digest``: the refusal tested a password and found it wrong, so it counts
    against the client's address (``LOGIN_FAILURE_LIMIT``); no other refusal does.
    """

    def __init__(self, text: str, *, wrong_digest: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.wrong_digest = wrong_digest


class LayerUnavailable(ConnectionError):
    """:func:`appws.notify` / :func:`appws.anotify` could not deliver: try again later.

    Raised while the channel layer is unreachable, and after it answers again until
    every session of this process has re-added its subscriptions: nothing was sent, or
    not to everyone. A handler that lets it through answers ``error: "unavailable"``;
    :func:`appws.notify_on_commit` logs and counts it instead.
    """


class PeerRequestError(Exception):
    """A request a service sent to its peer (the PBX) did not get a usable reply."""


class PeerError(PeerRequestError):
    """The peer answered with an error: ``code`` (``error`` or ``err``), ``text``, ``reply``."""

    def __init__(self, code: str, text: str, reply: dict[str, object]) -> None:
        super().__init__(f"{code}: {text}" if text else code)
        self.code = code
        self.text = text
        self.reply = reply


class PeerTimeout(PeerRequestError, TimeoutError):
    """No reply within the request's timeout."""


class ApiNotEnabled(PeerRequestError):
    """The PBX did not enable this API for the connection (not in ``PbxInfo`` ``apis``)."""


class SessionEnded(PeerRequestError):
    """The session ended while the request waited for its reply."""


class TooManyRequests(PeerRequestError):
    """The session already has ``MAX_PEER_REQUESTS`` requests in flight."""


class PeerSubscriptionOverflow(PeerRequestError):
    """A peer subscription held ``PEER_SUBSCRIPTION_QUEUE`` unread messages and got one more.

    Raised by its iterator after the messages it held: the subscription has ended, and
    what the peer sent after them is lost. Read faster, or start it again.
    """
