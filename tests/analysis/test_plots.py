"""textgen/analysis/plots.py directly: formats from file names, refused names before any work, and figures
written whole in the format asked for."""

from __future__ import annotations

import pytest

from textgen.errors import TextgenError
from textgen.analysis.plots import check_plot_path, plot_format, plot_training_curves

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml", ".jpg": b"\xff\xd8"}


def test_the_format_follows_the_name():
    assert plot_format("a.png") == "png" and plot_format("a.JPG") == "jpeg" and plot_format("curve") == "png"
    with pytest.raises(TextgenError, match=r"\.gif is not an image format textgen draws"):
        plot_format("a.gif")


def test_a_bad_plot_path_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where a folder would go")
    with pytest.raises(TextgenError, match="is a file"):
        check_plot_path(blocker / "x.png")
    with pytest.raises(TextgenError, match="is a folder"):
        check_plot_path(tmp_path)
    check_plot_path(tmp_path / "new" / "folder" / "x.png")  # missing folders are made when the plot is written
    with pytest.raises(TextgenError, match="gif"):
        check_plot_path(tmp_path / "x.gif")


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_training_curves_are_written_in_the_format_asked_for(tmp_path, suffix):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("step,epoch,loss,lr,tokens_per_s,val_loss,val_perplexity,val_bits_per_byte\n"
                       "10,0,3.0,0.01,100,,,\n20,0,2.5,0.01,100,2.7,14.9,1.3\n30,0,2.2,0.005,100,2.6,13.5,1.25\n")
    out = tmp_path / f"loss{suffix}"
    plot_training_curves(metrics, out)
    assert out.read_bytes().startswith(MAGIC[suffix])
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temporary file left
