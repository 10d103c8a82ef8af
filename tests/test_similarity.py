import math

import numpy as np
import pytest
import torch

from common import fileio, similarity
from common.errors import UserError


def test_cosine_hand_checked():
    assert similarity.cosine([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2), abs=1e-15)
    assert similarity.cosine([1, 2, 3], [-1, -2, -3]) == pytest.approx(-1.0, abs=1e-15)
    assert similarity.cosine([0, 0], [0, 0]) == 1.0
    assert similarity.cosine([0, 0], [1, 0]) == 0.0


def test_one_minus_cosine_resolves_tiny_differences():
    a = np.ones(1000)
    b = a.copy()
    b[0] += 1e-6
    exact = 1 - (999 + 1 + 1e-6) / (math.sqrt(1000) * math.sqrt(999 + (1 + 1e-6) ** 2))
    assert similarity.one_minus_cosine(a, b) == pytest.approx(exact, rel=1e-6)
    assert 0 < similarity.one_minus_cosine(a, b) < 1e-12
    assert similarity.one_minus_cosine([1, 0], [0, 1]) == pytest.approx(1.0)


def test_pixel_cosine_matches_torch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 5, 4))
    b = a + 0.3 * rng.standard_normal((2, 3, 5, 4))
    b[0, :, 0, 0] = 0  # an all-zero pixel scores 0 with torch's eps clamp
    expected = torch.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), dim=1).mean().item()
    assert similarity.pixel_cosine(a, b, axis=1) == pytest.approx(expected, abs=1e-12)


def test_differences_and_psnr_hand_checked():
    a = np.zeros((3, 4, 4))
    b = np.full((3, 4, 4), 0.1)
    assert similarity.mean_abs(a, b) == pytest.approx(0.1)
    assert similarity.max_abs(a, b) == pytest.approx(0.1)
    assert similarity.psnr(a, b) == pytest.approx(10 * math.log10(4 / 0.01))  # range 2 for [-1, 1]
    assert similarity.psnr(a, a) == math.inf
    assert similarity.rel_l2([3, 4], [3, 4.5]) == pytest.approx(0.1)


def write(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    fileio.write_array(folder / name, np.asarray(array, np.float32))


def test_compare_dirs_figures_and_refusals(tmp_path):
    write(tmp_path / "ref", "a_0.bin", [[1, 0], [0, 1]])
    write(tmp_path / "off", "a_0.bin", [[1, 0], [0, 1]])
    write(tmp_path / "ref", "b_0.bin", [[1, 0], [0, 0]])
    write(tmp_path / "off", "b_0.bin", [[1, 1], [0, 0]])
    per_file, agg = similarity.compare_dirs(tmp_path / "ref", tmp_path / "off", (2, 2), pixel_axis=0)
    assert [f["file"] for f in per_file] == ["a_0.bin", "b_0.bin"]
    assert per_file[1]["cosine"] == pytest.approx(1 / math.sqrt(2))
    assert agg["count"] == 2
    assert agg["mean_cosine"] == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    assert agg["min_cosine"] == pytest.approx(1 / math.sqrt(2))
    assert agg["max_abs"] == 1.0 and agg["mean_abs"] == pytest.approx(0.125)
    assert agg["psnr"] == pytest.approx(10 * math.log10(4 / 0.125))  # pooled MSE (0 + 0.25) / 2
    assert agg["min_psnr"] == pytest.approx(10 * math.log10(4 / 0.25))

    write(tmp_path / "off", "c_0.bin", [[0, 0], [0, 0]])
    with pytest.raises(UserError, match=r"off/c_0\.bin: has no partner"):
        similarity.compare_dirs(tmp_path / "ref", tmp_path / "off", (2, 2))
    (tmp_path / "off" / "c_0.bin").unlink()
    write(tmp_path / "off", "b_0.bin", [[np.nan, 0], [0, 0]])
    with pytest.raises(UserError, match=r"off/b_0\.bin: holds NaN or Inf values"):
        similarity.compare_dirs(tmp_path / "ref", tmp_path / "off", (2, 2))
    write(tmp_path / "off", "b_0.bin", [1, 2, 3])
    with pytest.raises(UserError, match=r"off/b_0\.bin: 12 bytes, expected 16 bytes"):
        similarity.compare_dirs(tmp_path / "ref", tmp_path / "off", (2, 2))
