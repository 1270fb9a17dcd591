"""Reading Google's Quick, Draw! files: every format, files or folders, streamed, and bad input."""

import gzip
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from emojisketch import ink, quickdraw
from emojisketch.errors import DataFormatError

DATA = Path(__file__).parent / "data"


def test_reads_simplified_raw_gz_and_bitmaps_from_a_folder():
    recs = list(quickdraw.read(DATA, words={"cat", "fish", "apple"}))
    sources = {(r.word, r.source) for r in recs}
    assert ("cat", "simplified") in sources and ("cat", "raw") in sources
    assert ("fish", "raw") in sources  # from the .ndjson.gz
    assert ("apple", "bitmap") in sources
    raw = next(r for r in recs if r.source == "raw")
    assert raw.drawing.strokes[0].t is not None  # raw strokes keep their times
    bitmap = next(r for r in recs if r.source == "bitmap")
    assert bitmap.image.shape == (28, 28) and bitmap.image.max() <= 1.0


def test_raw_drawings_render_like_simplified_ones():
    # Google's simplified data is the raw data through the same normalisation.
    rec = next(quickdraw.read(DATA / "raw" / "full_raw_cat.ndjson"))
    img = ink.to_image(rec.drawing)
    assert img.shape == (28, 28) and img.max() > 0.9
    pts = ink.normalize(rec.drawing).strokes
    allp = np.concatenate([s.points for s in pts])
    # RDP may drop the extreme resampled point, by less than its epsilon.
    assert allp.min() == pytest.approx(0, abs=2) and allp.max() == pytest.approx(255, abs=2)


def test_word_of_google_file_names():
    assert quickdraw.word_of("x/full_raw_hot dog.ndjson.gz") == "hot dog"
    assert quickdraw.word_of("full_numpy_bitmap_cat.npy") == "cat"
    assert quickdraw.word_of("thin/paper clip.npy") == "paper clip"


def test_streaming_a_large_file_needs_little_memory(tmp_path):
    line = (DATA / "quickdraw_sample.ndjson").read_text().splitlines()[0]
    big = tmp_path / "full_simplified_cat.ndjson.gz"
    with gzip.open(big, "wt") as fh:
        for _ in range(20000):
            fh.write(line + "\n")
    tracemalloc.start()
    n = sum(1 for _ in quickdraw.read(big))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 20000
    assert peak < 5_000_000  # the file unpacks to ~10 MB; we hold one line at a time


def test_bitmaps_are_memory_mapped(tmp_path):
    path = tmp_path / "full_numpy_bitmap_cat.npy"
    np.save(path, np.zeros((1000, 784), np.uint8))
    assert isinstance(quickdraw.open_bitmaps(path), np.memmap)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"word": "cat"}', "drawing"),
    ('{"word": "cat", "drawing": []}', "empty"),
    ('{"word": "cat", "drawing": [[[1, NaN], [1, 2]]]}', "NaN"),
    ("[1, 2, 3]", "drawing"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "full_simplified_cat.ndjson"
    good = (DATA / "quickdraw_sample.ndjson").read_text().splitlines()[0]
    path.write_text(good + "\n" + content + "\n")
    it = quickdraw.read(path)
    next(it)
    with pytest.raises(DataFormatError, match=message) as err:
        next(it)
    assert "full_simplified_cat.ndjson:2" in str(err.value)


def test_wrong_shaped_bitmap_file(tmp_path):
    path = tmp_path / "full_numpy_bitmap_cat.npy"
    np.save(path, np.zeros((3, 100), np.uint8))
    with pytest.raises(DataFormatError, match="784"):
        list(quickdraw.read(path))
    (tmp_path / "full_numpy_bitmap_dog.npy").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="not a numpy bitmap"):
        list(quickdraw.read(tmp_path / "full_numpy_bitmap_dog.npy"))


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = gzip.compress(((DATA / "quickdraw_sample.ndjson").read_text() * 3).encode())
    path = tmp_path / "full_simplified_cat.ndjson.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="cannot be read"):
        list(quickdraw.read(path))


def test_missing_path():
    with pytest.raises(DataFormatError, match="no such file"):
        list(quickdraw.read("/nonexistent/quickdraw"))


def test_sample_file_is_what_the_readme_says():
    recs = list(quickdraw.read(DATA / "quickdraw_sample.ndjson"))
    assert len(recs) == 180 and len({r.word for r in recs}) == 18
    assert all(json.dumps(r.drawing.to_google()) for r in recs[:3])
