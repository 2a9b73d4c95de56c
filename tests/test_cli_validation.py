"""Option values checked at parse time (usage error naming the option), help texts with defaults, and
library errors worded as the command's options."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from neuro.cli import build_parser, cli_terms, main
from neuro.commands.options import output_file, positive_int
from neuro.commands.registry import commands


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["train", "fsdd", "--epochs", "0"], "--epochs"),
        (["train", "fsdd", "--batch-size", "0"], "--batch-size"),
        (["train", "shd", "--hidden", "0"], "--hidden"),
        (["train", "shd", "--seed", "-1"], "--seed"),
        (["experiment", "twopoint-av", "--hidden", "0"], "--hidden"),
        (["bench", "lif", "--T", "0"], "--T"),
        (["bench", "lif", "--B", "0"], "--B"),
        (["bench", "lif", "--N", "-3"], "--N"),
        (["bench", "delays", "--T", "0"], "--T"),
        (["bench", "delays", "--sigma", "inf"], "--sigma"),
        (["demo", "--epochs", "0"], "--epochs"),
        (["export", "m.ckpt", "--to", "nir", "m.nir", "--dt", "nan"], "--dt"),
        (["export", "m.ckpt", "--to", "nir", "m.nir", "--input-shape", "2", "0"], "--input-shape"),
        (["experiment", "lsm-zeroshot", "--seen", "12"], "--seen"),
        (["experiment", "hlop-pmnist", "--ewc-lambda", "-1"], "--ewc-lambda"),
        (["export", "m.ckpt", "--to", "nir", "{missing}/m.nir"], "output"),
        (["events", "plot", "x.bin", "-o", "{missing}/x.png"], "-o/--output"),
        (["run", "m.nir", "--input", "x.npy", "--output", "{missing}/y.npy"], "--output"),
        (["lava", "run", "m.net", "--input", "x.npy", "--output", "{missing}/y.npy"], "--output"),
        (["train", "fsdd", "--out", "{file}/sub"], "--out"),
    ],
)
def test_bad_option_value_is_a_usage_error_naming_it(argv, option, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = [a.format(missing=tmp_path / "missing", file=tmp_path / "a_file") for a in argv]
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage:") and f": error: argument {option}: " in err.strip().splitlines()[-1], err


def test_good_values_still_parse(tmp_path):
    a = build_parser().parse_args(["bench", "lif", "--T", "3", "--B", "1", "--N", "8"])
    assert (a.T, a.B, a.N) == (3, 1, 8)
    a = build_parser().parse_args(["export", "m.ckpt", "--to", "nir", str(tmp_path / "m.nir"), "--dt", "1e-2",
                                   "--input-shape", "2", "34", "34"])
    assert a.dt == 0.01 and a.input_shape == [2, 34, 34]
    assert positive_int("1") == 1 and output_file("here.npy") == "here.npy"
    with pytest.raises(argparse.ArgumentTypeError, match="integer"):
        positive_int("1.5")


def test_usage_error_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "neuro", "train", "fsdd", "--epochs", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "argument --epochs: must be a positive integer" in r.stderr
    assert "Traceback" not in r.stderr


def test_every_option_has_help():
    cmds = commands()
    assert len(cmds) > 15
    missing = [(" ".join(c.path), flags) for c in cmds for flags, kw in c.args if not kw.get("help")]
    assert missing == []


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "fsdd", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo line wrapping
    assert "training epochs (default: 30)" in out
    assert "(default: 64)" in out and "(default: yweweler)" in out
    assert "(default: None)" not in out and "(default: False)" not in out


def test_library_error_speaks_in_options(tmp_path, capsys):
    assert main(["train", "shd", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pass --download" in err and "download=True" not in err


def test_cli_terms_rewrites_only_this_commands_options():
    p = argparse.ArgumentParser()
    p.add_argument("--download", action="store_true")
    p.add_argument("--root")
    p.add_argument("--input-shape", type=int, nargs="+")
    p.add_argument("--epochs", type=int)
    msg = ("pass download=True or point root=/NEURO_DATA_DIR at it; to_nir needs input_shape=(C, H, W); "
           "got epochs=0; clip=True; n_root=3")
    assert cli_terms(msg, p) == ("pass --download or point --root/NEURO_DATA_DIR at it; to_nir needs "
                                 "--input-shape C H W; got --epochs 0; clip=True; n_root=3")
