"""libsynq as an installed library (issue 17 item 3).

`cmake --install` of the build under test into a staging root (DESTDIR, as a
package build does), then what a user of the library does: compile
examples/echo.c with nothing but `pkg-config --cflags --libs synq`, run it
against the installed libsynq.so, and talk to it. Also checks what the
package promises: the programs, the headers with <synq/version.h>, a SONAME,
and only the public sq_* API exported. Python 3 stdlib only; every child has a
timeout."""

import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import unittest

BIN_DIR = os.environ.get("SQ_BIN_DIR", "")
SRC_DIR = os.environ.get("SQ_SOURCE_DIR", "")
PREFIX = "/usr/local"  # the build's CMAKE_INSTALL_PREFIX (the default)


def run(argv, env=None, timeout=120):
    p = subprocess.run(argv, env=env, timeout=timeout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (argv, p.returncode, p.stdout, p.stderr))
    return p.stdout


def cmake_cache(name):
    with open(os.path.join(BIN_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return ""


class InstalledLibrary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN_DIR or not SRC_DIR:
            raise AssertionError("SQ_BIN_DIR and SQ_SOURCE_DIR must be set (run through ctest)")
        if cmake_cache("CMAKE_INSTALL_PREFIX") != PREFIX:
            raise unittest.SkipTest("build configured with another install prefix")
        cls.stage = tempfile.mkdtemp(prefix="synq-install-")
        env = dict(os.environ, DESTDIR=cls.stage)
        run(["cmake", "--install", BIN_DIR], env=env)
        cls.root = cls.stage + PREFIX
        cls.libdir = os.path.join(cls.root, "lib")
        # pkg-config reads the installed synq.pc; the sysroot maps its absolute -I/-L paths
        # into the staging root, as a cross or package build does. The system's own .pc
        # files stay findable after it: synq.pc requires openssl (privately, for TLS), whose
        # system paths pkg-config leaves out of the flags.
        system_pc = subprocess.run(["pkg-config", "--variable", "pc_path", "pkg-config"],
                                   capture_output=True, text=True).stdout.strip()
        staged_pc = os.path.join(cls.libdir, "pkgconfig")
        cls.pc_env = dict(os.environ, PKG_CONFIG_PATH=staged_pc,
                          PKG_CONFIG_LIBDIR=":".join(p for p in (staged_pc, system_pc) if p),
                          PKG_CONFIG_SYSROOT_DIR=cls.stage)
        # A sanitizer build's library needs the sanitizer runtime in the program.
        cls.cc = cmake_cache("CMAKE_C_COMPILER") or "cc"
        cls.cflags = []
        if cmake_cache("SQ_SANITIZE") == "ON":
            cls.cflags = ["-fsanitize=address,undefined"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.stage, ignore_errors=True)

    def pkg_config(self, *args):
        return run(["pkg-config"] + list(args) + ["synq"], env=self.pc_env).split()

    def build(self, source, out):
        argv = [self.cc] + self.cflags + ["-o", out, source] + self.pkg_config("--cflags", "--libs")
        run(argv)
        return out

    def test_programs_headers_and_pc_are_installed(self):
        for prog in ("synqd", "synq", "synq-bench"):
            self.assertTrue(os.access(os.path.join(self.root, "bin", prog), os.X_OK), prog)
        for header in ("loop.h", "tcp.h", "timer.h", "buf.h", "codec.h", "version.h"):
            self.assertTrue(os.path.isfile(os.path.join(self.root, "include", "synq", header)),
                            header)
        self.assertFalse(os.path.exists(os.path.join(self.root, "include", "synq",
                                                     "version.h.in")))
        version = run([os.path.join(BIN_DIR, "synqd"), "-v"]).split()[-1]
        self.assertEqual(self.pkg_config("--modversion"), [version])

    def test_shared_library_has_soname_and_exports_only_the_api(self):
        so = os.path.realpath(os.path.join(self.libdir, "libsynq.so"))
        dynamic = run(["readelf", "-d", so])
        m = re.search(r"Library soname: \[(libsynq\.so\.\d+)\]", dynamic)
        self.assertIsNotNone(m, dynamic)
        self.assertTrue(os.path.exists(os.path.join(self.libdir, m.group(1))))
        symbols = run(["nm", "-D", "--defined-only", so]).split("\n")
        exported = [line.split()[-1] for line in symbols if re.search(r" [TDBR] ", line)]
        self.assertIn("sq_loop_new@@SYNQ_0", exported)
        stray = [s for s in exported if not re.match(r"sq_[a-z]", s)]
        self.assertEqual(stray, [], "symbols outside the sq_* API are exported")

    def test_version_macro(self):
        work = tempfile.mkdtemp(dir=self.stage)
        src = os.path.join(work, "v.c")
        with open(src, "w") as f:
            f.write('#include <stdio.h>\n#include <synq/version.h>\n'
                    'int main(void) { printf("%s %d\\n", SYNQ_VERSION, SYNQ_VERSION_NUM); '
                    'return 0; }\n')
        # Linkers that do not drop unneeded libraries record libsynq.so here too.
        env = dict(os.environ, LD_LIBRARY_PATH=self.libdir)
        out = run([self.build(src, os.path.join(work, "v"))], env=env).split()
        major, minor, patch = (int(x) for x in out[0].split("."))
        self.assertEqual(int(out[1]), major * 10000 + minor * 100 + patch)
        self.assertEqual(out[0], self.pkg_config("--modversion")[0])

    def test_echo_example_built_with_pkg_config_only(self):
        work = tempfile.mkdtemp(dir=self.stage)
        echo = self.build(os.path.join(SRC_DIR, "examples", "echo.c"), os.path.join(work, "echo"))
        needed = run(["readelf", "-d", echo])
        self.assertIn("[libsynq.so.", needed, "echo is not linked against the shared libsynq")
        env = dict(os.environ, LD_LIBRARY_PATH=self.libdir)
        proc = subprocess.Popen([echo, "-p", "0", "-l", "127.0.0.1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            self.assertTrue(sel.select(10), "echo printed nothing in 10 s")
            line = proc.stdout.readline().decode()
            m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
            self.assertIsNotNone(m, line)
            with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as s:
                s.sendall(b"hello, installed synq\n")
                got = b""
                while len(got) < 22:
                    chunk = s.recv(64)
                    self.assertTrue(chunk, "echo closed early")
                    got += chunk
                self.assertEqual(got, b"hello, installed synq\n")
            # The program really runs on the installed library, not a copy in the build tree.
            with open("/proc/%d/maps" % proc.pid) as f:
                maps = f.read()
            self.assertIn(os.path.realpath(self.libdir), maps)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
