"""checks.core.redact.Scrubber: the checks' scrubbing point, which names a reflected secret by its keyed fingerprint."""

from __future__ import annotations

import re

import pytest

from checks.core.redact import Scrubber, fingerprint
from vault.redact import MASK, Redactor, process_redactor

SECRET = "twilio-auth-token-7f3c91ab5d2e"
OTHER = "ghl-private-integration-4e8a0c"


def test_a_known_secret_is_replaced_by_its_fingerprint():
    scrubber = Scrubber([SECRET])
    label = fingerprint(SECRET)
    assert re.fullmatch(r"fp:[0-9a-f]{16}", label)
    assert scrubber(f"401: token {SECRET} rejected") == f"401: token {label} rejected"


def test_two_secrets_get_two_different_labels():
    scrubber = Scrubber([SECRET, OTHER])
    out = scrubber(f"{SECRET} / {OTHER}")
    assert out == f"{fingerprint(SECRET)} / {fingerprint(OTHER)}"
    assert fingerprint(SECRET) != fingerprint(OTHER)


def test_every_form_of_a_secret_gets_the_secret_s_label():
    scrubber = Scrubber([SECRET])
    encoded = SECRET.encode().hex()
    assert scrubber(f"hex {encoded} end") == f"hex {fingerprint(SECRET)} end"


def test_token_shapes_nobody_registered_are_masked_plainly():
    assert Scrubber()("Authorization: Bearer opaque-unregistered-1234") == f"Authorization: Bearer {MASK}"


def test_add_registers_the_secret_with_the_process_wide_registry():
    scrubber = Scrubber()
    assert Redactor()(f"x {SECRET}") == f"x {SECRET}"  # not known anywhere yet
    scrubber.add(SECRET)
    assert scrubber(f"x {SECRET}") == f"x {fingerprint(SECRET)}"
    # every other Redactor of this process (log filter, reports, the vault's) masks it too
    assert Redactor()(f"x {SECRET}") == f"x {MASK}"
    assert process_redactor()(f"x {SECRET}") == f"x {MASK}"


def test_secrets_given_to_the_constructor_are_remembered_process_wide_too():
    Scrubber([OTHER])
    assert Redactor()(f"y {OTHER}") == f"y {MASK}"


def test_a_secret_another_part_of_the_process_remembered_is_masked():
    from vault.redact import remember

    remember(OTHER)
    assert OTHER not in Scrubber()(f"z {OTHER} z")


def test_short_and_empty_secrets_are_ignored():
    scrubber = Scrubber(["ab", "", None])
    assert scrubber.forms == 0
    assert scrubber("a cab ride") == "a cab ride"


@pytest.mark.parametrize("cut", [10, 20, 25, 30, 40])
def test_clip_scrubs_before_it_cuts(cut):
    scrubber = Scrubber([SECRET])
    text = "x" * (cut - 8) + SECRET + " and the rest of a long provider body"
    clipped = scrubber.clip(text, cut)
    assert len(clipped) <= cut and clipped.endswith("…")
    for i in range(len(SECRET) - 5):
        assert SECRET[i : i + 6] not in clipped, clipped


def test_clip_keeps_a_short_text_whole_and_labels_it():
    scrubber = Scrubber([SECRET])
    assert scrubber.clip(f"said {SECRET}", 200) == f"said {fingerprint(SECRET)}"
    assert scrubber.clip({"token": SECRET}, 200) == f"{{'token': '{MASK}'}}"  # not a str: its str(), scrubbed


def test_clip_of_a_huge_body_scrubs_only_a_window():
    scrubber = Scrubber([SECRET])
    body = SECRET + "y" * 2_000_000
    clipped = scrubber.clip(body, 50)
    assert clipped == fingerprint(SECRET) + "y" * (49 - len(fingerprint(SECRET))) + "…"


def test_repr_counts_forms_and_shows_no_secret():
    scrubber = Scrubber([SECRET])
    assert re.fullmatch(r"Scrubber\(\d+ secret forms\)", repr(scrubber))
    assert SECRET not in repr(scrubber) and SECRET[:8] not in repr(scrubber)
