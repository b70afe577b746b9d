"""Why the media plane refuses something; the signaling layer turns these into error acks."""

from __future__ import annotations


class SfuError(Exception):
    code = "sfu_error"
    message = "The media server could not do that."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class InvalidOffer(SfuError):
    code = "invalid_offer"
    message = "The SDP offer could not be used."


class OfferTooLarge(SfuError):
    code = "offer_too_large"
    message = "The SDP offer is larger than the server accepts."


class OpusRequired(SfuError):
    code = "opus_required"
    message = "Every audio transceiver must offer Opus."


class TooManySlots(SfuError):
    code = "too_many_slots"
    message = "The offer has more receive slots than this room allows."


class AlreadyConnected(SfuError):
    code = "already_connected"
    message = "This participant already has a media connection."


class SessionClosed(SfuError):
    code = "media_session_closed"
    message = "The media session ended while it was being set up."
