"""Reading exported spreadsheets as their users' programs do."""

from __future__ import annotations


def as_japanese_excel_reads(data: bytes) -> str:
    """A CSV as Excel on a Japanese Windows opens it: UTF-8 after a BOM, else code page 932
    (so a UTF-8 file without the BOM comes out as mojibake, as it does for the user)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    return data.decode("cp932", errors="replace")
