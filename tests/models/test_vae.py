"""The VAE: interface, estimators of the evidence, training, zoo entry."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule

import bayesdl
from bayesdl.models.vae import ACTIVATIONS, VAE, bernoulli_log_likelihood, elbo, iwae


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen)


class TinyVAE:
    """Encoder and decoder in closed form: z in R^1, pixels' logit = a z + b."""

    latent_dim = 1

    def __init__(self) -> None:
        self.a = torch.linspace(-0.2, 0.2, 784).view(1, 1, 28, 28)
        self.b = torch.full((1, 1, 28, 28), 0.1)

    def encode(self, x):
        mean = x.flatten(1).mean(1, keepdim=True)
        return 2 * mean - 1, 0.5 + 0.2 * mean

    def decode(self, z):
        return torch.sigmoid(self.a * z.view(-1, 1, 1, 1) + self.b)


def test_shapes_and_ranges():
    vae = VAE(num_data=100, latent_dim=3, hidden=(32,))
    x = _images(5)
    loc, scale = vae.encode(x)
    assert loc.shape == scale.shape == (5, 3)
    assert (scale > 0).all()
    means = vae.decode(torch.randn(7, 3) * 10)
    assert means.shape == (7, 1, 28, 28)
    assert ((means > 0) & (means < 1)).all()
    new = vae.generate(4)
    assert new.shape == (4, 1, 28, 28)
    assert ((new >= 0) & (new <= 1)).all()
    gen = torch.Generator().manual_seed(3)
    again = torch.Generator().manual_seed(3)
    assert torch.equal(vae.generate(2, generator=gen), vae.generate(2, generator=again))
    z = torch.randn(3, 3)
    assert torch.equal(vae.generate(z=z), vae.decode(z))


def test_the_vocabulary():
    """VAE speaks the protocols of bayesdl.models; reader-facing methods run
    without gradients and answer on the input's device."""
    from bayesdl.models import Classifier, Generative, PyroTrained

    vae = VAE(num_data=100, latent_dim=3, hidden=(8,))
    assert isinstance(vae, Generative) and isinstance(vae, PyroTrained)
    assert not isinstance(vae, Classifier)
    loc, scale = vae.encode(_images(2))
    assert not loc.requires_grad and not scale.requires_grad
    assert not vae.decode(loc).requires_grad
    assert loc.device == _images(2).device
    with pytest.raises(ValueError, match="takes no labels"):
        vae.generate(2, y=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="needs n"):
        vae.generate()


def test_sample_is_a_deprecated_alias_of_generate():
    vae = VAE(num_data=100, latent_dim=3, hidden=(8,))
    gen, again = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    with pytest.warns(DeprecationWarning, match="generate"):
        old = vae.sample(2, generator=gen)
    assert torch.equal(old, vae.generate(2, generator=again))


def test_model_and_guide_check_nothing_per_step_but_validate_batch_does(
    monkeypatch,
):
    """Validation at the boundary: model and guide take the batch on trust
    (no reduction over the images per step); validate_batch refuses it."""
    from bayesdl import checks

    vae = VAE(num_data=4, latent_dim=2, hidden=(8,))
    calls = []
    monkeypatch.setattr(checks, "images", lambda *a, **k: calls.append(a))
    pyro.infer.TraceMeanField_ELBO().loss(vae.model, vae.guide, _images(3))
    assert calls == []
    monkeypatch.undo()
    with pytest.raises(ValueError, match="larger than the training set"):
        vae.validate_batch(_images(5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.validate_batch(_images(3) * 2)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(5, 28, 28), r"shape \(N, 1, 28, 28\)"),
        (torch.rand(5, 1, 28, 28) * 2, r"\[0, 1\]"),
        ((torch.rand(5, 1, 28, 28) * 255).to(torch.uint8), "floating point"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_images_are_refused(bad, match):
    vae = VAE(num_data=100, latent_dim=3, hidden=(16,))
    with pytest.raises(ValueError, match=match):
        vae.encode(bad)
    with pytest.raises(ValueError, match=match):
        vae.validate_batch(bad)
    with pytest.raises(ValueError, match=match):
        elbo(vae, bad)
    with pytest.raises(ValueError, match=match):
        iwae(vae, bad, k=2)


def test_bad_arguments_are_refused():
    vae = VAE(num_data=100, latent_dim=3, hidden=(16,))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        vae.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        vae.decode(torch.zeros(3))
    with pytest.raises(ValueError, match="floating-point"):
        vae.decode(torch.zeros(2, 3, dtype=torch.long))
    for n in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="n must be a positive int"):
            vae.generate(n)
    with pytest.raises(ValueError, match="k must be a positive int"):
        iwae(vae, _images(2), k=0)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        elbo(vae, _images(2), num_samples=0)
    with pytest.raises(ValueError, match="num_data must be a positive int"):
        VAE(num_data=0)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        VAE(num_data=10, latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        VAE(num_data=10, hidden=())
    with pytest.raises(ValueError, match="activation must be one of 'elu', 'relu'"):
        VAE(num_data=10, activation="gelu")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_builds_the_same_shapes(name):
    vae = VAE(num_data=10, latent_dim=2, hidden=(8, 4), activation=name)
    assert isinstance(vae.encoder.layers[1], ACTIVATIONS[name])
    assert [
        m.out_features for m in vae.encoder.layers if isinstance(m, torch.nn.Linear)
    ] == [8, 4, 4]
    assert [
        m.out_features for m in vae.decoder.layers if isinstance(m, torch.nn.Linear)
    ] == [4, 8, 784]
    assert vae.encode(_images(3))[0].shape == (3, 2)


def test_encoder_and_decoder_are_pyro_modules_of_plain_layers():
    vae = VAE(num_data=10, latent_dim=2, hidden=(8,))
    assert isinstance(vae.encoder, PyroModule) and isinstance(vae.decoder, PyroModule)
    layers = list(vae.encoder.layers) + list(vae.decoder.layers)
    assert not any(isinstance(m, PyroModule) for m in layers)
    # The torch optimiser of fit_svi reaches every weight through the module.
    elbo_module = pyro.infer.TraceMeanField_ELBO()(vae.model, vae.guide)
    with pyro.poutine.trace(param_only=True) as capture:
        elbo_module(_images(4))
    found = {id(p) for p in bayesdl.infer.svi._parameters(elbo_module, capture.trace)}
    assert found == {id(p) for p in vae.parameters()}


def test_elbo_agrees_with_a_hand_computation():
    """ELBO = E_q[log p(x|z)] - KL, computed here by quadrature on z in R^1."""
    vae = TinyVAE()
    x = _images(3)
    loc, scale = vae.encode(x)
    # Gauss-Hermite quadrature of E_q[log p(x | z)], exact for this smooth 1-d z.
    nodes, weights = (
        torch.from_numpy(a).float() for a in np.polynomial.hermite_e.hermegauss(60)
    )
    weights = weights / weights.sum()
    z = loc + scale * nodes  # (3, 60)
    ll = torch.stack(
        [
            dist.Bernoulli(vae.decode(z[:, j : j + 1]), validate_args=False)
            .log_prob(x)
            .flatten(1)
            .sum(1)
            for j in range(len(nodes))
        ],
        dim=1,
    )
    expected_ll = (ll * weights).sum(1)
    kl = (-scale.log() + (scale**2 + loc**2) / 2 - 0.5).sum(1)  # KL(q || N(0, 1))
    hand = (expected_ll - kl).float()
    torch.manual_seed(0)
    estimate = elbo(vae, x, num_samples=4000)
    assert torch.allclose(estimate, hand, atol=0.3), (estimate, hand)


def test_elbo_matches_pyros_trace_mean_field_elbo():
    """Pyro's loss on the model and guide is -(N/B) times the summed ELBO."""
    vae = VAE(num_data=50, latent_dim=2, hidden=(8,))
    x = _images(10)
    torch.manual_seed(1)
    ours = elbo(vae, x, num_samples=1).sum()
    torch.manual_seed(1)
    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(vae.model, vae.guide, x)
    assert torch.allclose(-loss, ours * 50 / 10, rtol=1e-4)


def test_log_likelihood_from_means_matches_logits():
    vae = VAE(num_data=10, latent_dim=2, hidden=(8,))

    class MeansOnly:
        encode = vae.encode
        decode = vae.decode

    z, x = torch.randn(4, 2), _images(4)
    exact = bernoulli_log_likelihood(vae, z, x)
    approx = bernoulli_log_likelihood(MeansOnly(), z, x)
    assert torch.allclose(exact, approx, rtol=1e-4)


def test_iwae_equals_elbo_at_k1_and_exceeds_it_on_average():
    vae = VAE(num_data=10, latent_dim=2, hidden=(16,))
    x = _images(20)
    with torch.no_grad():
        torch.manual_seed(5)
        one = iwae(vae, x, k=1)
        torch.manual_seed(5)
        # IWAE at k = 1 is log p(x|z) + log p(z) - log q(z|x) at one draw;
        # its mean over many draws is the ELBO.
        draws = torch.stack([iwae(vae, x, k=1) for _ in range(400)])
        reference = elbo(vae, x, num_samples=400)
        assert one.shape == (20,)
        error = draws.std(0) / math.sqrt(len(draws))
        assert ((draws.mean(0) - reference).abs() < 5 * error + 0.05).all()
        bound = torch.stack([iwae(vae, x, k=32) for _ in range(20)]).mean(0)
    assert (bound >= reference - 0.05).all()
    assert bound.mean() > reference.mean()


def test_iwae_works_for_any_vae_like_object():
    with torch.no_grad():
        value = iwae(TinyVAE(), _images(3), k=8)
    assert value.shape == (3,) and torch.isfinite(value).all()


def test_model_scales_the_likelihood_to_the_data_set():
    vae = VAE(num_data=1000, latent_dim=2, hidden=(8,))
    trace = pyro.poutine.trace(vae.model).get_trace(_images(10))
    assert trace.nodes["x"]["scale"] == pytest.approx(100.0)
    assert trace.nodes["z"]["scale"] == pytest.approx(100.0)


@pytest.mark.slow
def test_a_small_vae_improves_its_elbo():
    images, _ = bayesdl.data.load("fashion_mnist", "train")
    x, held_out = images[:512], images[512:768]
    vae = VAE(num_data=len(x), latent_dim=4, hidden=(64,))
    with torch.no_grad():
        before = float(elbo(vae, held_out).mean())
    result = bayesdl.infer.fit_svi(
        vae.model,
        vae.guide,
        data=(x,),
        batch_size=64,
        num_epochs=8,
        lr=3e-3,
        loss=pyro.infer.TraceMeanField_ELBO(),
    )
    with torch.no_grad():
        after = float(elbo(vae, held_out).mean())
    assert after > before + 100, (before, after)
    assert len(result.losses) == 64 and all(math.isfinite(v) for v in result.losses)


def test_state_dict_round_trip_reproduces_encode():
    vae = VAE(num_data=10, latent_dim=3, hidden=(16,))
    copy = VAE(num_data=10, latent_dim=3, hidden=(16,))
    copy.load_state_dict(vae.state_dict())
    x = _images(4)
    for a, b in zip(vae.encode(x), copy.encode(x), strict=True):
        assert torch.equal(a, b)
    z = torch.randn(2, 3)
    assert torch.equal(vae.decode(z), copy.decode(z))


@pytest.mark.slow
def test_zoo_vae_trains_then_loads(smoke):
    first = bayesdl.zoo.vae_fashion_mnist()
    settings = bayesdl.zoo.vae_settings()
    assert first.latent_dim == settings.latent_dim
    epochs = settings.num_epochs
    assert len(first.val_elbo) == len(first.train_elbo) == epochs
    assert len(first.train_eval_elbo) == epochs
    # the training subset is scored after the epoch as validation is: at
    # the end, the same estimator on the first num_val training images
    train_x, _ = bayesdl.zoo.vae_data(settings)
    with torch.no_grad():
        again = elbo(first, train_x[: settings.num_val], num_samples=20).mean()
    assert abs(float(again) - float(first.train_eval_elbo[-1])) < 2.0
    assert first.train_seconds > 0
    second = bayesdl.zoo.vae_fashion_mnist()
    assert second.train_seconds == first.train_seconds
    x, _ = bayesdl.data.load("fashion_mnist", "test")
    for a, b in zip(first.encode(x[:8]), second.encode(x[:8]), strict=True):
        assert torch.equal(a, b)
    assert "vae_fashion_mnist" in bayesdl.zoo.REGISTRY
    # The probe's M4: a record without its per-epoch history, or with a
    # history that is not a finite float tensor, is retrained, not served.
    path = next(bayesdl.config.cache_dir().glob("vae_fashion_mnist-*.pt"))
    for change in (lambda a: a.pop("train_elbo"), lambda a: a.update(val_elbo="hello")):
        record = torch.load(path, weights_only=True)
        change(record["artifact"])
        bayesdl.cache.save_atomic(record, path)
        with pytest.warns(RuntimeWarning, match="could not be used"):
            third = bayesdl.zoo.vae_fashion_mnist()
        assert torch.isfinite(third.val_elbo).all()


def test_vae_variant_names_are_checked(smoke):
    with pytest.raises(ValueError, match="variant must be one of 'geometric'"):
        bayesdl.zoo.vae_fashion_mnist_variant(variant="cosine")


def test_vae_data_is_disjoint_from_validation(smoke):
    settings = bayesdl.zoo.vae_settings()
    train, val = bayesdl.zoo.vae_data(settings)
    assert len(train) == settings.num_train and len(val) == settings.num_val
    flat_t, flat_v = train.flatten(1), val.flatten(1)
    overlap = (torch.cdist(flat_v[:50], flat_t) == 0).any()
    assert not overlap


def test_latent_map_plots_classes_and_refuses_bad_codes():
    codes, labels = torch.randn(30, 2), torch.arange(30) % 3
    ax = bayesdl.plots.latent_map(codes, labels, ["a", "b", "c"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        bayesdl.plots.latent_map(torch.randn(30, 3), labels)
    with pytest.raises(ValueError, match="labels"):
        bayesdl.plots.latent_map(codes, labels + 5, ["a", "b", "c"])


def test_vae_data_and_fit_check_their_settings_and_seed(smoke):
    """The probe's L10."""
    settings = bayesdl.zoo.vae_settings()
    with pytest.raises(ValueError, match="more than the 60000"):
        bayesdl.zoo.vae_data(replace(settings, num_val=5000, num_train=60000))
    with pytest.raises(ValueError, match="num_train"):
        bayesdl.zoo.vae_data(replace(settings, num_train=-5))
    with pytest.raises(ValueError, match="num_val"):
        bayesdl.zoo.vae_data(replace(settings, num_val=0))
    with pytest.raises(ValueError, match="settings must be a VAESettings"):
        bayesdl.zoo.vae_data([("num_val", 5)])
    with pytest.raises(ValueError, match="dataclasses.replace"):
        bayesdl.zoo.vae_untrained({"num_train": 10})
    vae = bayesdl.zoo.vae_untrained(settings)
    with pytest.raises(ValueError, match="seed"):
        bayesdl.zoo.vae_fit(vae, torch.rand(8, 1, 28, 28), settings, seed=-1)


# -- the probe's findings (issue 21) -------------------------------------------


def test_images_of_another_float_dtype_are_converted_not_crashed():
    """L3: float64 and float16 images reach the float32 networks as float32."""
    vae = VAE(100, 4, [16])
    x = torch.rand(3, 1, 28, 28)
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        loc, _ = vae.encode(x.to(dtype))
        assert loc.dtype == torch.float32
        assert torch.allclose(loc, vae.encode(x)[0], atol=1e-2)
    with torch.no_grad():
        assert iwae(vae, x.double(), 2).shape == (3,)
        assert elbo(vae, x.half()).shape == (3,)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_decode_refuses_non_finite_codes(value):
    """L4: NaN or infinite codes are refused, not decoded to NaN images."""
    vae = VAE(100, 4, [16])
    z = torch.zeros(3, 4)
    z[1, 2] = value
    for fn in (vae.decode, vae.decode_logits):
        with pytest.raises(ValueError, match="finite"):
            fn(z)


def test_decode_refuses_codes_too_large_to_decode():
    vae = VAE(100, 4, [16])
    with torch.no_grad():
        for p in vae.decoder.parameters():
            p.fill_(1.0)
    with pytest.raises(ValueError, match="prior's size"):
        vae.decode(torch.full((2, 4), 1e38))


def test_a_batch_larger_than_the_training_set_is_refused():
    """L6: the plate would scale the ELBO by num_data / batch < 1."""
    vae = VAE(num_data=4, latent_dim=2, hidden=[8])
    with pytest.raises(ValueError, match="larger than the training set"):
        bayesdl.infer.fit_svi(
            vae.model,
            vae.guide,
            data=(torch.rand(10, 1, 28, 28),),
            batch_size=10,
            num_epochs=1,
        )


@pytest.mark.parametrize("hidden", [64, "64", None])
def test_hidden_must_be_a_list_of_widths(hidden):
    """L12: VAE(10, 2, 64) says what it expects instead of 'int is not iterable'."""
    with pytest.raises(ValueError, match=r"list of layer widths"):
        VAE(10, 2, hidden)
