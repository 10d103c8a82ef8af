"""Pix2pixHD data steps: datasets_deal.py and pix2pixhd_preprocess.py against upstream's input construction.

The reference below is upstream's test-time code transcribed with CPU tensors (data/aligned_dataset.py,
data/base_dataset.py __make_power_2 with NEAREST, Pix2PixHDModel.encode_input and get_edges at 5a2c872).
"""
import io

import numpy as np
import pytest
import torch
import torchvision.transforms as transforms
from PIL import Image

import datasets_deal
import pix2pixhd_compare_upstream
import pix2pixhd_data
import pix2pixhd_preprocess
from common import cli
from common.errors import UserError
from pix2pixhd_synthetic import write_cityscapes


def upstream_input(label_path, inst_path):
    """upstream AlignedDataset + encode_input with --resize_or_crop none, label_nc 35, on the CPU."""
    def make_power_2(img, base=32.0):
        ow, oh = img.size
        h, w = int(round(oh / base) * base), int(round(ow / base) * base)
        return img if (h == oh and w == ow) else img.resize((w, h), Image.NEAREST)

    transform = transforms.Compose([transforms.Lambda(make_power_2), transforms.ToTensor()])
    label = transform(Image.open(label_path)).unsqueeze(0) * 255.0
    inst = transform(Image.open(inst_path)).unsqueeze(0)
    size = label.size()
    one_hot = torch.FloatTensor(torch.Size((size[0], 35, size[2], size[3]))).zero_()
    one_hot = one_hot.scatter_(1, label.data.long(), 1.0)
    t = inst
    edge = torch.ByteTensor(t.size()).zero_()
    edge[:, :, :, 1:] = edge[:, :, :, 1:] | (t[:, :, :, 1:] != t[:, :, :, :-1])
    edge[:, :, :, :-1] = edge[:, :, :, :-1] | (t[:, :, :, 1:] != t[:, :, :, :-1])
    edge[:, :, 1:, :] = edge[:, :, 1:, :] | (t[:, :, 1:, :] != t[:, :, :-1, :])
    edge[:, :, :-1, :] = edge[:, :, :-1, :] | (t[:, :, 1:, :] != t[:, :, :-1, :])
    return torch.cat((one_hot, edge.float()), dim=1)[0].numpy(), inst


def save_png(path, array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def dataset(tmp_path):
    """test_label/test_inst from a synthetic gtFine split, plus two hand-made frames: one whose instance ids
    33000 | 33001 differ only in the low byte (8-bit or >> 8 reading merges them), one of 80x168 pixels that
    upstream resizes to 64x160."""
    write_cityscapes(tmp_path / "src", height=64, width=128, seed=3)
    city = tmp_path / "src" / "gtFine" / "val" / "zurich"
    city.mkdir()
    label = np.full((64, 96), 33, np.uint8)
    inst = np.full((64, 96), 33000, np.uint16)
    inst[:, 40:] = 33001
    inst[20:30, 10:20] = 26001
    label[20:30, 10:20] = 26
    save_png(city / "zurich_000000_000019_gtFine_labelIds.png", label)
    save_png(city / "zurich_000000_000019_gtFine_instanceIds.png", inst)
    rng = np.random.default_rng(7)
    save_png(city / "zurich_000001_000019_gtFine_labelIds.png", rng.integers(0, 35, (80, 168)).astype(np.uint8))
    save_png(city / "zurich_000001_000019_gtFine_instanceIds.png",
             rng.integers(32000, 34000, (80, 168)).astype(np.uint16))
    root = tmp_path / "cityscapes"
    datasets_deal.main([str(root / "test_inst"), str(root / "test_label"), str(tmp_path / "src/gtFine/val")])
    return root


def test_datasets_deal_copies_label_and_instance_maps_only(dataset):
    labels = sorted(p.name for p in (dataset / "test_label").iterdir())
    insts = sorted(p.name for p in (dataset / "test_inst").iterdir())
    assert len(labels) == len(insts) == 6
    assert all(n.endswith("_gtFine_labelIds.png") for n in labels)
    assert [pix2pixhd_data.inst_partner(n) for n in labels] == insts


def test_preprocess_equals_upstream_construction(dataset, tmp_path):
    pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "prep")])
    pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "compact"), "--compact"])
    checked_wraparound = False
    for label_path, inst_path in pix2pixhd_data.paired_maps(dataset):
        expected, inst_tensor = upstream_input(label_path, inst_path)
        name = label_path.name.replace(".png", ".bin")
        got = np.fromfile(tmp_path / "prep" / name, dtype=np.float32).reshape(expected.shape)
        np.testing.assert_array_equal(got, expected)
        label = np.fromfile(tmp_path / "compact" / "label" / name, dtype=np.uint8).reshape(expected.shape[1:])
        edge = np.fromfile(tmp_path / "compact" / "edge" / name, dtype=np.uint8).reshape(expected.shape[1:])
        np.testing.assert_array_equal(np.eye(35, dtype=np.float32)[label].transpose(2, 0, 1), expected[:35])
        np.testing.assert_array_equal(edge, expected[35])
        # torchvision reads the 16-bit ids as int16, wrapping those above 32767: the edges must not care.
        checked_wraparound |= bool((inst_tensor < 0).any())
    assert checked_wraparound
    assert {p.stat().st_size for p in (tmp_path / "prep").iterdir()} == {36 * 64 * 128 * 4, 36 * 64 * 96 * 4,
                                                                         36 * 64 * 160 * 4}


def test_edges_separate_ids_that_differ_in_the_low_byte(dataset):
    label_path = dataset / "test_label" / "zurich_000000_000019_gtFine_labelIds.png"
    _, inst = pix2pixhd_data.read_maps(label_path, dataset / "test_inst" / pix2pixhd_data.inst_partner(label_path.name))
    assert inst.max() == 33001
    edges = pix2pixhd_data.edge_map(inst)
    assert edges[0, 39] == edges[0, 40] == 1 and edges[0, 38] == edges[0, 41] == 0
    assert edges[20:30, 10:20].sum() == 36  # the border of the 10x10 instance


def test_preprocess_is_deterministic(dataset, tmp_path):
    pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "a")])
    pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "b")])
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_synthetic_dataset_is_byte_identical_for_a_seed(tmp_path):
    first = write_cityscapes(tmp_path / "a", height=64, width=128, seed=5)
    second = write_cityscapes(tmp_path / "b", height=64, width=128, seed=5)
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
        inst = pix2pixhd_data.inst_partner(a.name)
        assert (a.parent / inst).read_bytes() == (b.parent / inst).read_bytes()


def test_unpaired_maps_are_an_error(dataset, tmp_path, capsys):
    missing = dataset / "test_inst" / "lindau_000001_000036_gtFine_instanceIds.png"
    missing.rename(tmp_path / missing.name)
    assert cli.run(pix2pixhd_preprocess.main, [str(dataset), str(tmp_path / "prep")]) == 2
    err = capsys.readouterr().err
    assert "lindau_000001_000036_gtFine_instanceIds.png: missing" in err
    assert "lindau_000001_000036_gtFine_labelIds.png" in err
    assert not (tmp_path / "prep").exists()
    # An instance map without its label map is an error too, not a silent skip.
    (tmp_path / missing.name).rename(missing)
    (dataset / "test_label" / "lindau_000001_000036_gtFine_labelIds.png").unlink()
    with pytest.raises(UserError, match="lindau_000001_000036_gtFine_instanceIds.png: has no partner"):
        pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "prep")])


def test_datasets_deal_refuses_a_label_map_without_instance_map(tmp_path, capsys):
    write_cityscapes(tmp_path / "src", height=32, width=64, per_city=1)
    inst = next((tmp_path / "src/gtFine/val/lindau").glob("*_instanceIds.png"))
    inst.unlink()
    out = tmp_path / "cityscapes"
    status = cli.run(datasets_deal.main, [str(out / "test_inst"), str(out / "test_label"),
                                          str(tmp_path / "src/gtFine/val")])
    assert status == 2
    assert f"its partner {inst} is missing" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(UserError, match="no such folder"):
        datasets_deal.main([str(out / "test_inst"), str(out / "test_label"), str(tmp_path / "nope")])


@pytest.mark.parametrize("case, message", [
    ("label id", "holds label id 40; expected Cityscapes label ids below 35"),
    ("rgb label", "PIL mode 'RGB', expected a single-channel 8-bit label-id map"),
    ("size", "64x32 pixels, but its label map"),
])
def test_preprocess_rejects_bad_maps(dataset, tmp_path, case, message):
    label_path = dataset / "test_label" / "frankfurt_000000_000019_gtFine_labelIds.png"
    inst_path = dataset / "test_inst" / pix2pixhd_data.inst_partner(label_path.name)
    if case == "label id":
        save_png(label_path, np.full((64, 128), 40, np.uint8))
    elif case == "rgb label":
        save_png(label_path, np.zeros((64, 128, 3), np.uint8))
    else:
        save_png(inst_path, np.zeros((32, 64), np.uint16))
    with pytest.raises(UserError, match=message):
        pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "prep")])


def test_preprocess_rejects_a_bad_dataset_folder(dataset, tmp_path):
    with pytest.raises(UserError, match=r"test_label: no such folder; expected test_label/ and test_inst/"):
        pix2pixhd_preprocess.main([str(tmp_path / "nothing"), str(tmp_path / "prep")])
    label_path = dataset / "test_label" / "frankfurt_000000_000019_gtFine_labelIds.png"
    label_path.write_bytes(b"not a png")
    with pytest.raises(UserError, match=f"{label_path}: not a readable image"):
        pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "prep")])
    save_png(label_path, np.zeros((8, 16), np.uint8))
    save_png(dataset / "test_inst" / pix2pixhd_data.inst_partner(label_path.name), np.zeros((8, 16), np.uint16))
    with pytest.raises(UserError, match="16x8 pixels is too small; each side must round to at least 32"):
        pix2pixhd_preprocess.main([str(dataset), str(tmp_path / "prep")])


def test_datasets_deal_refuses_duplicate_frames_and_empty_splits(tmp_path):
    write_cityscapes(tmp_path / "src", height=32, width=64, per_city=1)
    val = tmp_path / "src" / "gtFine" / "val"
    out = tmp_path / "cityscapes"
    argv = [str(out / "test_inst"), str(out / "test_label"), str(val)]
    (val / "copy").mkdir()
    label = next((val / "lindau").glob("*_labelIds.png"))
    (val / "copy" / label.name).write_bytes(label.read_bytes())
    with pytest.raises(UserError, match="frame names must be unique across the city folders"):
        datasets_deal.main(argv)
    empty = tmp_path / "empty" / "val"
    (empty / "city").mkdir(parents=True)
    with pytest.raises(UserError, match="no <city>/\\*_gtFine_labelIds.png or \\*_gtFine_instanceIds.png files"):
        datasets_deal.main([argv[0], argv[1], str(empty)])


def test_compare_upstream_needs_a_patched_checkout(tmp_path):
    with pytest.raises(UserError, match=r"not a pix2pixHD checkout "
                                        r"\(no options/test_options\.py, models/networks\.py\)"):
        pix2pixhd_compare_upstream.main(["--upstream", str(tmp_path)])
    (tmp_path / "models").mkdir()
    (tmp_path / "options").mkdir()
    (tmp_path / "models" / "networks.py").write_text("")
    (tmp_path / "options" / "test_options.py").write_text("class TestOptions: pass\n")
    with pytest.raises(UserError, match=r"test_options\.py: not patched \(no 'load_pretrain'\); "
                                        r"run `git apply pix2pixhd\.patch`"):
        pix2pixhd_compare_upstream.main(["--upstream", str(tmp_path)])


def test_compare_upstream_on_the_patched_mirror(tmp_path, capsys):
    """Opt-in (UPSTREAM_MIRRORS; about a minute): upstream's own test path, imported as a package-style checkout
    (options, data, models, util), agrees with ours, and leaves none of its modules behind."""
    import shutil
    import subprocess
    import sys

    from chainrun import upstream_mirror

    mirror = upstream_mirror("NVIDIA+pix2pixHD")
    if not (mirror / "HEAD").exists() or not shutil.which("git"):
        pytest.skip("the pix2pixHD mirror (or git) is not available here")
    checkout = tmp_path / "pix2pixHD"
    checkout.mkdir()
    archive = subprocess.run(["git", f"--git-dir={mirror}", "archive", "5a2c87201c5957e2bf51d79b8acddb9cc1920b26",
                              "options", "data", "models", "util"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
    patch = pix2pixhd_compare_upstream.__file__.replace("pix2pixhd_compare_upstream.py", "pix2pixhd.patch")
    subprocess.run(["git", "apply", patch], cwd=checkout, check=True, capture_output=True)
    def upstream_names():
        return {name for name in sys.modules if name.split(".")[0] in ("options", "data", "models", "util")}

    before = upstream_names()
    assert pix2pixhd_compare_upstream.main(["--upstream", str(checkout)]) == 0
    out = capsys.readouterr().out
    assert out.count("input identical, max |ours - upstream| 0 (compact 0), uint8 values differing 0 of") == 3
    assert "all 3 frames agree with upstream" in out
    assert upstream_names() == before


def test_seed_diffs_apply_to_upstream(tmp_path):
    """The seed's `patch -p1 < ../pix2pixhd_npu.diff` at 5a2c872 (pix2pixhd.patch is the same file), then
    pix2pixhd_gpu.diff, on the files they touch, taken from the upstream mirror."""
    import re
    import shutil
    import subprocess
    from pathlib import Path

    from chainrun import upstream_mirror

    mirror = upstream_mirror("NVIDIA+pix2pixHD")
    if not (mirror / "HEAD").exists() or not shutil.which("git") or not shutil.which("patch"):
        pytest.skip("the pix2pixHD mirror (or git/patch) is not available here")
    folder = Path(pix2pixhd_data.__file__).resolve().parent
    npu, gpu = folder / "pix2pixhd_npu.diff", folder / "pix2pixhd_gpu.diff"
    assert (folder / "pix2pixhd.patch").resolve() == npu.resolve()
    checkout = tmp_path / "pix2pixHD"
    for path in sorted(set(re.findall(r"^\+\+\+ b/(\S+)", npu.read_text() + gpu.read_text(), re.M))):
        text = subprocess.run(["git", f"--git-dir={mirror}", "show", f"5a2c87201c5957e2bf51d79b8acddb9cc1920b26:{path}"],
                              check=True, capture_output=True).stdout
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_bytes(text)
    for diff in (npu, gpu):
        with open(diff) as handle:
            subprocess.run(["patch", "-p1", "--forward", "--batch"], stdin=handle, cwd=checkout, check=True,
                           capture_output=True)
    options = (checkout / "options" / "test_options.py").read_text()
    assert "--load_pretrain" in options and "--output_file" in options
    model = (checkout / "models" / "pix2pixHD_model.py").read_text()
    assert "torch.cuda.FloatTensor" not in model and "time to generate this image" in model
