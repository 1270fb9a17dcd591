"""The mirror-tied net: a drawing and its mirror image get one embedding, and the plain net it
saves as computes the same function."""

import numpy as np
import pytest
import torch

from emojisketch import cli
from emojisketch.checkpoint import load_net
from emojisketch.model import from_net, load_model
from emojisketch.net import DrawingNet, NetConfig
from emojisketch.net_mirror import MirrorNet, PairBN, TiedConv
from emojisketch.training import recalibrate_bn

from test_train import TINY


def _asymmetric_images(n: int = 16) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(n, 1, 28, 28)
    x[:, :, :, :10] = 0.0  # ink on the right only: a mirror image is a different image
    return x


@pytest.fixture(params=[0, 16], ids=["plain", "widened"])
def mirror_net(request):
    torch.manual_seed(0)
    net = MirrorNet(NetConfig(channels=(6, 8, 10), expand=request.param, n_classes=4))
    net = net.to(memory_format=torch.channels_last).train()
    with torch.no_grad():  # batch-norm statistics away from their defaults
        for _ in range(3):
            net(_asymmetric_images())
    return net.eval()


def test_a_drawing_and_its_mirror_image_get_the_same_embedding(mirror_net):
    x = _asymmetric_images()
    with torch.no_grad():
        emb, mirrored = mirror_net.embed(x), mirror_net.embed(x.flip(-1))
        torch.testing.assert_close(mirrored, emb, atol=1e-5, rtol=0)
        # ... while an untied net of the same shape tells them apart
        plain = DrawingNet(mirror_net.config).eval()
        assert (plain.embed(x.flip(-1)) - plain.embed(x)).abs().max() > 1e-3


def test_mirroring_swaps_the_channel_halves_of_a_tied_layer_and_mirrors_them():
    torch.manual_seed(0)
    first, second = TiedConv(1, 6, 3, first=True), TiedConv(6, 4, 3)
    x = _asymmetric_images(2)
    with torch.no_grad():
        y, y_m = second(first(x)), second(first(x.flip(-1)))
    torch.testing.assert_close(y_m, torch.cat([y[:, 2:], y[:, :2]], 1).flip(-1), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="even"):
        TiedConv(6, 5, 3)


def test_the_plain_net_it_saves_as_computes_the_same_and_the_app_embeds_it_alike(mirror_net):
    x = _asymmetric_images()
    plain = mirror_net.to_plain()
    assert type(plain) is DrawingNet
    with torch.no_grad():
        torch.testing.assert_close(plain.embed(x), mirror_net.embed(x), atol=1e-5, rtol=0)
        torch.testing.assert_close(plain(x), mirror_net(x), atol=1e-4, rtol=0)
    app = from_net(plain).embed(x.numpy()[:, 0])  # batch norm folded, as the app runs it
    np.testing.assert_allclose(app, mirror_net.embed(x).detach().numpy(), atol=1e-5)


def test_pair_batch_norm_normalises_both_halves_of_a_pair_with_their_pooled_statistics():
    bn = PairBN(4).train()
    x = torch.randn(8, 4, 5, 5) * torch.tensor([1.0, 2.0, 3.0, 4.0])[None, :, None, None]
    x = x + torch.tensor([0.0, 1.0, 5.0, -1.0])[None, :, None, None]
    y = bn(x)
    pooled = torch.cat([x[:, :2], x[:, 2:]], 0)  # channel c and c + 2 as one
    expect = torch.nn.functional.batch_norm(pooled, None, None, training=True)
    torch.testing.assert_close(torch.cat([y[:, :2], y[:, 2:]], 0), expect, atol=1e-4, rtol=1e-4)
    # recalibration (momentum None) leaves the pooled statistics as the running ones
    bn.reset_running_stats(), setattr(bn, "momentum", None)
    bn(x)
    torch.testing.assert_close(bn.running_mean, pooled.mean((0, 2, 3)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bn.running_var, pooled.var((0, 2, 3)), atol=1e-4, rtol=1e-4)


def test_batch_norm_recalibration_keeps_the_net_mirror_invariant(mirror_net):
    recalibrate_bn(mirror_net, [_asymmetric_images(), _asymmetric_images(8) * 0.5], world=1)
    x = _asymmetric_images()
    with torch.no_grad():
        torch.testing.assert_close(mirror_net.embed(x.flip(-1)), mirror_net.embed(x), atol=1e-5, rtol=0)


def test_train_base_with_tied_weights_saves_a_plain_mirror_invariant_net(tmp_path):
    out = tmp_path / "tied.safetensors"
    args = list(TINY)
    args[args.index("--epochs") + 1] = "1"
    assert cli.main(["train-base", "--out", str(out), *args, "--expand", "12", "--mirror-tied"]) == 0
    net, extra = load_net(out)
    assert "--mirror-tied" in extra["command"] and net.config.expand == 12
    image = _asymmetric_images(1).numpy()[0]
    model = load_model(out)
    d = net.config.embed_dim  # the pooled features after it come in mirror pairs that swap
    np.testing.assert_allclose(model.embed(image[:, :, ::-1])[:, :d], model.embed(image)[:, :d],
                               atol=1e-5)
    # odd widths cannot be paired: a plain message, before any data is read
    assert cli.main(["train-base", "--out", str(tmp_path / "odd.safetensors"), *args,
                     "--channels", "6,9,12", "--mirror-tied"]) == 1
    assert not (tmp_path / "odd.safetensors").exists()
