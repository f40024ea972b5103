"""Property: the key is gone from any echo, whatever mix of spellings a server uses."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from nebius_ft_async._redaction import KeyRedactor

KEYS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=48)
SPELLINGS = ("literal", "json", "JSON", "percent", "html", "htmlhex", "solidus")


def spell(char: str, how: str) -> str:
    code = ord(char)
    if how == "json":
        return f"\\u{code:04x}"
    if how == "JSON":
        return f"\\u{code:04X}"
    if how == "percent":
        return f"%{code:02X}"
    if how == "html":
        return f"&#{code};"
    if how == "htmlhex":
        return f"&#x{code:x};"
    if how == "solidus" and char == "/":
        return "\\/"
    return char


def unescape(text: str) -> str:
    """Every spelling the redactor claims to see through, turned back into characters."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = text.replace("\\/", "/")
    text = re.sub(r"&#[xX]0*([0-9a-fA-F]+);", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"&#0*([0-9]+);", lambda m: chr(int(m.group(1))), text)
    return unquote(text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    key=KEYS,
    ways=st.lists(st.sampled_from(SPELLINGS), min_size=48, max_size=48),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_the_key_is_gone_in_any_mix_of_spellings(
    key: str, ways: list[str], before: str, after: str
) -> None:
    echoed = "".join(spell(char, how) for char, how in zip(key, ways, strict=False))
    assert unescape(echoed) == key  # the echo really spells the key
    text = f"{before}{echoed}{after}"
    redacted = KeyRedactor(key).text(text)
    assert "[redacted]" in redacted
    assert echoed not in redacted
    as_bytes = KeyRedactor(key).bytes(text.encode())
    assert echoed.encode() not in as_bytes
