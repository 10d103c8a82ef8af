import numpy as np
import pytest
from PIL import Image

from common import fileio, images
from common.errors import UserError


def test_fixed_mapping_is_upstream_tensor2im():
    x = np.array([[[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, -3.0]]], np.float32)  # (C=1, H=1, W=7)
    expected = np.clip((x[0] + 1) / 2 * 255, 0, 255).astype(np.uint8)
    assert np.array_equal(images.to_uint8(x), expected)
    assert images.to_uint8(x).tolist() == [[0, 63, 127, 191, 255, 255, 0]]


def test_minmax_mapping_is_torchvision_save_image_normalize():
    import torch
    from torchvision.utils import make_grid

    x = np.random.default_rng(1).uniform(-0.7, 0.4, (1, 6, 5)).astype(np.float32)
    grid = make_grid(torch.from_numpy(x)[None], normalize=True, padding=0)  # what save_image does first
    expected = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)[0].numpy()
    got = images.to_uint8(x, minmax=True)
    assert np.array_equal(got, expected)
    assert got.min() == 0 and got.max() == 255


def test_rgb_layout_and_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 5, 4)).astype(np.float32)
    picture = images.to_uint8(x)
    assert picture.shape == (5, 4, 3)
    images.save_image(tmp_path / "p.png", picture)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p.png")), picture)
    with pytest.raises(ValueError, match="unsupported image extension"):
        images.save_image(tmp_path / "p.gif", picture)


def test_grid_places_images_in_rows():
    tiles = [np.full((2, 3), v, np.uint8) for v in (10, 20, 30)]
    sheet = images.grid(tiles, nrow=2, padding=1, pad_value=0)
    assert sheet.shape == (2 * 3 + 1, 2 * 4 + 1)
    assert sheet[1, 1] == 10 and sheet[1, 5] == 20 and sheet[4, 1] == 30 and sheet[4, 5] == 0


def test_side_by_side_marks_the_difference():
    ref = np.zeros((1, 4, 4), np.float32)
    cand = ref.copy()
    cand[0, 2, 3] = 1e-4
    picture, max_abs = images.side_by_side(ref, cand)
    assert max_abs == pytest.approx(1e-4)
    diff_panel = picture[4:8, 4 + 2 * (4 + 4):4 + 2 * (4 + 4) + 4]
    assert diff_panel[2, 3] == 255 and diff_panel.sum() == 255


def test_outputs_to_images_names_and_grid(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    fileio.write_array(out / "noise_0_0.bin", np.zeros((1, 1, 4, 4), np.float32))
    fileio.write_array(out / "batch_1_0.bin", np.ones((3, 1, 4, 4), np.float32))
    (out / "sumary.json").write_text("{}")
    count, grids = images.outputs_to_images(out, tmp_path / "img", (1, 4, 4))
    assert count == 4
    names = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert names == ["batch_1_0_0.png", "batch_1_0_1.png", "batch_1_0_2.png", "grid.png", "noise_0_0.png"]
    assert np.asarray(Image.open(tmp_path / "img" / "noise_0_0.png")).tolist() == [[127] * 4] * 4
    assert grids == [tmp_path / "img" / "grid.png"]
    fileio.write_array(out / "bad_0.bin", np.zeros(5, np.float32))
    with pytest.raises(UserError, match=r"bad_0\.bin: 20 bytes is not a whole number of samples"):
        images.outputs_to_images(out, tmp_path / "img2", (1, 4, 4))
    assert not (tmp_path / "img2").exists()
