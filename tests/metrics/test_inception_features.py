"""The FID Inception: architecture, pt_inception state-dict loading, preprocessing, and the shipped TorchScript."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics import (
    FIDInceptionV3,
    InceptionFeatureExtractor,
    default_inception_path,
    fid_kid,
    state_dict_from_fid_helper,
)
from medtranslate.metrics.features import file_sha256


@pytest.fixture(scope="module")
def pt_inception_file(tmp_path_factory):
    """A state dict laid out like pytorch-fid's pt_inception file (random weights, with the unused fc classifier)."""
    torch.manual_seed(0)
    net = FIDInceptionV3(dims=(64, 192, 768, 2048))
    sd = net.state_dict()
    sd["fc.weight"] = torch.zeros(1008, 2048)
    sd["fc.bias"] = torch.zeros(1008)
    path = tmp_path_factory.mktemp("weights") / "pt_inception-test.pth"
    torch.save(sd, path)
    return path, net.eval()


def test_architecture_feature_shapes_and_parameter_count():
    net = FIDInceptionV3(dims=(2048, 64, 768, 192)).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 80, 80) * 2 - 1)  # features do not depend on the spatial size
    assert {d: tuple(v.shape) for d, v in out.items()} == {64: (2, 64), 192: (2, 192), 768: (2, 768), 2048: (2, 2048)}
    assert sum(p.numel() for p in net.parameters()) == 21_785_568  # torchvision inception_v3 without fc / aux
    with pytest.raises(ValueError):
        FIDInceptionV3(dims=(100,))


def test_pt_inception_state_dict_loads_with_weights_only(pt_inception_file):
    path, net = pt_inception_file
    ex = InceptionFeatureExtractor(path, dims=(192, 64), batch_size=1)  # shallow blocks keep the test fast
    assert ex.kind == "pt_inception" and ex.dims == (192, 64)
    images = torch.rand(2, 1, 40, 50)
    feats = ex.extract(images, data_range=(0.0, 1.0))
    x = ex.preprocess(images, data_range=(0.0, 1.0))
    with torch.no_grad():
        ref = net(x)
    for d in (64, 192):
        assert feats[d].shape == (2, d)
        torch.testing.assert_close(feats[d], ref[d], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ex(images, (0.0, 1.0)), feats[192])
    info = ex.info(2048).to_dict()
    assert info["dims"] == 2048 and info["sha256"] == file_sha256(path) and info["path"] == str(path)
    assert "pt_inception" in info["name"] and "Mixed_7c" in info["layer"]


def test_preprocessing_grayscale_range_and_size(pt_inception_file):
    ex = InceptionFeatureExtractor(pt_inception_file[0], dims=64)
    black_white = torch.stack([torch.zeros(20, 30), torch.full((20, 30), 255.0)])  # (N, H, W) grayscale
    x = ex.preprocess(black_white, data_range=(0, 255))
    assert x.shape == (2, 3, 299, 299)
    torch.testing.assert_close(x[0], torch.full_like(x[0], -1.0))  # pytorch-fid's 2x - 1
    torch.testing.assert_close(x[1], torch.full_like(x[1], 1.0))
    clipped = ex.preprocess(torch.full((1, 3, 8, 8), 2.0), data_range=(-1, 1))
    torch.testing.assert_close(clipped, torch.ones_like(clipped))
    mixed = ex.preprocess([torch.rand(10, 12), torch.rand(3, 7, 9)], data_range=(0, 1))  # list of different sizes
    assert mixed.shape == (2, 3, 299, 299)
    assert torch.equal(mixed[0, 0], mixed[0, 2])  # grayscale repeated to 3 channels


def test_bad_inputs_and_files(pt_inception_file, tmp_path):
    ex = InceptionFeatureExtractor(pt_inception_file[0], dims=64)
    with pytest.raises(InputError, match="channels"):
        ex.preprocess(torch.rand(2, 2, 8, 8), (0, 1))
    with pytest.raises(ConfigError):
        ex.preprocess(torch.rand(2, 1, 8, 8), (1, 1))
    with pytest.raises(ConfigError):
        InceptionFeatureExtractor(pt_inception_file[0], dims=512)
    missing = tmp_path / "nope.pth"
    with pytest.raises(InputError, match="nope.pth"):
        InceptionFeatureExtractor(missing)
    partial = tmp_path / "partial.pth"
    sd = torch.load(pt_inception_file[0], weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("Mixed_7c")}, partial)
    with pytest.raises(InputError, match="partial.pth: not a pytorch-fid pt_inception state dict"):
        InceptionFeatureExtractor(partial)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pth"):
        InceptionFeatureExtractor(junk)


def test_fid_kid_entries_record_the_network(pt_inception_file):
    path, _ = pt_inception_file
    ex = InceptionFeatureExtractor(path, dims=(64, 192))  # the paper's 768/2048 need a 2048^2 sqrtm: too slow here
    torch.manual_seed(1)
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 3, 32, 32) * 2 - 1
    kw = {"fid_dims": (64, 192), "kid_dims": 192, "kid_subsets": 5}
    res = fid_kid(real, fake, ex, data_range=(0, 1), generated_data_range=(-1, 1), **kw)
    assert set(res) == {"FID64", "FID192", "KID192"}
    for key, dims in (("FID64", 64), ("FID192", 192), ("KID192", 192)):
        net = res[key]["feature_network"]
        assert net["dims"] == dims and net["sha256"] == ex.sha256
        assert res[key]["n_real"] == 4 and res[key]["n_generated"] == 4
    # the values, by hand from the same features: FID with numpy (unbiased covariances, Tr sqrt from the
    # eigenvalues of S_g S_r); KID: every subset holds all 4 images, so it is the unbiased MMD^2 of the full sets
    feats_real, feats_fake = ex.extract(real, (0, 1)), ex.extract(fake, (-1, 1))
    for dims in (64, 192):
        r, g = feats_real[dims].double().numpy(), feats_fake[dims].double().numpy()
        s_r, s_g = np.cov(r, rowvar=False), np.cov(g, rowvar=False)
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s_g @ s_r).real, 0, None)).sum()
        fid = np.sum((g.mean(0) - r.mean(0)) ** 2) + np.trace(s_g) + np.trace(s_r) - 2 * tr_sqrt
        assert res[f"FID{dims}"]["value"] == pytest.approx(fid, rel=1e-5), dims
    r, g = feats_real[192].double().numpy(), feats_fake[192].double().numpy()
    k = {(a, b): (x @ y.T / 192 + 1) ** 3 for (a, x), (b, y) in itertools.product((("g", g), ("r", r)), repeat=2)}
    mmd = (
        (k["g", "g"].sum() - np.trace(k["g", "g"])) / 12
        + (k["r", "r"].sum() - np.trace(k["r", "r"])) / 12
        - 2 * k["g", "r"].mean()
    )
    assert res["KID192"]["value"] == pytest.approx(mmd, rel=1e-6, abs=1e-9) and res["KID192"]["std"] < 1e-9
    assert res["KID192"]["subset_size"] == 4
    with pytest.raises(ConfigError, match="dims"):
        fid_kid(real, fake, ex, data_range=(0, 1))  # the default 768 / 2048 were not built


def test_default_network_is_the_local_fid_helper_torchscript():
    path = default_inception_path()
    assert path.name == "default_1.pt" and path.is_file()


@pytest.mark.slow
def test_torchscript_features_and_identical_native_architecture():
    """The shipped TorchScript gives 64/192/768/2048-d features; its weights in FIDInceptionV3 give the same ones."""
    ex = InceptionFeatureExtractor(dims=(64, 192, 768, 2048))
    assert ex.kind == "torchscript" and ex.input_range == (-1.0, 0.9921875)
    info = ex.info(768)
    assert info.sha256 == file_sha256(default_inception_path()) and "mixed_7" in info.layer
    torch.manual_seed(2)
    images = torch.rand(2, 1, 299, 299)
    feats = ex.extract(images, data_range=(0, 1))
    assert {d: tuple(v.shape) for d, v in feats.items()} == {64: (2, 64), 192: (2, 192), 768: (2, 768), 2048: (2, 2048)}
    net = FIDInceptionV3(dims=(64, 192, 768, 2048))
    net.load_state_dict(state_dict_from_fid_helper(torch.jit.load(str(ex.path))), strict=True)
    with torch.no_grad():
        native = net.eval()(ex.preprocess(images, data_range=(0, 1)))
    for d in feats:
        torch.testing.assert_close(native[d], feats[d], rtol=1e-4, atol=1e-4)
    assert feats[2048].min() >= 0  # post-ReLU mean pool
