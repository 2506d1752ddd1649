"""Names in scenario files: IP literals, host and domain names checked as DNS names (RFC 1035 labels; IDN
refused with its A-label, RFC 5890), normalised once where they enter."""
from __future__ import annotations

import ipaddress
import re

from .reader import Reader

__all__ = ["is_ip", "name_field", "names_field"]


def is_ip(text: str) -> bool:
    """Whether `text` is an IP address literal (a smart host or target given as an address, not a name)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host(name: str) -> str:
    return name.strip().lower().rstrip(".")


_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def _domain_problem(name: str, wildcard: bool = False) -> str | None:
    """Why `name` (already lower case, no trailing dot) is not a DNS name, or None. Non-ASCII (IDN) names
    are refused with their A-label form (RFC 5890), so every output carries one spelling of a name."""
    if not name.isascii():
        try:
            a_label = name.encode("idna").decode("ascii")
        except UnicodeError:
            return "is not a domain name (non-ASCII, with no IDNA form)"
        return f"non-ASCII domain names are not accepted; write its IDNA form {a_label!r}"
    labels = name.split(".")
    if wildcard and labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "is not a domain name (letters, digits and hyphens in dot-separated labels of 1-63)"
    return None


def name_field(r: Reader, key: str, text: str, *, ip: bool = False, wildcard: bool = False) -> str:
    """A host or domain name (or, with `ip`, an IP address) from field `key`, normalised; ScenarioError if
    it is neither."""
    name = _host(text)
    if ip and is_ip(name):
        return name
    problem = _domain_problem(name, wildcard)
    if problem is not None and problem.startswith("non-"):
        raise r.error(key, problem)
    if problem is not None:
        raise r.error(key, f"{text[:60]!r} is not a host name or an IP address" if ip else f"{text[:60]!r} {problem}")
    return name


def names_field(r: Reader, key: str, texts: tuple[str, ...], **kw: bool) -> tuple[str, ...]:
    return tuple(name_field(r, key, t, **kw) for t in texts)
