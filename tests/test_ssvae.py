"""The semi-supervised VAE (M2, M1+M2): the ELBO, the split, the interface."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate

import bayesdl
from bayesdl.models.ssvae import (
    M1,
    SSVAE,
    MixedBatches,
    baseline_classifier,
    labelled_split,
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
    ss = SSVAE(1, 3, z_dim=2, hidden=8, classifier_hidden=[8])
    x = _images(3)
    pyro.set_rng_seed(0)
    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
        ss.model, ss.guide, x
    )
    # Redo it by hand with the same z draws: z = loc + scale * eps.
    pyro.set_rng_seed(0)
    flat = x.reshape(3, -1)
    logq_y = ss.classifier_logits(flat).log_softmax(-1)  # (3, 10)
    ys = torch.arange(10).view(10, 1)
    loc, scale = ss.style_posterior(flat, ys)  # (10, 3, 2)
    eps = torch.randn(10, 3, 2)
    z = loc + scale * eps
    log_p = (
        dist.Normal(0.0, 1.0).log_prob(z).sum(-1)
        + math.log(0.1)
        + ss.likelihood(z, ys).log_prob(flat)
    )
    log_q_z = dist.Normal(loc, scale).log_prob(z).sum(-1)
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
    seen = 0
    for xb, yb in batches:
        assert xb.shape[1:] == (1, 28, 28) and len(xb) == len(yb)
        assert (yb[:10] >= 0).all() and (yb[10:] == -1).all()
        seen += int((yb == -1).sum())
    assert seen == 170  # every unlabelled image once per epoch
    with pytest.raises(ValueError, match="labelled_index"):
        MixedBatches(x, y, torch.arange(len(x)))


# -- the interface ------------------------------------------------------------


@pytest.mark.parametrize("stacked", [False, True])
def test_shapes_and_ranges(stacked):
    features = M1(10, z_dim=6, hidden=16) if stacked else None
    ss = SSVAE(4, 6, features=features, z_dim=3, hidden=16, classifier_hidden=[16])
    x, labels = _images(5), torch.tensor([0, 3, 9, 1, 1])
    probs = ss.classify(x)
    assert probs.shape == (5, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(5), atol=1e-5)
    loc, scale = ss.encode(x, labels)
    assert loc.shape == scale.shape == (5, 3) and (scale > 0).all()
    means = ss.generate(labels, 10 * torch.randn(5, 3))
    assert means.shape == (5, 1, 28, 28)
    assert ((means > 0) & (means < 1)).all()
    gen, again = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(
        ss.generate(labels, generator=gen), ss.generate(labels, generator=again)
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ss: ss.classify(torch.rand(5, 28, 28)), r"\(N, 1, 28, 28\)"),
        (lambda ss: ss.classify(torch.rand(5, 1, 28, 28) * 2), r"\[0, 1\]"),
        (lambda ss: ss.encode(_images(3), torch.tensor([1, 2])), "expected 3"),
        (lambda ss: ss.encode(_images(2), torch.tensor([1, 10])), r"0\.\.9"),
        (lambda ss: ss.generate(torch.tensor([1, -2])), r"0\.\.9"),
        (lambda ss: ss.generate(torch.tensor([1, 2]), torch.zeros(3, 4)), "shape"),
        (lambda ss: ss.model(_images(3), torch.tensor([1, 2])), "expected 3"),
        (lambda ss: ss.guide(_images(2), torch.tensor([1, 12])), r"0\.\.9"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, match):
    ss = SSVAE(4, 6, z_dim=4, hidden=8, classifier_hidden=[8])
    with pytest.raises(ValueError, match=match):
        call(ss)


def test_baseline_has_the_shape_of_the_stacked_classifier():
    net = baseline_classifier(16, 6, [8])
    ss = SSVAE(
        1, 1, features=M1(1, z_dim=6, hidden=16), hidden=4, classifier_hidden=[8]
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
    ss = SSVAE(len(lab), len(unlab), z_dim=4, hidden=64, classifier_hidden=[64])
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
    accuracy = (ss.classify(x[unlab]).argmax(-1) == y[unlab]).float().mean()
    assert accuracy > 0.5  # chance is 0.1


def test_sampled_labels_train_too():
    x, y = _fake_mnist(10)
    lab, unlab = labelled_split(y, 20, seed=0)
    ss = SSVAE(
        len(lab),
        len(unlab),
        z_dim=2,
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
    assert len(ss.val_accuracy) == bayesdl.zoo.ssvae_settings()["m2"]["num_epochs"]
    assert float(ss.val_accuracy[-1]) > 0.2  # chance is 0.1
    again = bayesdl.zoo.ssvae_mnist(num_labels=100)
    assert again.train_seconds == ss.train_seconds  # loaded, not retrained
    assert again.features.train_seconds == ss.features.train_seconds > 0
    base = bayesdl.zoo.ssvae_baseline_mnist(num_labels=100)
    assert base(torch.rand(2, 1, 28, 28)).shape == (2, 10)


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
    assert torch.equal(again.classify(x), ss.classify(x))


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
    assert len(ss.val_accuracy) == bayesdl.zoo.ssvae_settings()["m2"]["num_epochs"]


def test_ssvae_data_holds_out_a_disjoint_validation_split(smoke):
    settings = bayesdl.zoo.ssvae_settings()
    train_x, train_y = bayesdl.zoo.ssvae_data(settings)
    val_x, val_y = bayesdl.zoo.ssvae_data(settings, "val")
    assert len(train_x) == settings["num_train"] and len(val_x) == settings["num_val"]
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
    chosen = {k: settings["m2"][k] for k in ("alpha", "code_draws")}
    assert chosen in settings["sweep"]["candidates"]


def test_mixed_batches_draw_codes_when_given_scales():
    codes = torch.randn(50, 4)
    labels = torch.arange(10).repeat(5)
    lab = torch.arange(10)
    scales = torch.full((50, 4), 0.5)
    plain = MixedBatches(codes, labels, lab, batch_size=20, labelled_per_batch=5)
    noisy = MixedBatches(
        codes, labels, lab, batch_size=20, labelled_per_batch=5, scales=scales
    )
    (xp, yp), (xn, yn) = next(iter(plain)), next(iter(noisy))
    assert torch.equal(yp, yn)  # the same rows, in the same order
    assert xn.shape == xp.shape and not torch.allclose(xn, xp)
    assert (xn - xp).std() == pytest.approx(0.5, rel=0.3)
    with pytest.raises(ValueError, match="scales must be a positive tensor"):
        MixedBatches(codes, labels, lab, scales=-scales)


# -- the probe's findings (issue 21) -------------------------------------------


@pytest.mark.parametrize("label", [-2, -7])
def test_only_minus_one_marks_a_missing_label(label):
    """L5: -2 or -7 are refused, not taken for 'missing'."""
    ss = SSVAE(4, 4, z_dim=2, hidden=8, classifier_hidden=[8])
    x = _images(6)
    labels = torch.tensor([0, 1, 2, label, -1, -1])
    with pytest.raises(ValueError, match="-1 for a missing label"):
        TraceEnum_ELBO(max_plate_nesting=1).loss(ss.model, ss.guide, x, labels)


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


def test_the_batch_memo_follows_m1s_weights():
    """L9: after M1's weights change in place, the code is computed afresh."""
    ss = SSVAE(4, 4, features=M1(8, z_dim=3, hidden=8), z_dim=2, hidden=8)
    x, labels = _images(6), torch.tensor([0, 1, -1, -1, -1, -1])
    before = ss._split(x, labels)
    assert ss._split(x, labels) is before  # the same step: memoised
    with torch.no_grad():
        for p in ss.features.parameters():
            p.mul_(3)
    after = ss._split(x, labels)
    assert not torch.equal(after[0], before[0])
    assert torch.equal(after[0], ss._split_new(x, labels)[0])


def test_images_of_another_float_dtype_reach_the_classifier():
    """L3."""
    ss = SSVAE(4, 4, z_dim=2, hidden=8, classifier_hidden=[8])
    x = _images(3)
    assert torch.allclose(ss.classify(x.double()), ss.classify(x), atol=1e-6)
