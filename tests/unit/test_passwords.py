"""Console password hashes (PBKDF2-SHA256) and ``coachd hash-password``."""

from __future__ import annotations

import argparse
import base64
import hashlib
import io

import pytest

from coachd import hash_password, passwords
from coachd.__main__ import main


def test_the_documented_format_is_what_the_standard_library_computes() -> None:
    salt = b"sixteen byte salt"
    encoded = passwords.hash_password("pässword", iterations=100_000, salt=salt)
    key = hashlib.pbkdf2_hmac("sha256", "pässword".encode(), salt, 100_000)
    assert encoded == "$".join(
        ["pbkdf2_sha256", "100000", base64.b64encode(salt).decode(), base64.b64encode(key).decode()]
    )
    assert passwords.parse_hash(encoded) == (100_000, salt, key)


def test_verify_matches_only_the_password() -> None:
    encoded = passwords.hash_password("s3cret pass", iterations=passwords.MIN_ITERATIONS)
    assert passwords.verify_password("s3cret pass", encoded)
    assert not passwords.verify_password("s3cret pasS", encoded)
    assert not passwords.verify_password("", encoded)
    assert not passwords.verify_password("x" * 300, encoded)


def test_salts_are_random() -> None:
    one = passwords.hash_password("same", iterations=passwords.MIN_ITERATIONS)
    two = passwords.hash_password("same", iterations=passwords.MIN_ITERATIONS)
    assert one != two


def test_the_dummy_hash_is_valid_and_matches_nothing_likely() -> None:
    iterations, _salt, key = passwords.parse_hash(passwords.DUMMY_HASH)
    assert iterations == passwords.ITERATIONS and key == bytes(32)


@pytest.mark.parametrize("password", ["", "x" * 257])
def test_empty_or_huge_passwords_are_not_hashed(password: str) -> None:
    with pytest.raises(ValueError):
        passwords.hash_password(password)


def test_hash_password_reads_a_line_from_a_pipe_and_prints_a_valid_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(iterations=passwords.MIN_ITERATIONS)
    assert hash_password.handle(args, io.StringIO("from a pipe\n")) == 0
    printed = capsys.readouterr().out.strip()
    passwords.check_hash(printed)
    assert passwords.verify_password("from a pipe", printed)


def test_hash_password_refuses_an_empty_password_and_too_few_iterations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(iterations=passwords.MIN_ITERATIONS)
    assert hash_password.handle(args, io.StringIO("\n")) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["hash-password", "--iterations", "1000"]) == 2
    assert "--iterations" in capsys.readouterr().err
