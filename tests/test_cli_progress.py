"""Progress bars on the command line's long work (`gridedge.cli_progress`): drawn on stderr only when
it is a terminal, never on stdout, off with `--no-progress` or GRIDEDGE_NO_PROGRESS; a command's
stdout is byte for byte the same with and without a bar."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gridedge import cli_progress
from gridedge.cli import main
from gridedge.cli_progress import ENV_VAR, NullProgress, progress, progress_wanted

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "examples" / "iskra-am550-p1-capture.txt"
BAR = "\u2501"  # rich's bar glyph


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (as stderr on a console)."""

    def isatty(self) -> bool:
        return True


class Pipe(io.TextIOWrapper):
    """stdout into a pipe: bytes kept, not a terminal."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", newline="")

    def value(self) -> bytes:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue()


@pytest.fixture(autouse=True)
def _terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain terminal environment, whatever the CI's (TERM=dumb, FORCE_COLOR, ...)."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in (ENV_VAR, "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- the decision


def test_progress_is_wanted_only_on_a_terminal_stderr_and_not_when_turned_off() -> None:
    tty, pipe = Terminal(), io.StringIO()
    env = {"TERM": "xterm"}
    assert progress_wanted(stderr=tty, stdout=pipe, environ=env)
    assert not progress_wanted(stderr=pipe, stdout=pipe, environ=env)
    assert not progress_wanted(True, stderr=tty, stdout=pipe, environ=env)  # --no-progress
    assert not progress_wanted(stderr=tty, stdout=pipe, environ={**env, ENV_VAR: "1"})
    assert progress_wanted(stderr=tty, stdout=pipe, environ={**env, ENV_VAR: "0"})
    assert not progress_wanted(stderr=tty, stdout=pipe, environ={"TERM": "dumb"})
    # a command printing its results while it works: not over a table scrolling on the same screen
    assert not progress_wanted(stdout_streams=True, stderr=tty, stdout=Terminal(), environ=env)
    assert progress_wanted(stdout_streams=True, stderr=tty, stdout=pipe, environ=env)


def test_deciding_does_not_import_rich() -> None:
    code = (
        "import sys; from gridedge.cli_progress import progress, progress_wanted; "
        "progress_wanted();\nwith progress('x', enabled=False) as bar: bar.advance()\n"
        "from gridedge.cli import build_parser; build_parser()\n"
        "print('rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# --------------------------------------------------------------------------- the bar


def test_a_forced_terminal_console_shows_the_bar_and_a_plain_one_does_not() -> None:
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with progress("importing", total=1000, unit="readings", console=console) as bar:
        assert bar.enabled
        for _ in range(1000):
            bar.advance()
    shown = screen.getvalue()
    assert "importing" in shown and BAR in shown and "1,000/1,000 readings" in shown

    plain = io.StringIO()
    with progress("importing", total=10, console=Console(file=plain, force_terminal=False)) as bar:
        assert isinstance(bar, NullProgress) and not bar.enabled
        bar.advance(10)
    assert plain.getvalue() == ""
    with progress("importing", total=10, enabled=False, console=console) as bar:
        assert type(bar) is NullProgress


def test_hot_loops_hand_the_figures_over_at_most_ten_times_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    now = [1000.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: now[0])
    pushes = []
    console = Console(file=io.StringIO(), force_terminal=True)
    with progress("x", total=10_000, console=console) as bar:
        assert isinstance(bar, cli_progress.LiveProgress)
        monkeypatch.setattr(bar, "_push", lambda: pushes.append(bar.completed))
        for _ in range(10_000):
            now[0] += 0.0001  # 10,000 items a second for one second
            bar.advance()
        assert bar.completed == 10_000
        assert 9 <= len(pushes) <= 11


def test_stderr_lines_and_a_terminal_stdout_go_above_the_bar_verbatim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    screen = Terminal()
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", screen)
    console = Console(file=screen, force_terminal=True, width=40)
    with progress("x", total=3, console=console, proxy_stdout=True) as bar:
        line = "[bold]not markup[/bold] " + "a long line " * 8
        print(line)
        print("warning: [x]", file=sys.stderr)
        sys.stdout.write("partial")
        bar.advance(3)
    assert sys.stdout is out and sys.stderr is screen
    shown = screen.getvalue()
    assert line + "\n" in shown  # not wrapped at 40 columns, no markup taken
    assert "warning: [x]\n" in shown and "partial" in shown
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- commands


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO) -> tuple[int, bytes, str]:
    out = Pipe()
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", out)
        m.setattr(sys, "stderr", stderr)
        status = main(argv)
    return status, out.value(), stderr.getvalue()


@pytest.mark.parametrize("json_lines", [True, False])
def test_p1_read_file_shows_progress_on_a_terminal_and_stdout_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, json_lines: bool
) -> None:
    capture = tmp_path / "day.txt"
    capture.write_bytes(CAPTURE.read_bytes() * 5)
    argv = ["p1", "read", "--file", str(capture)] + (["--json"] if json_lines else [])
    status, with_bar, err = _run(argv, monkeypatch, Terminal())
    assert status == 0
    assert "reading day.txt" in err and BAR in err and "\x1b[" in err
    assert "600 telegrams, 600 decoded" in err  # the summary still there, after the bar
    status, flag_off, err_off = _run([*argv, "--no-progress"], monkeypatch, Terminal())
    assert status == 0 and "reading day.txt" not in err_off and "\x1b[" not in err_off
    status, piped, err_piped = _run(argv, monkeypatch, io.StringIO())  # stderr not a terminal
    assert status == 0 and "reading day.txt" not in err_piped and "\x1b[" not in err_piped
    monkeypatch.setenv(ENV_VAR, "1")
    status, env_off, err_env = _run(argv, monkeypatch, Terminal())
    assert status == 0 and "\x1b[" not in err_env
    assert with_bar == flag_off == piped == env_off
    assert len(with_bar.splitlines()) >= 600


def test_p1_read_into_a_store_with_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "meter.db"
    status, out, err = _run(
        ["p1", "read", "--file", str(CAPTURE), "--json", "--store", str(db)], monkeypatch, Terminal()
    )
    assert status == 0 and "reading " in err and len(out.splitlines()) == 120
    from gridedge.store import SqliteReadingStore

    store = SqliteReadingStore(db)
    try:
        assert store.latest(json.loads(out.splitlines()[-1])["meter_id"]) is not None
    finally:
        store.close()


def test_p1_check_output_is_the_same_with_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(CAPTURE.read_bytes().replace(b"1-0:1.7.0(", b"1-0:1.7.0(9", 1))
    files = [str(CAPTURE), str(bad)]
    for flags in ([], ["--json"]):
        status, with_bar, err = _run(["p1", "check", *flags, *files], monkeypatch, Terminal())
        assert status == 1 and "checking" in err and BAR in err
        status, plain, err_plain = _run(
            ["p1", "check", "--no-progress", *flags, *files], monkeypatch, Terminal()
        )
        assert status == 1 and err_plain == ""
        assert with_bar == plain and b"CRC" in plain


def test_s1_read_file_progress_and_unchanged_stdout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import numpy as np

    from gridedge.ports.s1.frame import S1FrameEncoder, S1FrameInfo

    n = 8000
    k = np.arange(n)
    counts = np.zeros((n, 7), dtype=np.int32)
    counts[:, 0] = np.round(230 * np.sqrt(2) * np.sin(2 * np.pi * 50 * k / 4000) / 0.025)
    counts[:, 1] = np.round(4350 * np.sqrt(2) * np.sin(2 * np.pi * 50 * k / 4000))
    path = tmp_path / "s1.bin"
    path.write_bytes(S1FrameEncoder(S1FrameInfo("1FLU0000000009"), 40).encode(counts, 50_000))
    argv = ["s1", "read", "--file", str(path), "--json"]
    status, with_bar, err = _run(argv, monkeypatch, Terminal())
    assert status == 0 and "reading s1.bin" in err and BAR in err
    status, plain, err_plain = _run([*argv, "--no-progress"], monkeypatch, Terminal())
    assert status == 0 and "reading s1.bin" not in err_plain
    assert with_bar == plain and len(plain.splitlines()) >= 95


def test_dlms_read_file_progress_and_unchanged_stdout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    corpus = ROOT.parent / "shared" / "corpus" / "dlms" / "athombv_node-dsmr-parser"
    sample = corpus / "dlms__aidon-example-1.txt"
    if not sample.is_file():
        pytest.skip("the shared corpus is not beside the repository")
    from gridedge.ports.dlms.cipher import parse_hex_dump

    capture = tmp_path / "han.bin"
    capture.write_bytes(parse_hex_dump(sample.read_text()) * 20)
    argv = ["dlms", "read", "--file", str(capture), "--json"]
    status, with_bar, err = _run(argv, monkeypatch, Terminal())
    assert status == 0 and "reading han.bin" in err and BAR in err
    status, plain, err_plain = _run([*argv, "--no-progress"], monkeypatch, Terminal())
    assert status == 0 and "reading han.bin" not in err_plain
    assert with_bar == plain and len(plain.splitlines()) == 20


# --------------------------------------------------------------------------- real terminals


def _on_a_pty(
    argv: list[str], *, stdout_too: bool = False, env: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """Run `gridedge ARGV` with stderr (and stdout, if asked) on a pseudo-terminal; (stdout, terminal)."""
    master, slave = pty.openpty()
    sink = tempfile.TemporaryFile()  # noqa: SIM115 (a file, not a pipe: nothing waits on a full pipe)
    full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        full_env.pop(name, None)
    if env is None or ENV_VAR not in env:
        full_env.pop(ENV_VAR, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridedge", *argv],
        stdout=slave if stdout_too else sink,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=full_env,
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            screen += data
        elif proc.poll() is not None:
            break
    proc.wait(60)
    os.close(master)
    sink.seek(0)
    out = sink.read()
    sink.close()
    assert proc.returncode == 0, screen.decode(errors="replace")
    return out, screen


def test_on_a_real_terminal_the_bar_is_on_stderr_and_the_pipe_is_clean(tmp_path: Path) -> None:
    capture = tmp_path / "day.txt"
    capture.write_bytes(CAPTURE.read_bytes() * 20)
    argv = ["p1", "read", "--file", str(capture), "--json"]
    out, screen = _on_a_pty(argv)
    assert b"reading day.txt" in screen and BAR.encode() in screen
    assert b"\x1b[" not in out
    quiet, screen_off = _on_a_pty(argv, env={ENV_VAR: "1"})
    assert b"reading day.txt" not in screen_off and b"\x1b[" not in screen_off
    piped = subprocess.run(
        [sys.executable, "-m", "gridedge", *argv],
        capture_output=True,
        timeout=60,
        env={**os.environ, "TERM": "xterm"},
    )
    assert b"\x1b[" not in piped.stderr
    assert out == quiet == piped.stdout and len(out.splitlines()) == 2400


def test_a_table_on_the_same_terminal_gets_no_bar_drawn_through_it(tmp_path: Path) -> None:
    _, screen = _on_a_pty(["p1", "read", "--file", str(CAPTURE)], stdout_too=True)
    assert b"import W" in screen and BAR.encode() not in screen
