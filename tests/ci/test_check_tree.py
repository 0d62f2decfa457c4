"""`.ci/check-tree` refuses big files, stray binaries and paths of the machine, and nothing else.

Each case is a file staged in a fresh repository. The leaks are spelled in two pieces
so that this file, which is committed too, does not trip the check itself.
"""

import subprocess
import sys
from pathlib import Path

import pytest

CHECK_TREE = Path(__file__).resolve().parents[2] / ".ci" / "check-tree"

LEAKS = {
    "work directory": "see /work/" + "checkout/src/app.py line 3",
    "a user's home": "cp notes /home/" + "alice/notes.txt",
    "a user's home, unfinished": 'HOME="/home/' + 'alice"',
    "root's home": 'File "/root/' + '.cache/some-tool/run.py"',
    "root's home in a PATH": "PATH=/usr/bin:/root/" + "bin",
    "a temporary directory": "failed in /tmp/" + "build-42/out.log",
    "a temporary directory, older": "kept in /var/tmp/" + "jobtrail-build",
    "a macOS home": "(/Users/" + "alice/src/jobtrail)",
    "a macOS temporary directory": "/var/folders/" + "x1/abc/T/tmpq2",
    "a Windows home": "C:\\Users\\" + "alice\\src",
    "a file URL": "file://" + "/home/" + "alice/report.html",
}

LEGITIMATE = {
    "a bare temporary directory": 'cd /tmp && TMPDIR="/tmp" make test',
    "a URL whose path starts like a home": "https://example.com/home/alice/page and http://host:8000/tmp/x",
    "paths relative to a home or a variable": "~/work/notes $HOME/.config ${PWD}/tmp/x $(pwd)/work/y",
    "relative paths": "./tmp/out ../work/x .jobtrail/test",
    "system paths": "/usr/bin/chromium /proc/self/stat /dev/null /etc/hosts",
    "routes": "GET /v1/jobs/{id}/events and POST /qstash/run",
    "bare roots": "the /home and /work directories, and /root",
}


def stage(repo: Path, files: dict[str, bytes]) -> None:
    subprocess.run(("git", "init", "-q", str(repo)), check=True)
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)
    subprocess.run(("git", "add", "."), cwd=repo, check=True)


def check_tree(repo: Path) -> tuple[int, str]:
    done = subprocess.run((sys.executable, str(CHECK_TREE)), cwd=repo, capture_output=True, text=True)
    return done.returncode, done.stdout


@pytest.mark.parametrize("text", LEAKS.values(), ids=LEAKS.keys())
def test_a_path_of_the_machine_fails_the_check_naming_the_file_and_line(tmp_path: Path, text: str):
    stage(tmp_path, {"notes.md": f"first line\n{text}\n".encode()})
    code, out = check_tree(tmp_path)
    assert code == 1
    assert out.startswith("notes.md: line 2 holds a path of the machine it was made on: ")


@pytest.mark.parametrize("text", LEGITIMATE.values(), ids=LEGITIMATE.keys())
def test_paths_that_are_not_of_the_machine_pass(tmp_path: Path, text: str):
    stage(tmp_path, {"notes.md": f"{text}\n".encode()})
    assert check_tree(tmp_path) == (0, "")


def test_a_file_over_one_mebibyte_fails_and_one_of_exactly_one_passes(tmp_path: Path):
    stage(tmp_path, {"big.txt": b"x" * (1024 * 1024 + 1), "fits.txt": b"x" * (1024 * 1024)})
    assert check_tree(tmp_path) == (1, "big.txt: 1,048,577 bytes, over the 1 MiB limit\n")


def test_a_binary_fails_outside_docs_and_passes_inside(tmp_path: Path):
    stage(tmp_path, {"-": b"\x00\x01profile", "docs/shot.png": b"\x89PNG\x00\x01", "empty.py": b""})
    assert check_tree(tmp_path) == (1, "-: binary, and binaries belong under docs/ only\n")


def test_a_binary_that_holds_a_path_of_the_machine_fails_even_in_docs(tmp_path: Path):
    leak = "/tmp/" + "shots/job.png"
    stage(tmp_path, {"docs/shot.png": b"\x89PNG\x00\x01" + leak.encode() + b"\x00"})
    code, out = check_tree(tmp_path)
    assert (code, out) == (1, f"docs/shot.png: its bytes hold paths of the machine it was made on: {leak}\n")


def test_this_repository_passes():
    code, out = check_tree(CHECK_TREE.parents[1])
    assert (code, out) == (0, "")
