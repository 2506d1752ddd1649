"""`mfi-sim lab`: the scenario's world at an instant T, served for real on loopback (issue 9, section 3).

Pieces, one concept each: the world at T (world_at), what each server does (policy), certificates mapped
onto the real clock (certificates), loopback addresses and sockets (addresses, sockets), DNS answers and
their transports (dns_answers, dns_server), the aiosmtpd server (smtp_server), the lifecycle (controller)
and what the lab tells its user (ready). aiosmtpd and trustme are imported only when a lab starts.
"""
from __future__ import annotations
