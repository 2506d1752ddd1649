"""SMTP replies are parsed once into code, enhanced code and lines, and printed back as the service quotes them."""
from __future__ import annotations

import pytest

from mfi_sim.reply import Reply, ReplyError


def test_single_line_with_enhanced_code() -> None:
    """A reply with an RFC 3463 code splits into its parts and prints back unchanged."""
    r = Reply.parse("550 5.7.1 Service unavailable; client host blocked")
    assert (r.code, r.enhanced, r.lines) == (550, "5.7.1", ("Service unavailable; client host blocked",))
    assert r.text == "550 5.7.1 Service unavailable; client host blocked"
    assert r.short_code == "550 5.7.1" and r.permanent and not r.positive


def test_without_enhanced_code() -> None:
    """A reply without an enhanced code keeps its text; the short code is the reply code alone."""
    r = Reply.parse("451 try again later")
    assert r.enhanced == "" and r.short_code == "451" and r.text == "451 try again later"


def test_enhanced_code_of_another_class_is_text() -> None:
    """An enhanced code whose class differs from the reply's is not taken as one (RFC 3463 section 3.1)."""
    assert Reply.parse("550 4.7.1 odd").enhanced == ""


def test_multiline_ehlo_and_keywords() -> None:
    """A multi-line EHLO reply keeps its lines; extensions are found by keyword (RFC 5321 4.1.1.1)."""
    r = Reply.from_lines(["250-mail.contoso.com Hello", "250-STARTTLS", "250 SIZE 1000"])
    assert r.code == 250 and r.has_keyword("starttls") and not r.has_keyword("SIZE1")
    assert r.wire_lines == ["250-mail.contoso.com Hello", "250-STARTTLS", "250 SIZE 1000"]


def test_enhanced_code_on_every_line_is_read_once() -> None:
    """RFC 2034: each line of a multi-line reply may repeat the enhanced code; it is stripped from each."""
    r = Reply.parse("550-5.1.1 first\r\n550 5.1.1 second")
    assert r.enhanced == "5.1.1" and r.lines == ("first", "second")


@pytest.mark.parametrize("bad", ["", "hello", "99 x", "250-a\n251 b"])
def test_malformed_replies_are_errors(bad: str) -> None:
    """Text that is not one SMTP reply raises ReplyError (a ValueError)."""
    with pytest.raises(ReplyError):
        Reply.parse(bad)
