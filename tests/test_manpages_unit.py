"""The man-pages series tooling on small inputs: no network, no git base."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from rsslab.claims import regimes
from rsslab.results import Observation, Origin, ResultSet
from rsslab.series.manpages import base as man_base
from rsslab.series.manpages import edit as man_edit
from rsslab.series.manpages import evidence as man_evidence
from rsslab.series.manpages import lint as man_lint
from rsslab.series.manpages import message as man_message
from rsslab.series.manpages import roff as man_roff
from rsslab.series.manpages import sidecar as man_sidecar
from rsslab.series.manpages.spec import Edit, Figure, ManPatch, Measure, Sentence

ROOT = Path(__file__).resolve().parents[1]

PAGE = r"""'\" t
.TH demo 2 (date) "Linux man-pages (unreleased)"
.SH NAME
demo \- a page to edit
.SH DESCRIPTION
.BR demo ()
returns a value for
.IR who ,
which is one of these:
.TP
.B ONE
The first.
This value is inaccurate;
see
.IR /proc/ pid /statm
above.
.TP
.B TWO
The second.
This value is inaccurate;
see
.IR /proc/ pid /statm
above.
.SH NOTES
Metrics are kept across an
.BR execve (2).
.SH SEE ALSO
.BR wait (2),
.BR clock (3),
.BR proc_pid_stat (5)
"""


# --- roff as prose ---------------------------------------------------------

def test_sentences_join_macros_and_skip_headings_and_see_also() -> None:
    got = man_roff.sentences(PAGE)
    assert "demo() returns a value for who, which is one of these:" in got
    assert "This value is inaccurate; see /proc/pid/statm above." in got
    assert "Metrics are kept across an execve(2)." in got
    assert "ONE" in got  # list tags are read too
    assert not any(s in got for s in ("NAME", "NOTES", "SEE ALSO"))
    assert not any("clock(3)" in s for s in got)


def test_sentences_split_on_sentence_ends_only() -> None:
    text = ".P\nIt is 6.12.39 (or later).\n(See also e.g., this.)\nNext one, i.e.\\& here.\n"
    assert man_roff.sentences(text) == ["It is 6.12.39 (or later).", "(See also e.g., this.)",
                                        "Next one, i.e. here."]


def test_unescape_and_quoted_arguments() -> None:
    assert man_roff.unescape(r"4\~KiB \- \f[I]x\f[] \(lqy\(rq \[em]") == "4 KiB - x \u201cy\u201d \u2014"
    assert man_roff.split_args('ru_maxrss " (since Linux 2.6.32)"') == ["ru_maxrss",
                                                                        " (since Linux 2.6.32)"]


def test_midline_breaks_are_found_in_text_and_macro_lines() -> None:
    lines = [(1, "One sentence.  Another one."), (2, "A clause; and more"),
             (3, ".BR foo (2).  Then"), (4, "Fine line, with a comma,"),
             (5, '.\\" A comment. With two sentences.'), (6, "See e.g., this.")]
    assert [n for n, _ in man_roff.midline_breaks(lines)] == [1, 2, 3]


def test_added_lines_are_numbered_in_the_new_text() -> None:
    assert man_roff.added_lines("a\nb\nc\n", "a\nx\nb\nc\ny\n") == [(2, "x"), (5, "y")]


# --- edits -----------------------------------------------------------------

def edit(**kw: object) -> Edit:
    return Edit(page="man/man2/demo.2", **kw)  # type: ignore[arg-type]


def test_replace_inside_one_list_entry() -> None:
    e = edit(op="replace", entry=".B TWO", old="see\n.IR /proc/ pid /statm\nabove.",
             new="see\n.BR proc_pid_statm (5).")
    out = man_edit.apply_edit(PAGE, e, "p")
    assert out.count(".BR proc_pid_statm (5).") == 1
    assert out.index(".BR proc_pid_statm (5).") > out.index(".B TWO")
    assert out.endswith("\n")


def test_replace_matches_up_to_white_space() -> None:
    e = edit(op="replace", old="The   first.  ", new="The 1st.")
    assert "The 1st." in man_edit.apply_edit(PAGE, e, "p")


def test_replace_refuses_missing_and_ambiguous_text() -> None:
    e = edit(op="replace", old="This value is exact;", new="x")
    with pytest.raises(man_edit.EditFailed) as exc:
        man_edit.apply_edit(PAGE, e, "my-patch")
    msg = str(exc.value)
    assert "man/man2/demo.2 (my-patch)" in msg and "This value is exact;" in msg
    assert "not found" in msg and "\n" not in msg
    e = edit(op="replace", old="This value is inaccurate;", new="x")
    with pytest.raises(man_edit.EditFailed) as exc:
        man_edit.apply_edit(PAGE, e, "p")
    assert "found 2 times" in str(exc.value)


def test_replace_refuses_unknown_entry() -> None:
    with pytest.raises(man_edit.EditFailed) as exc:
        man_edit.apply_edit(PAGE, edit(op="replace", entry=".B THREE", old="a", new="b"), "p")
    assert "'.B THREE'" in str(exc.value)


@pytest.mark.parametrize(("section", "after", "before"), [
    ("CAVEATS", ".SH NOTES", ".SH SEE ALSO"),
    ("BUGS", ".SH NOTES", ".SH SEE ALSO"),
    ("HISTORY", ".SH DESCRIPTION", ".SH NOTES"),
])
def test_add_section_in_man_pages_order(section: str, after: str, before: str) -> None:
    out = man_edit.apply_edit(PAGE, edit(op="add_section", section=section, new="Text."), "p")
    at = out.index(f".SH {section}\nText.")
    assert out.index(after) < at < out.index(before)


def test_add_section_refuses_an_existing_one() -> None:
    with pytest.raises(man_edit.EditFailed) as exc:
        man_edit.apply_edit(PAGE, edit(op="add_section", section="NOTES", new="x"), "p")
    assert "already has a NOTES section" in str(exc.value)


def test_see_also_keeps_order_and_commas() -> None:
    e = edit(op="see_also", refs=("ptrace(2)", "proc_pid_status(5)", "cgroups(7)", "wait(2)"))
    out = man_edit.apply_edit(PAGE, e, "p")
    tail = out[out.index(".SH SEE ALSO\n") + len(".SH SEE ALSO\n"):].splitlines()
    assert tail == [".BR ptrace (2),", ".BR wait (2),", ".BR clock (3),",
                    ".BR proc_pid_stat (5),", ".BR proc_pid_status (5),", ".BR cgroups (7)"]


def test_a_missing_page_names_the_page() -> None:
    with pytest.raises(man_edit.EditFailed) as exc:
        man_edit.apply_edits({}, [Edit("man/man5/proc_pid_status.5", "replace", "a", "b")], "p")
    assert "man/man5/proc_pid_status.5" in str(exc.value)


# --- the Debian import -----------------------------------------------------

def test_lay_out_uncompresses_and_turns_links_into_so_pages(tmp_path: Path) -> None:
    man = tmp_path / "usr/share/man"
    (man / "man2").mkdir(parents=True)
    (man / "man2/getrusage.2.gz").write_bytes(gzip.compress(b".TH getrusage 2\n"))
    (man / "man2/FICLONE.2const.gz").write_bytes(gzip.compress(b".TH FICLONE 2const\n"))
    os.symlink("FICLONE.2const.gz", man / "man2/FICLONERANGE.2const.gz")
    tree = tmp_path / "tree"
    man_base.lay_out(man, tree)
    assert (tree / "man/man2/getrusage.2").read_text() == ".TH getrusage 2\n"
    assert (tree / "man/man2const/FICLONE.2const").exists()
    assert (tree / "man/man2const/FICLONERANGE.2const").read_text() == \
        ".so man2const/FICLONE.2const\n"


def test_debian_tags_follow_dep14() -> None:
    assert man_base.debian_tag("1:6.20~rc1-2") == "debian/1%6.20_rc1-2"


# --- sidecar ---------------------------------------------------------------

def patch_with(sentences: tuple[Sentence, ...], wording: tuple[tuple[str, str], ...] = ()
               ) -> ManPatch:
    return ManPatch("p", Path("."), "s", (edit(op="replace", old="x", new="y"),), "",
                    sentences, wording)


def test_sidecar_wants_every_added_sentence_and_no_stale_one() -> None:
    after = PAGE.replace("The first.", "The first.\nIt is new.")
    problems = man_sidecar.check_patch(patch_with(()), {"man/man2/demo.2": PAGE},
                                       {"man/man2/demo.2": after}, set())
    assert any('without claims in claims.toml: "It is new."' in p.message for p in problems)
    stale = patch_with((Sentence("Gone.", ("c",)),))
    problems = man_sidecar.check_patch(stale, {"man/man2/demo.2": PAGE},
                                       {"man/man2/demo.2": PAGE}, {"c"})
    assert [p.message[:40] for p in problems] == ["claims.toml lists a sentence the patch d"]


def test_sidecar_refuses_unknown_claims_and_wrong_figures() -> None:
    after = PAGE.replace("The first.", "The first.\nIt is off by 186 pages.")
    s = Sentence("It is off by 186 pages.", ("real", "made-up"),
                 (Figure("186", "percpu_residue", {"ncpus": 2, "counters": 3}),
                  Figure("186", "percpu_residue", {"ncpus": 4, "counters": 3})))
    problems = [p.message for p in man_sidecar.check_patch(
        patch_with((s,)), {"man/man2/demo.2": PAGE}, {"man/man2/demo.2": after}, {"real"})]
    assert problems == ["unknown claim id 'made-up' (not in claims/)",
                        "figure 186 is wrong: percpu_residue({'ncpus': 4, 'counters': 3}) "
                        "gives 372 pages"]


def test_figures_in_kib_and_mib() -> None:
    assert man_sidecar.figure_value(Figure("744", "percpu_residue", {"ncpus": 2, "counters": 3},
                                           "KiB", 4)) == 744
    assert man_sidecar.figure_value(Figure("95.25", "percpu_residue",
                                           {"ncpus": 64, "counters": 3}, "MiB", 4)) == 95.25


def test_a_wording_change_needs_no_claim() -> None:
    after = PAGE.replace("see\n.IR /proc/ pid /statm\nabove.", "see\n.BR proc_pid_statm (5).")
    p = patch_with((), (("/proc/pid/statm above", "proc_pid_statm(5)"),))
    assert man_sidecar.check_patch(p, {"man/man2/demo.2": PAGE}, {"man/man2/demo.2": after},
                                   set()) == []


# --- lint and messages -----------------------------------------------------

def test_new_messages_is_a_multiset_difference() -> None:
    assert man_lint.new_messages(["a", "b", "b"], ["b", "b", "b", "c"]) == ["b", "c"]


HOST = Origin("host", "the running kernel")


def obs(release: str, **kw: int) -> Observation:
    return Observation("host", release, "", 2, "touch", {"pages": 1000}, 4096, **kw)


def test_table_names_the_kernel_and_counts_pages() -> None:
    runs = (obs("6.18.44", smaps_rss_kib=4704, wait4_maxrss_kib=4576),
            obs("6.18.44", smaps_rss_kib=4708, wait4_maxrss_kib=4576))
    k = man_evidence.Kernel(ResultSet("host-smp2", "host", "6.18.44", "", 2,
                                      frozenset({"percpu-rss"}), HOST, runs))
    m = Measure("w", "wait4(2) ru_maxrss", "touch", {"pages": 1000},
                (("exact", "smaps_rss_kib"), ("wait4", "wait4_maxrss_kib")), "smaps_rss_kib")
    assert man_evidence.table(m, [k]) == (
        "    wait4(2) ru_maxrss (KiB, 2 runs a row; wait4: error in pages against\n"
        "    exact):\n\n"
        "    kernel   CPUs       exact     wait4\n"
        "    6.18.44     2  4704..4708  -33..-32\n\n"
        "    $ rsslab run --scenario touch -p pages=1000")
    assert "no results yet" in man_evidence.table(m, [])


def test_kernels_are_named_and_kept_by_what_they_declared() -> None:
    regs = regimes.load(ROOT / "claims")

    def rs(kernel: str, declared: tuple[str, ...], without: tuple[str, ...] = ()) -> ResultSet:
        origin = Origin(kernel, "/k/bzImage", declared, without)
        return ResultSet(f"{kernel}-smp2", kernel, "6.12.117+", "", 2, frozenset(), origin,
                         (obs("6.12.117+"),))

    nosum = rs("6.12-nosum", ("status-approx",), ("status-sum",))
    synced = rs("6.1.y-synced", ("exit-stop-synced",))
    plain = rs("mine", ())
    assert [man_evidence.as_released(r, regs) for r in (nosum, synced, plain)] == [
        True, False, True]
    assert man_evidence.Kernel(nosum).version == "6.12-nosum"
    assert man_evidence.Kernel(plain).version == "6.12.117"


def test_claims_block_lists_ids_under_each_sentence() -> None:
    p = patch_with((Sentence("Short one.", ("split-self-low", "percpu-self-approx")),))
    assert man_message.claims_block(p).splitlines()[-2:] == [
        '  "Short one."', "      split-self-low, percpu-self-approx"]


# --- failures that must stay one line ----------------------------------------

def test_numbers_must_be_computed_or_given() -> None:
    s = Sentence("Since Linux 6.2, up to 186 pages with 2 CPUs, see proc(5), 3N(B-1).",
                 ("c",), (Figure("186", "percpu_residue", {"ncpus": 2, "counters": 3}),), ("2",))
    assert man_sidecar.untyped_numbers(s) == ["1"]


def test_lint_reports_what_the_patch_adds() -> None:
    bad = PAGE.replace("The first.\n", "The first.  A second sentence.\n"
                       + "words " * 16 + "x" * 90 + "\n")
    found = man_lint.lint_page("man/man2/demo.2", PAGE, bad)
    checks = {f.check for f in found}
    assert checks == {"mandoc -Tlint", "groff -ww", "rendered width > 80",
                      "sentence break in mid-line"}, [f.show() for f in found]
    assert man_lint.lint_page("man/man2/demo.2", PAGE, PAGE) == []
