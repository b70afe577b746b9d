"""The messages Gethory sends: each with a plain-text and an HTML part carrying one link."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from urllib.parse import quote


@dataclass(frozen=True)
class Email:
    message: EmailMessage
    link: str


def verification_email(
    sender: str, to: str, app_origin: str, token: str, next_path: str | None = None
) -> Email:
    """To an address nobody has proved yet: no name in it (see `_compose`). `next_path` (an
    invite path) goes into the link, for the app to follow after signing in."""
    link = f"{app_origin}/verify-email?token={token}"
    if next_path is not None:
        link += "&next=" + quote(next_path, safe="")
    return _compose(
        sender,
        to,
        subject="Verify your email for Gethory",
        greeting=None,
        lines=["Confirm this address to finish creating your Gethory account."],
        action="Verify email",
        link=link,
        footer="The link works once and expires in 24 hours. "
        "If you did not sign up, ignore this email.",
    )


def password_reset_email(
    sender: str, to: str, name: str | None, app_origin: str, token: str
) -> Email:
    """`name` only for a verified address (see `_compose`)."""
    link = f"{app_origin}/reset-password?token={token}"
    return _compose(
        sender,
        to,
        subject="Reset your Gethory password",
        greeting=name,
        lines=["Someone asked to reset the password of your Gethory account."],
        action="Choose a new password",
        link=link,
        footer="The link works once and expires in 1 hour; using it signs you out everywhere. "
        "If it was not you, ignore this email and your password stays as it is.",
    )


def finish_sign_up_email(sender: str, to: str, app_origin: str, token: str) -> Email:
    """Sent when an address still unverified is signed up for again: the account is contested,
    so the link makes whoever holds the mailbox choose the password, rather than activating one
    a stranger may have set."""
    link = f"{app_origin}/reset-password?token={token}"
    return _compose(
        sender,
        to,
        subject="Finish creating your Gethory account",
        greeting=None,
        lines=[
            "This address was used to sign up for Gethory more than once before it was "
            "confirmed, so to keep the account yours we ask you to choose its password now.",
        ],
        action="Choose your password",
        link=link,
        footer="The link works once and expires in 24 hours; it also confirms this address. "
        "If you did not sign up, ignore this email.",
    )


def already_registered_email(sender: str, to: str, name: str, app_origin: str) -> Email:
    """Sent instead of an error, so sign-up never reveals which emails have accounts."""
    link = f"{app_origin}/forgot-password"
    return _compose(
        sender,
        to,
        subject="You already have a Gethory account",
        greeting=name,
        lines=["Someone tried to sign up with this address, which already has an account."],
        action="Reset your password",
        link=link,
        footer="If it was you, sign in or reset your password. If not, ignore this email.",
    )


def _compose(
    sender: str,
    to: str,
    *,
    subject: str,
    greeting: str | None,
    lines: list[str],
    action: str,
    link: str,
    footer: str,
) -> Email:
    # `greeting` is the account's display name, or None: mail to an address not verified yet
    # never carries one, since whoever signed the address up typed it, and it may be a stranger
    # using us to mail their text to anyone.
    hello = f"Hi {greeting}," if greeting else "Hi,"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="gethory")
    text = "\n\n".join([hello, *lines, f"{action}: {link}", footer])
    message.set_content(text + "\n")
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    html = (
        f'<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>{escape(hello)}</p>{paragraphs}"
        f'<p><a href="{escape(link, quote=True)}">{escape(action)}</a></p>'
        f'<p style="color:#666">{escape(footer)}</p></body></html>'
    )
    message.add_alternative(html, subtype="html")
    return Email(message, link)
