"""Helpers shared by the benchmark tests (imported as `helpers`: pytest puts tests/ on sys.path)."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table_rows(markdown, first_header):
    """The body rows (lists of cells) of the markdown table whose header's first cell is `first_header`."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and line.split("|")[1].strip() == first_header:
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with header {first_header!r} in:\n{markdown}")
