"""Semantic edits: located by file and function, failing with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsslab.kernels.edits import (
    Edit,
    EditError,
    Requirement,
    apply_edits,
    apply_text,
    function_span,
)

SRC = '''\
/* do_exit() is mentioned in a comment: { not a body } */
static const char *s = "do_exit(long code) {";
void do_exit(long code);

void __noreturn do_exit(long code)
{
	struct task_struct *tsk = current;

	if (code) {
		coredump_task_exit(tsk);
	}
	ptrace_event(PTRACE_EVENT_EXIT, code);
	exit_signals(tsk);
}

static inline unsigned long get_mm_hiwater_rss(struct mm_struct *mm)
{
	return max(mm->hiwater_rss, get_mm_rss(mm));
}
'''


def test_function_span_skips_prototypes_comments_and_strings() -> None:
    span = function_span(SRC, "do_exit")
    assert span is not None
    body = SRC[span[0]:span[1]]
    assert body.startswith("void __noreturn do_exit(long code)\n{")
    assert body.endswith("exit_signals(tsk);\n}")
    assert function_span(SRC, "no_such_function") is None


def test_insert_before_keeps_the_anchor_line() -> None:
    e = Edit("kernel/exit.c", "insert_before", "\tsync_mm_rss(tsk->mm);\n", "do_exit",
             "ptrace_event(PTRACE_EVENT_EXIT, code);")
    out = apply_text(SRC, e)
    assert "\tsync_mm_rss(tsk->mm);\n\tptrace_event(PTRACE_EVENT_EXIT, code);" in out
    assert out.replace("\tsync_mm_rss(tsk->mm);\n", "", 1) == SRC


def test_replace_inside_the_named_function_only() -> None:
    e = Edit("include/linux/mm.h", "replace",
             "return max(mm->hiwater_rss, get_mm_rss_sum(mm));", "get_mm_hiwater_rss",
             "return max(mm->hiwater_rss, get_mm_rss(mm));")
    assert "get_mm_rss_sum(mm));\n}" in apply_text(SRC, e)


def test_anchor_tolerates_reindented_whitespace() -> None:
    e = Edit("kernel/exit.c", "insert_after", "\tX;\n", "do_exit", "exit_signals( tsk);")
    with pytest.raises(EditError):
        apply_text(SRC, e)  # different tokens are not whitespace
    e2 = Edit("kernel/exit.c", "insert_after", "\tX;\n", "do_exit",
              "if (code) {\n    coredump_task_exit(tsk);")
    assert "coredump_task_exit(tsk);\n\tX;\n" in apply_text(SRC, e2)


def test_missing_function_names_file_and_function() -> None:
    e = Edit("kernel/exit.c", "replace", "x", "do_group_exit", "y")
    with pytest.raises(EditError) as excinfo:
        apply_text(SRC, e)
    assert "kernel/exit.c: do_group_exit()" in str(excinfo.value)


def test_missing_anchor_names_file_function_and_text() -> None:
    e = Edit("kernel/exit.c", "insert_before", "x", "do_exit", "sync_mm_rss(tsk->mm);")
    with pytest.raises(EditError) as excinfo:
        apply_text(SRC, e)
    msg = str(excinfo.value)
    assert "kernel/exit.c: do_exit()" in msg and "sync_mm_rss(tsk->mm);" in msg
    assert "\n" not in msg


def test_after_line_needs_exactly_one_match() -> None:
    text = "A = 1\nB += x\nB += y\n"
    ok = Edit("Makefile", "after_line", "B += z\n", after_line=r"^B \+= x$")
    assert apply_text(text, ok) == "A = 1\nB += x\nB += z\nB += y\n"
    two = Edit("Makefile", "after_line", "C\n", after_line=r"^B \+= ")
    with pytest.raises(EditError) as excinfo:
        apply_text(text, two)
    assert "Makefile: 2 lines match" in str(excinfo.value)


def test_apply_edits_writes_nothing_unless_every_edit_fits(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "exit.c").write_text(SRC)
    good = Edit("kernel/exit.c", "insert_before", "\tA;\n", "do_exit", "exit_signals(tsk);")
    bad = Edit("kernel/exit.c", "replace", "x", "do_exit", "not there")
    with pytest.raises(EditError):
        apply_edits(tmp_path, [good, bad])
    assert (tmp_path / "kernel" / "exit.c").read_text() == SRC


def test_new_file_refuses_to_overwrite_and_sets_mode(tmp_path: Path) -> None:
    e = Edit("tools/t/ksft_rss.sh", "new_file", "#!/bin/sh\n", mode=0o755)
    assert apply_edits(tmp_path, [e]) == ["tools/t/ksft_rss.sh"]
    assert (tmp_path / "tools/t/ksft_rss.sh").stat().st_mode & 0o777 == 0o755
    with pytest.raises(EditError) as excinfo:
        apply_edits(tmp_path, [e])
    assert "already exists" in str(excinfo.value)


def test_requirement_names_the_missing_helper(tmp_path: Path) -> None:
    (tmp_path / "include" / "linux").mkdir(parents=True)
    (tmp_path / "include" / "linux" / "mm.h").write_text(SRC)
    req = Requirement("include/linux/mm.h", "get_mm_rss_sum", "added in v7.0")
    with pytest.raises(EditError) as excinfo:
        apply_edits(tmp_path, [], [req])
    assert "include/linux/mm.h: no get_mm_rss_sum() (added in v7.0)" in str(excinfo.value)
