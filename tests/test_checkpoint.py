import collections

import pytest
import torch

from common import checkpoint
from common.errors import UserError


class Net(torch.nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = torch.nn.Linear(3, width)
        self.norm = torch.nn.InstanceNorm2d(width)  # no affine, no running stats: no state
        self.bn = torch.nn.BatchNorm1d(width)


def state(seed=0, width=4):
    torch.manual_seed(seed)
    net = Net(width)
    net.bn.running_mean.uniform_()
    return net.state_dict()


class Executes:
    """A pickle payload that would create a file when unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_file_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"G": Executes(marker)}, tmp_path / "evil.pth")
    with pytest.raises(UserError, match=r"evil\.pth: refused, unpickling it would run code"):
        checkpoint.load_file(tmp_path / "evil.pth")
    assert not marker.exists()


def test_load_file_errors(tmp_path):
    with pytest.raises(UserError, match=r"missing\.pth: no such checkpoint file"):
        checkpoint.load_file(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(UserError, match=r"junk\.pth: is a text file \(it starts 'this is not a checkpoint'\), "
                                        r"not a PyTorch checkpoint; expected a \.pth file written by torch\.save"):
        checkpoint.load_file(tmp_path / "junk.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(UserError, match=r"empty\.pth: is an empty file, not a PyTorch checkpoint"):
        checkpoint.load_file(tmp_path / "empty.pth")
    import numpy as np
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(UserError, match=r"array\.npy: is a NumPy \.npy file, not a PyTorch checkpoint"):
        checkpoint.load_file(tmp_path / "array.npy")
    # a zip archive that is not torch's: recognised as a candidate, then refused by torch.load
    import zipfile
    with zipfile.ZipFile(tmp_path / "other.pth", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UserError, match=r"other\.pth: not a readable PyTorch checkpoint \("):
        checkpoint.load_file(tmp_path / "other.pth")


def test_unwrap_containers_and_prefixes(tmp_path):
    sd = state()
    dcgan_like = {"epoch": 200, "arch": "dcgan", "G": {"module." + k: v for k, v in sd.items()}, "D": {}}
    torch.save(dcgan_like, tmp_path / "ckpt.pth")
    out = checkpoint.strip_prefix(checkpoint.unwrap(checkpoint.load_file(tmp_path / "ckpt.pth"), ("G",)))
    assert list(out) == list(sd) and all(torch.equal(out[k], sd[k]) for k in sd)
    read = checkpoint.read_state_dict(tmp_path / "ckpt.pth", ("G",))  # the same in one call
    assert list(read) == list(sd) and all(torch.equal(read[k], sd[k]) for k in sd)
    assert list(checkpoint.read_state_dict(tmp_path / "ckpt.pth", ("G",), prefix="")) == ["module." + k for k in sd]

    nested = {"state_dict": {"model": collections.OrderedDict(sd)}}
    assert list(checkpoint.unwrap(nested, ("state_dict", "model"))) == list(sd)
    assert checkpoint.unwrap(sd, ("G",)) == dict(sd)  # a plain state_dict passes through

    with pytest.raises(UserError, match=r"ck\.pth: expected a state_dict or a container with one of 'G'; "
                                        r"found keys 'epoch', 'weights'"):
        checkpoint.unwrap({"epoch": 1, "weights": {"x": 1}}, ("G",), "ck.pth")
    with pytest.raises(UserError, match=r"expected a state_dict .* found list under G"):
        checkpoint.unwrap({"G": [1, 2]}, ("G",))


def test_load_strict_reports_every_difference_in_one_line():
    model = Net()
    sd = state()
    sd.pop("fc.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["bn.weight"] = torch.zeros(7)
    with pytest.raises(UserError) as err:
        checkpoint.load_strict(model, sd, "g.pth")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("g.pth: does not match Net: ")
    assert "missing 1 key(s): fc.bias" in message
    assert "unexpected 1 key(s): extra.weight" in message
    assert "1 shape mismatch(es) (file vs model): bn.weight (7,) vs (4,)" in message


def test_legacy_instance_norm_keys_are_dropped_only_when_declared():
    model = Net()
    legacy = checkpoint.instance_norm_legacy_keys(model)
    assert legacy == {"norm.running_mean", "norm.running_var", "norm.num_batches_tracked"}
    sd = state(seed=1)
    sd.update({"norm.running_mean": torch.zeros(4), "norm.running_var": torch.ones(4),
               "norm.num_batches_tracked": torch.tensor(0)})
    with pytest.raises(UserError, match="unexpected 3 key"):
        checkpoint.load_strict(Net(), dict(sd))
    dropped = checkpoint.load_strict(model, dict(sd), legacy_keys=legacy)
    assert sorted(dropped) == sorted(legacy)
    assert torch.equal(model.bn.running_mean, sd["bn.running_mean"])


def test_load_into_round_trip(tmp_path):
    sd = state(seed=2)
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, tmp_path / "w.pth")
    model = Net()
    checkpoint.load_into(model, tmp_path / "w.pth")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    torch.save(state(width=5), tmp_path / "wide.pth")
    with pytest.raises(UserError, match=r"wide\.pth: does not match Net: .*fc\.weight \(5, 3\) vs \(4, 3\)"):
        checkpoint.load_into(Net(), tmp_path / "wide.pth")


def test_randomize_weights_sets_every_buffer_reproducibly():
    def build():
        torch.manual_seed(3)
        return checkpoint.randomize_weights(Net())

    a, b = build(), build()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.allclose(a.bn.running_mean, torch.zeros(4)) and not torch.allclose(a.bn.running_var, torch.ones(4))
    assert not torch.allclose(a.bn.weight, torch.ones(4)) and int(a.bn.num_batches_tracked) == 1000
    torch.manual_seed(3)
    default = Net()
    assert torch.allclose(a.fc.weight, default.fc.weight * 3 ** 0.5)


def test_shape_mismatch_leads_and_is_explained(tmp_path):
    """The telling difference first: a DCGAN file for 28-pixel images says so, before any key listing."""
    import dcgan_model
    import GAN_model

    torch.save({"G": dcgan_model.DCGANGenerator(img_size=28).state_dict()}, tmp_path / "dcgan28.pth")
    with pytest.raises(UserError) as err:
        dcgan_model.load_generator(tmp_path / "dcgan28.pth")
    assert str(err.value) == (
        f"{tmp_path / 'dcgan28.pth'}: does not match DCGANGenerator: the file's Linear layer makes a 128x7x7 map: "
        f"a 28x28-pixel generator, this one is 32x32; 2 shape mismatch(es) (file vs model): "
        f"l1.0.weight (6272, 100) vs (8192, 100); l1.0.bias (6272,) vs (8192,)")
    torch.save(GAN_model.GANGenerator(img_shape=(1, 32, 32)).state_dict(), tmp_path / "gan32.pth")
    with pytest.raises(UserError, match=r"gan32\.pth: does not match GANGenerator: the file's last Linear layer "
                                        r"makes 1024 values: a 32x32 single-channel generator, this one is 28x28; "
                                        r"2 shape mismatch\(es\)"):
        GAN_model.load_generator(tmp_path / "gan32.pth")


def test_shape_mismatches_come_before_key_listings():
    class Wide(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(8))
            self.z_last = torch.nn.Linear(2, 3)

    sd = Wide().state_dict()
    sd["z_last.weight"] = torch.zeros(5, 2)
    del sd["layers.0.weight"]
    with pytest.raises(UserError, match=r"does not match Wide: 1 shape mismatch\(es\) \(file vs model\): "
                                        r"z_last\.weight \(5, 2\) vs \(3, 2\); missing 1 key\(s\): layers\.0\.weight$"):
        checkpoint.load_strict(Wide(), sd)
