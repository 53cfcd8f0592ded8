"""The man pages (man/*.1) against the programs they document.

Every flag that `synqd --help`, `synq --help`, each `synq COMMAND --help` and
`synq-bench --help` print must appear in the program's man page, and every
command `synq --help` lists must have its subsection, so the pages cannot
drift from the programs. Each page must also render with groff's man macros
and `man -l` without a warning (skipped where groff or man-db is not
installed). Python 3 stdlib only; every child has a timeout."""

import os
import re
import shutil
import subprocess
import unittest

BIN_DIR = os.environ.get("SQ_BIN_DIR", "")
SRC_DIR = os.environ.get("SQ_SOURCE_DIR", "")
PAGES = ("synqd", "synq", "synq-bench")
# The binary each page documents (synq is built as synq-cli's output "synq").
BINARIES = {"synqd": "synqd", "synq": "synq", "synq-bench": "synq-bench"}

# A flag in help text: -x or --long-name, not part of a word (cmd-put,
# synq-bench-empty) and not followed by more of one (-f0 is -f's example).
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9]|-[A-Za-z])(?![\w])")


def help_text(page, *args):
    argv = [os.path.join(BIN_DIR, BINARIES[page]), *args, "--help"]
    p = subprocess.run(argv, timeout=30, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (argv, p.returncode, p.stderr))
    return p.stdout


def page_source(page):
    with open(os.path.join(SRC_DIR, "man", page + ".1")) as f:
        return f.read()


def page_words(page):
    """The page's text with roff's escapes undone: \\- is a hyphen, font
    changes (\\fB, \\fI, \\fR, \\fP) go, so "\\fB\\-\\-port\\fP" reads --port."""
    text = page_source(page)
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-")


def flags_in(text):
    return sorted(set(FLAG.findall(text)))


def synq_commands():
    """The command words synq --help lists under "Commands:"."""
    text = help_text("synq")
    block = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


class ManPagesMatchHelp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN_DIR or not SRC_DIR:
            raise AssertionError("SQ_BIN_DIR and SQ_SOURCE_DIR must be set (run through ctest)")

    def assertFlagsDocumented(self, page, help_out, what):
        words = page_words(page)
        flags = flags_in(help_out)
        self.assertTrue(flags, "no flags found in %s" % what)
        missing = [f for f in flags if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f),
                                                     words)]
        self.assertEqual(missing, [], "%s prints flags man/%s.1 does not mention" % (what, page))

    def test_synqd_flags(self):
        self.assertFlagsDocumented("synqd", help_text("synqd"), "synqd --help")

    def test_synq_bench_flags(self):
        self.assertFlagsDocumented("synq-bench", help_text("synq-bench"), "synq-bench --help")

    def test_synq_global_flags(self):
        self.assertFlagsDocumented("synq", help_text("synq"), "synq --help")

    def test_synq_command_flags(self):
        commands = synq_commands()
        self.assertIn("put", commands)
        for cmd in commands:
            with self.subTest(command=cmd):
                out = help_text("synq", cmd)
                # Each command's help ends with the same note on the global options.
                own = out.split("\nGlobal options", 1)[0]
                flags = flags_in(own)
                if flags:
                    self.assertFlagsDocumented("synq", own, "synq %s --help" % cmd)

    def test_synq_every_command_has_a_subsection(self):
        headings = set()
        for line in page_words("synq").splitlines():
            if line.startswith(".SS "):
                names = line[4:].strip().strip('"')
                headings.update(n.strip() for n in names.split(","))
        missing = [c for c in synq_commands() if c not in headings]
        self.assertEqual(missing, [], "synq commands without a .SS in man/synq.1")

    def test_every_page_names_its_program_and_the_others(self):
        for page in PAGES:
            with self.subTest(page=page):
                words = page_words(page)
                self.assertRegex(words, r"(?m)^\.TH %s 1 " % re.escape(page.upper()))
                self.assertIn(".SH \"EXIT STATUS\"", words)
                see_also = words.split('.SH "SEE ALSO"', 1)[1]
                for other in PAGES:
                    if other != page:
                        self.assertIn(".BR %s (1)" % other, see_also)


class ManPagesRender(unittest.TestCase):
    def render(self, argv, env=None):
        p = subprocess.run(argv, timeout=60, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
        self.assertEqual(p.returncode, 0, "%s: %s" % (argv, p.stderr))
        self.assertEqual(p.stderr, "", "%s warns" % argv)

    def test_groff_renders_without_warnings(self):
        if not shutil.which("groff"):
            raise unittest.SkipTest("groff not installed (Debian: groff-base)")
        for page in PAGES:
            with self.subTest(page=page):
                path = os.path.join(SRC_DIR, "man", page + ".1")
                self.render(["groff", "-man", "-Tutf8", "-ww", "-z", path])

    def test_man_renders_without_warnings(self):
        """What lintian runs on every page of a package (man --warnings)."""
        if not shutil.which("man"):
            raise unittest.SkipTest("man not installed (Debian: man-db)")
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANROFFSEQ="")
        for page in PAGES:
            with self.subTest(page=page):
                path = os.path.join(SRC_DIR, "man", page + ".1")
                self.render(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path],
                            env=env)


if __name__ == "__main__":
    unittest.main()
