"""Why a paper (or an input entry) was skipped: one exception, a fixed vocabulary of reasons."""
from __future__ import annotations

# Every reason a skipped.jsonl line can carry, with what it means. stats.json counts them.
REASONS: dict[str, str] = {
    "corrupt_gzip": "the .gz is not valid gzip data or ends early",
    "truncated_tar": "the tar archive is truncated or its headers are damaged",
    "unsafe_path": "an archive member has an absolute path or a '..' component",
    "link_member": "an archive member is a symbolic or hard link",
    "special_member": "an archive member is a device, FIFO or other non-regular file",
    "decompression_bomb": "more decompressed bytes than prepare.max_paper_bytes",
    "too_large": "a compressed member or file larger than prepare.max_paper_bytes",
    "empty_archive": "the archive holds no files",
    "pdf": "the member is a PDF, not LaTeX source",
    "not_latex": "the member is neither a tar nor a text file",
    "no_main_file": "no .tex file has \\begin{document} once comments are stripped",
    "input_cycle": "\\input/\\include files include each other in a cycle",
    "input_outside_paper": "\\input of a file outside the paper (absolute path or '..')",
    "input_too_deep": "\\input nesting deeper than prepare.max_input_depth",
    "output_too_large": "the flattened text grew past prepare.max_paper_bytes",
    "duplicate_id": "a paper with the same id was already read from an earlier source",
    "unreadable": "the file could not be read from disk",
    "bad_metadata_line": "a metadata line that is not a JSON object with an id",
    "internal_error": "an unexpected error while reading the paper (a bug: please report it)",
}


class Skip(Exception):
    """Raised for bad input: the paper is skipped with `reason`, and the run goes on."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
