"""The semi-supervised VAE (M2, M1+M2): the ELBO, the split, the interface."""

from __future__ import annotations

import dataclasses
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate

import bayesdl
import bayesdl.models.vae
from bayesdl.data.splits import labelled_split
from bayesdl.infer.feeding import MixedBatches
from bayesdl.models.m1 import M1
from bayesdl.models.ssvae import SSVAE
from bayesdl.recipes.mnist_ssvae import Candidate
from bayesdl.recipes.mnist_ssvae_baselines import (
    baseline_classifier,
    classifier_gradients,
)


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen)


def _fake_mnist(n_per_class: int = 30, seed: int = 0):
    """Ten easy 'digits': class k lights up the k-th horizontal band."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    x = 0.1 * torch.rand(len(labels), 1, 28, 28, generator=gen)
    for k in range(10):
        rows = slice(2 + 2 * k, 4 + 2 * k)
        x[labels == k, 0, rows, 4:24] += 0.8
    order = torch.randperm(len(labels), generator=gen)
    return x[order].clamp(0, 1), labels[order]


# -- the enumerated ELBO is the sum over the ten labels ----------------------


def _tiny_model(x):
    with pyro.plate("data", len(x)):
        y = pyro.sample("y", dist.Categorical(logits=torch.zeros(10)))
        loc = 0.3 * y.float().unsqueeze(-1) - 1.0
        pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)


_W = torch.tensor(0.1, requires_grad=True)  # makes the loss differentiable


def _tiny_logits(x):
    return torch.stack([x.sum(-1) * (k - 4.5) * _W for k in range(10)], -1)


@config_enumerate
def _tiny_guide(x):
    with pyro.plate("data", len(x)):
        pyro.sample("y", dist.Categorical(logits=_tiny_logits(x)))


def test_enumerated_elbo_equals_the_hand_sum_over_the_ten_labels():
    x = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.1]])
    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
        _tiny_model, _tiny_guide, x
    )
    q = _tiny_logits(x).log_softmax(-1).exp()  # (3, 10)
    by_hand = 0.0
    for k in range(10):
        log_p = (
            math.log(0.1)
            + dist.Normal(0.3 * k - 1.0, 1.0).log_prob(x).sum(-1)
            - q[:, k].log()
        )
        by_hand = by_hand + (q[:, k] * log_p).sum()
    assert torch.allclose(-loss, by_hand, rtol=1e-5, atol=1e-5)


def test_ssvae_unlabelled_elbo_sums_over_labels_for_a_fixed_style():
    """With q(z|x,y) a point mass-like narrow Normal, the enumerated loss
    matches the hand sum over y of q(y|x) [log p(x, y, z) - log q(y, z|x)]."""
    ss = SSVAE(1, 3, latent_dim=2, hidden=8, classifier_hidden=[8])
    x = _images(3)
    pyro.set_rng_seed(0)
    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
        ss.model, ss.guide, x
    )
    # Redo it by hand with the same z draws: z = loc + scale * eps.
    pyro.set_rng_seed(0)
    flat = x.reshape(3, -1)
    logq_y = ss.q_y(flat).logits  # (3, 10), normalised
    ys = torch.arange(10).view(10, 1)
    q_z = ss.q_z(flat, ys)  # batch (10, 3), event 2
    z = q_z.rsample()
    log_p = (
        dist.Normal(0.0, 1.0).log_prob(z).sum(-1)
        + math.log(0.1)
        + ss.p_x(z, ys).log_prob(flat)
    )
    log_q_z = q_z.log_prob(z)
    elbo = (logq_y.exp().T * (log_p - log_q_z - logq_y.T)).sum()
    assert torch.allclose(-loss, elbo, rtol=1e-4)


# -- the labelled split ------------------------------------------------------


def test_split_is_balanced_and_reproducible():
    labels = torch.arange(10).repeat(50)[torch.randperm(500)]
    lab, unlab = labelled_split(labels, 100, seed=3)
    assert torch.bincount(labels[lab], minlength=10).tolist() == [10] * 10
    assert len(lab) + len(unlab) == 500
    assert not set(lab.tolist()) & set(unlab.tolist())
    again, _ = labelled_split(labels, 100, seed=3)
    other, _ = labelled_split(labels, 100, seed=4)
    assert torch.equal(lab, again)
    assert not torch.equal(lab, other)


@pytest.mark.parametrize(
    "num, match",
    [
        (105, "multiple of 10"),
        (0, "positive int"),
        (True, "positive int"),
        (500, "keep some"),
    ],
)
def test_split_refuses_bad_counts(num, match):
    labels = torch.arange(10).repeat(50)
    with pytest.raises(ValueError, match=match):
        labelled_split(labels, num)


def test_mixed_batches_mix_both_kinds():
    x, y = _fake_mnist(20)
    lab, _ = labelled_split(y, 30, seed=0)
    batches = MixedBatches(x, y, lab, batch_size=50, labelled_per_batch=10, seed=0)
    assert len(batches) == math.ceil(170 / 50)
    seen = []
    for xl, yl, xu in batches:
        assert xl.shape == (10, 1, 28, 28) and yl.shape == (10,)
        assert yl.dtype == torch.long and (yl >= 0).all()
        assert xu.shape[1:] == (1, 28, 28)
        seen += [r.numpy().tobytes() for r in xu.flatten(1)]
    assert len(seen) == len(set(seen)) == 170  # every unlabelled image once
    with pytest.raises(ValueError, match="labelled_index"):
        MixedBatches(x, y, torch.arange(len(x)))


# -- the interface ------------------------------------------------------------


@pytest.mark.parametrize("stacked", [False, True])
def test_shapes_and_ranges(stacked):
    features = M1(10, latent_dim=6, hidden=16) if stacked else None
    ss = SSVAE(4, 6, features=features, latent_dim=3, hidden=16, classifier_hidden=[16])
    x, labels = _images(5), torch.tensor([0, 3, 9, 1, 1])
    probs = ss.predict(x)
    assert probs.shape == (1, 5, 10) and not probs.requires_grad
    assert torch.allclose(probs.sum(-1), torch.ones(1, 5), atol=1e-5)
    assert ss.predict(x, num_samples=7).shape == (1, 5, 10)
    loc, scale = ss.encode(x, labels)
    assert loc.shape == scale.shape == (5, 3) and (scale > 0).all()
    assert not loc.requires_grad
    means = ss.generate(y=labels, z=10 * torch.randn(5, 3))
    assert means.shape == (5, 1, 28, 28)
    assert ((means > 0) & (means < 1)).all()
    assert torch.equal(ss.decode(loc, labels), ss.generate(y=labels, z=loc))
    gen, again = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(
        ss.generate(y=labels, generator=gen), ss.generate(y=labels, generator=again)
    )
    assert ss.generate(4, generator=gen).shape == (4, 1, 28, 28)  # labels drawn


def test_the_vocabulary():
    from bayesdl.models import Classifier, Generative, PyroTrained

    ss = SSVAE(4, 6, latent_dim=3, hidden=16, classifier_hidden=[16])
    m1 = M1(10)
    for model in (ss, m1):
        assert isinstance(model, Generative) and isinstance(model, PyroTrained)
    assert isinstance(ss, Classifier)
    assert ss.latent_dim == 3 and m1.latent_dim == 50 and m1.hidden == [500]
    assert isinstance(m1, bayesdl.models.vae.VAE)


def test_m1_is_the_books_vae_with_kingmas_sizes():
    """M1 is a VAE: the same networks and ELBO as VAE(…, (500,), "relu")."""
    from bayesdl.models.vae import VAE

    torch.manual_seed(0)
    m1 = M1(100)
    torch.manual_seed(0)
    vae = VAE(100, 50, (500,), activation="relu")
    assert m1.state_dict().keys() == vae.state_dict().keys()
    for key, value in vae.state_dict().items():
        assert torch.equal(value, m1.state_dict()[key])
    x = _images(4)
    for a, b in zip(m1.encode(x), vae.encode(x), strict=True):
        assert torch.equal(a, b)


def test_old_names_warn_and_still_work():
    ss = SSVAE(4, 6, latent_dim=3, hidden=16, classifier_hidden=[16])
    x, labels = _images(5), torch.tensor([0, 3, 9, 1, 1])
    with pytest.warns(DeprecationWarning, match="predict"):
        probs = ss.classify(x)
    assert probs.shape == (5, 10) and probs.device.type == "cpu"
    assert torch.equal(probs, ss.predict(x)[0])
    with pytest.warns(DeprecationWarning, match="latent_dim"):
        assert ss.z_dim == 3
    with pytest.warns(DeprecationWarning, match="latent_dim"):
        assert SSVAE(4, 6, z_dim=5, hidden=8).latent_dim == 5
    with pytest.warns(DeprecationWarning, match="generate\\(y=labels\\)"):
        assert ss.generate(labels).shape == (5, 1, 28, 28)
    with pytest.warns(DeprecationWarning, match="latent_dim"):
        m1 = M1(10, z_dim=6, hidden=16)
    with pytest.warns(DeprecationWarning, match="latent_dim"):
        assert m1.z_dim == 6


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ss: ss.predict(torch.rand(5, 28, 28)), r"\(N, 1, 28, 28\)"),
        (lambda ss: ss.predict(torch.rand(5, 1, 28, 28) * 2), r"\[0, 1\]"),
        (lambda ss: ss.predict(_images(2), num_samples=0), "num_samples"),
        (lambda ss: ss.encode(_images(3), torch.tensor([1, 2])), "expected 3"),
        (lambda ss: ss.encode(_images(2), torch.tensor([1, 10])), r"0\.\.9"),
        (lambda ss: ss.encode(_images(2)), "needs the labels"),
        (lambda ss: ss.generate(y=torch.tensor([1, -2])), r"0\.\.9"),
        (lambda ss: ss.generate(y=torch.tensor([1, 2]), z=torch.zeros(3, 4)), "shape"),
        (lambda ss: ss.generate(), "needs n"),
        (lambda ss: ss.generate(3, y=torch.tensor([1, 2])), "n >= 1 labels"),
        (lambda ss: ss.decode(torch.zeros(2, 4)), "torch.Tensor"),
        (lambda ss: ss.validate_batch(_images(3), torch.tensor([1, 2])), "expected 3"),
        (lambda ss: ss.validate_batch(_images(2), torch.tensor([1, 12])), r"0\.\.9"),
        (lambda ss: ss.validate_batch(_images(2) * 2), r"\[0, 1\]"),
        (lambda ss: ss.validate_batch(torch.zeros(2, 5)), r"\(N, 784\)"),
        (lambda ss: ss.validate_batch(_images(2), None, _images(2)), "needs labels"),
        (
            lambda ss: ss.validate_batch(torch.full((2, 784), float("nan"))),
            "finite",
        ),
    ],
)
def test_bad_input_is_a_clear_value_error(call, match):
    ss = SSVAE(4, 6, latent_dim=4, hidden=8, classifier_hidden=[8])
    with pytest.raises(ValueError, match=match):
        call(ss)


def test_baseline_has_the_shape_of_the_stacked_classifier():
    net = baseline_classifier(16, 6, [8])
    ss = SSVAE(
        1, 1, features=M1(1, latent_dim=6, hidden=16), hidden=4, classifier_hidden=[8]
    )
    assert net(_images(2)).shape == (2, 10)
    ours = sum(p.numel() for p in ss.classifier.parameters())
    ours += sum(p.numel() for p in ss.features.encoder.parameters())
    ours -= 16 * 6 + 6  # M1's scale head is not part of q(y|x)
    assert sum(p.numel() for p in net.parameters()) == ours


# -- training ----------------------------------------------------------------


def test_a_small_model_beats_chance_on_the_labelled_classes():
    x, y = _fake_mnist(30)
    lab, unlab = labelled_split(y, 50, seed=0)
    ss = SSVAE(len(lab), len(unlab), latent_dim=4, hidden=64, classifier_hidden=[64])
    batches = MixedBatches(x, y, lab, batch_size=50, labelled_per_batch=50, seed=0)
    result = bayesdl.infer.fit_svi(
        ss.model,
        ss.guide,
        data=batches,
        num_epochs=8,
        lr=3e-3,
        loss=TraceEnum_ELBO(max_plate_nesting=1),
        progress=False,
    )
    assert all(math.isfinite(v) for v in result.losses)
    accuracy = (ss.predict(x[unlab])[0].argmax(-1) == y[unlab]).float().mean()
    assert accuracy > 0.5  # chance is 0.1


def test_sampled_labels_train_too():
    x, y = _fake_mnist(10)
    lab, unlab = labelled_split(y, 20, seed=0)
    ss = SSVAE(
        len(lab),
        len(unlab),
        latent_dim=2,
        hidden=16,
        classifier_hidden=[16],
        enumerate_labels=False,
    )
    batches = MixedBatches(x, y, lab, batch_size=40, labelled_per_batch=20, seed=0)
    result = bayesdl.infer.fit_svi(
        ss.model,
        ss.guide,
        data=batches,
        num_epochs=2,
        progress=False,
        loss=TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False),
    )
    assert all(math.isfinite(v) for v in result.losses)


# -- the zoo -------------------------------------------------------------------


def test_zoo_refuses_unsupported_label_counts():
    with pytest.raises(ValueError, match="100, 600, 1000, 3000"):
        bayesdl.zoo.ssvae_mnist(num_labels=50)
    with pytest.raises(ValueError, match="100, 600, 1000, 3000"):
        bayesdl.zoo.ssvae_baseline_mnist(num_labels=True)


@pytest.mark.slow
def test_zoo_smoke_model_trains_caches_and_beats_chance(smoke):
    ss = bayesdl.zoo.ssvae_mnist(num_labels=100)
    assert not ss.training and ss.train_seconds > 0
    assert len(ss.val_accuracy) == bayesdl.zoo.ssvae_settings().m2.num_epochs
    assert float(ss.val_accuracy[-1]) > 0.2  # chance is 0.1
    again = bayesdl.zoo.ssvae_mnist(num_labels=100)
    assert again.train_seconds == ss.train_seconds  # loaded, not retrained
    assert again.features.train_seconds == ss.features.train_seconds > 0
    base = bayesdl.zoo.ssvae_baseline_mnist(num_labels=100)
    assert base(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert base.predict(torch.rand(2, 1, 28, 28)).shape == (1, 2, 10)


@pytest.mark.slow
def test_zoo_serves_m2_without_m1s_entry_or_training(smoke, tmp_path, monkeypatch):
    """The probe's M5: M2's record holds M1's weights and time; M1 is not needed."""
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    ss = bayesdl.zoo.ssvae_mnist(num_labels=100)
    for path in tmp_path.glob("ssvae_m1-*.pt"):
        path.unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("a cached SS-VAE was retrained")

    monkeypatch.setattr(bayesdl.infer.loop, "train_loop", no_training)
    monkeypatch.setattr(bayesdl.data, "load", no_training)
    again = bayesdl.zoo.ssvae_mnist(num_labels=100)
    assert again.features.train_seconds == ss.features.train_seconds
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(again.predict(x), ss.predict(x))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "nan"])
def test_zoo_retrains_an_ssvae_with_a_bad_history(damage, smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    bayesdl.zoo.ssvae_mnist(num_labels=100)
    path = next(tmp_path.glob("ssvae_mnist_100-*.pt"))
    record = torch.load(path, weights_only=True)
    if damage == "missing":
        record["artifact"].pop("val_accuracy")
    else:
        record["artifact"]["val_accuracy"] = torch.tensor([7.5, float("nan")])
    bayesdl.cache.save_atomic(record, path)
    with pytest.warns(RuntimeWarning, match="could not be used"):
        ss = bayesdl.zoo.ssvae_mnist(num_labels=100)
    assert torch.isfinite(ss.val_accuracy).all()


@pytest.mark.slow
def test_ssvae_training_never_reads_the_test_set(smoke, tmp_path, monkeypatch):
    """Issue 19: M1, M2 and both baselines train from a fresh cache with the
    test set's loader replaced by one that raises."""
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    real_load = bayesdl.data.load
    read = []

    def train_split_only(name, split, *args, **kwargs):
        read.append((name, split))
        if split != "train":
            raise AssertionError(f"training read the {name} {split} set")
        return real_load(name, split, *args, **kwargs)

    monkeypatch.setattr(bayesdl.data, "load", train_split_only)
    monkeypatch.setattr(bayesdl.data.store, "load", train_split_only)
    with pytest.raises(AssertionError, match="test set"):  # the guard bites
        bayesdl.data.load("mnist", "test")
    read.clear()
    ss = bayesdl.zoo.ssvae_mnist(num_labels=100)
    bayesdl.zoo.ssvae_mnist(num_labels=100, enumerate_labels=False, num_epochs=1)
    bayesdl.zoo.ssvae_baseline_mnist(num_labels=100)
    bayesdl.zoo.ssvae_m1_classifier_mnist(num_labels=100)
    assert read and set(read) == {("mnist", "train")}  # trained, and from train
    assert len(list(tmp_path.glob("ssvae_*.pt"))) == 5  # M1 too
    assert len(ss.val_accuracy) == bayesdl.zoo.ssvae_settings().m2.num_epochs


def test_ssvae_data_holds_out_a_disjoint_validation_split(smoke):
    settings = bayesdl.zoo.ssvae_settings()
    train_x, train_y = bayesdl.zoo.ssvae_data(settings)
    val_x, val_y = bayesdl.zoo.ssvae_data(settings, "val")
    assert len(train_x) == settings.num_train and len(val_x) == settings.num_val
    train_rows = {r.numpy().tobytes() for r in train_x.flatten(1)}
    val_rows = {r.numpy().tobytes() for r in val_x.flatten(1)}
    assert not train_rows & val_rows
    assert val_y.bincount(minlength=10).min() > 0
    with pytest.raises(ValueError, match="'train' or 'val'"):
        bayesdl.zoo.ssvae_data(settings, "test")


def test_paper_alpha_is_a_tenth_of_n_over_the_labelled_count():
    from bayesdl.recipes.mnist_ssvae import paper_alpha

    assert paper_alpha(50_000, 100) == pytest.approx(50.0)
    assert paper_alpha(50_000, 3000) == pytest.approx(5000 / 3000)
    with pytest.raises(ValueError, match="num_labels"):
        paper_alpha(50_000, 0)


def test_the_chosen_settings_are_among_the_compared_ones():
    settings = bayesdl.zoo.ssvae_settings()
    chosen = Candidate(settings.m2.alpha, settings.m2.code_draws)
    assert chosen in settings.sweep.candidates
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.m2.alpha = 1.0  # frozen: change a copy with dataclasses.replace


def test_mixed_batches_draw_codes_when_given_scales():
    codes = torch.randn(50, 4)
    labels = torch.arange(10).repeat(5)
    lab = torch.arange(10)
    scales = torch.full((50, 4), 0.5)
    plain = MixedBatches(codes, labels, lab, batch_size=20, labelled_per_batch=5)
    noisy = MixedBatches(
        codes, labels, lab, batch_size=20, labelled_per_batch=5, scales=scales
    )
    (xp, yp, up), (xn, yn, un) = next(iter(plain)), next(iter(noisy))
    assert torch.equal(yp, yn)  # the same rows, in the same order
    assert xn.shape == xp.shape and not torch.allclose(xn, xp)
    assert un.shape == up.shape and not torch.allclose(un, up)
    assert (un - up).std() == pytest.approx(0.5, rel=0.3)
    with pytest.raises(ValueError, match="finite"):
        MixedBatches(codes.masked_fill(codes > 2, float("nan")), labels, lab)
    with pytest.raises(ValueError, match="scales must be a positive tensor"):
        MixedBatches(codes, labels, lab, scales=-scales)


# -- the probe's findings (issue 21) -------------------------------------------


@pytest.mark.parametrize("label", [-1, -7])
def test_labels_are_refused_at_the_sampler(label):
    """L5: a negative label is refused when the batches are set up."""
    x, y = _fake_mnist(3)
    y = y.clone()
    y[0] = label
    with pytest.raises(ValueError, match=r"0\.\.9"):
        MixedBatches(x, y, torch.arange(10))


def test_model_and_guide_take_the_batch_on_trust(monkeypatch):
    """Validation at the boundary: no check over the images at every step."""
    from bayesdl import checks

    ss = SSVAE(4, 4, latent_dim=2, hidden=8, classifier_hidden=[8])
    calls = []
    monkeypatch.setattr(checks, "images", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(checks, "labels", lambda *a, **k: calls.append(a))
    batch = (_images(2), torch.tensor([1, 2]), _images(3))
    TraceEnum_ELBO(max_plate_nesting=1).loss(ss.model, ss.guide, *batch)
    assert calls == []


@pytest.mark.parametrize("flag", ["False", 0, None])
def test_enumerate_labels_must_be_a_bool(flag):
    """L8: bool('False') is True; the class refuses anything but a bool."""
    with pytest.raises(ValueError, match="enumerate_labels must be True or False"):
        SSVAE(4, 4, enumerate_labels=flag)


def test_classifier_hidden_must_be_a_list_of_widths():
    """L12."""
    with pytest.raises(ValueError, match="list of layer widths"):
        SSVAE(4, 4, classifier_hidden=500)
    with pytest.raises(ValueError, match="list of layer widths"):
        baseline_classifier(classifier_hidden=500)


def test_images_and_codes_give_the_stacked_model_the_same_loss():
    """L9 without a memo: images pass through M1 at each call, codes as they are;
    after M1's weights change in place, the images' code follows."""
    ss = SSVAE(4, 4, features=M1(8, latent_dim=3, hidden=8), latent_dim=2, hidden=8)
    x, labels = _images(6), torch.tensor([0, 1])
    elbo = TraceEnum_ELBO(max_plate_nesting=1)

    def loss(*batch):
        pyro.set_rng_seed(0)
        return elbo.loss(ss.model, ss.guide, *batch)

    assert loss(x[:2], labels, x[2:]) == pytest.approx(
        loss(ss.code(x[:2]), labels, ss.code(x[2:]))
    )
    before = ss.code(x)
    with torch.no_grad():
        for p in ss.features.parameters():
            p.mul_(3)
    assert not torch.equal(ss.code(x), before)


def test_classifier_gradients_vary_less_when_enumerated():
    pyro.set_rng_seed(0)
    x, y = _fake_mnist(10)
    lab, unlab = labelled_split(y, 20, seed=0)
    ss = SSVAE(len(lab), len(unlab), latent_dim=2, hidden=16, classifier_hidden=[8])
    batch = next(iter(MixedBatches(x, y, lab, batch_size=20, labelled_per_batch=5)))
    draws = {
        flag: classifier_gradients(ss, batch, num_draws=6, enumerate_labels=flag)
        for flag in (True, False)
    }
    weights = sum(p.numel() for p in ss.classifier.parameters())
    assert draws[True].shape == draws[False].shape == (6, weights)
    assert draws[False].var(0).sum() > draws[True].var(0).sum()
    assert ss.enumerate_labels  # restored


def test_images_of_another_float_dtype_reach_the_classifier():
    """L3."""
    ss = SSVAE(4, 4, latent_dim=2, hidden=8, classifier_hidden=[8])
    x = _images(3)
    assert torch.allclose(ss.predict(x.double()), ss.predict(x), atol=1e-6)
