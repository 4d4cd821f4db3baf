"""Text encodings of Shapefile attributes and CSV tables from Chinese systems.

A Shapefile's .dbf carries no reliable statement of its encoding: a .cpg file may name it,
the header's language-driver byte sometimes does, and very often neither exists while the
attributes are GBK. :func:`shapefile_encoding` honours the .cpg and otherwise decides
between UTF-8 and GB18030 (a superset of GBK and GB2312) from the bytes themselves.
"""

from __future__ import annotations

import codecs
import struct
from pathlib import Path

from mujun.geo.errors import InputError

__all__ = ["cpg_encoding", "detect_bytes_encoding", "shapefile_encoding", "text_file_encoding"]

# .cpg contents seen in the wild -> Python codec
_CPG = {
    "utf-8": "utf-8", "utf8": "utf-8", "65001": "utf-8",
    "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030", "cp936": "gb18030",
    "936": "gb18030", "54936": "gb18030", "ansi 936": "gb18030",
    "big5": "big5", "950": "big5",
    "iso-8859-1": "latin-1", "iso88591": "latin-1", "88591": "latin-1", "latin1": "latin-1",
    "1252": "cp1252", "ansi 1252": "cp1252", "437": "cp437",
}
# dBASE language driver ids for Chinese code pages
_LDID_GBK = {0x4D, 0x7A}
_SAMPLE_BYTES = 4 * 1024 * 1024


def _sibling(path: Path, suffix: str) -> Path | None:
    for cand in path.parent.glob(path.stem + ".*"):
        if cand.suffix.lower() == suffix and cand.stem == path.stem:
            return cand
    return None


def cpg_encoding(cpg: Path) -> str:
    """The Python codec a .cpg file names; an unknown name is refused.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.cpg"
    >>> _ = p.write_text("936")
    >>> cpg_encoding(p)
    'gb18030'
    """
    raw = cpg.read_bytes().decode("ascii", errors="replace").strip().lower()
    codec = _CPG.get(raw)
    if codec is None:
        try:
            codec = codecs.lookup(raw).name
        except LookupError:
            raise InputError(
                f"{cpg.name}：编码 '{raw}' 无法识别；请删除 .cpg 或用 --encoding 指定（如 GBK、UTF-8）"
            ) from None
    return codec


def detect_bytes_encoding(chunks: list[bytes]) -> str | None:
    """Decide between UTF-8 and GB18030 for text ``chunks``; ``None`` if neither fits.

    Each chunk is decoded on its own and may end in a cut character (dBASE fields are
    fixed-width byte strings). Pure ASCII counts as UTF-8.

    Examples
    --------
    >>> detect_bytes_encoding(["绍兴市".encode("gbk"), b"ABC"])
    'gb18030'
    >>> detect_bytes_encoding(["绍兴市".encode("utf-8")[:-1]])
    'utf-8'
    """
    for codec in ("utf-8", "gb18030"):
        ok = True
        for chunk in chunks:
            try:
                codecs.getincrementaldecoder(codec)().decode(chunk, final=False)
            except UnicodeDecodeError:
                ok = False
                break
        if ok:
            return codec
    return None


def _dbf_text_chunks(dbf: Path) -> tuple[list[bytes], int]:
    with dbf.open("rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise InputError(f"{dbf.name}：文件不完整（.dbf 头部不足 32 字节）")
        n_records, header_len, record_len = struct.unpack("<IHH", head[4:12])
        ldid = head[29]
        descriptors = fh.read(max(header_len - 32, 0))
        fields: list[tuple[bytes, bytes, int]] = []
        for i in range(0, len(descriptors) - 31, 32):
            d = descriptors[i : i + 32]
            if d[0] == 0x0D:
                break
            fields.append((d[:11].rstrip(b"\x00"), d[11:12], d[16]))
        chunks = [name for name, _, _ in fields if any(b > 0x7F for b in name)]
        fh.seek(header_len)
        n = min(n_records, max(_SAMPLE_BYTES // max(record_len, 1), 1))
        data = fh.read(n * record_len)
    for r in range(0, len(data) - record_len + 1, record_len):
        pos = r + 1  # deletion flag
        for _, ftype, width in fields:
            if ftype in (b"C", b"M"):
                value = data[pos : pos + width].rstrip(b" \x00")
                if any(b > 0x7F for b in value):
                    chunks.append(value)
            pos += width
    return chunks, ldid


def shapefile_encoding(shp: Path) -> tuple[str, str]:
    """The attribute encoding of a Shapefile and how it was decided.

    Returns
    -------
    (codec, how)
        ``how`` is a Chinese phrase for the import report ("由 .cpg 指定" …).

    Raises
    ------
    InputError
        The .dbf is missing, or its text is neither UTF-8 nor GB18030.
    """
    cpg = _sibling(shp, ".cpg")
    if cpg is not None:
        return cpg_encoding(cpg), f"由 {cpg.name} 指定"
    dbf = _sibling(shp, ".dbf")
    if dbf is None:
        raise InputError(f"{shp.name}：缺少同名 .dbf 属性文件；请把 .shp、.shx、.dbf、.prj 放在同一文件夹")
    chunks, ldid = _dbf_text_chunks(dbf)
    if not chunks:
        return "utf-8", "属性全为 ASCII 字符"
    codec = detect_bytes_encoding(chunks)
    if codec is None:
        if ldid in _LDID_GBK:
            return "gb18030", "由 .dbf 语言驱动标记 (GBK) 确定"
        raise InputError(
            f"{dbf.name}：属性文字既不是 UTF-8 也不是 GBK/GB18030；请用 --encoding 指定编码（如 BIG5）"
        )
    how = "无 .cpg，按字节判定为 " + ("UTF-8" if codec == "utf-8" else "GBK/GB18030")
    return codec, how


def text_file_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030 for a CSV file, decided from its bytes."""
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        raise InputError(
            f"{path.name}：文字既不是 UTF-8 也不是 GBK/GB18030；请另存为 UTF-8 或用 --encoding 指定"
        ) from None
