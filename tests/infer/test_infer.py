"""Inference: fit_svi (history, NaN guard, module-local parameters) and run_nuts."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from torch.distributions import constraints

import bayesdl
from bayesdl.infer import DivergenceError, fit_svi, progress_enabled, run_nuts
from bayesdl.models.regression import BayesianLinearRegression


def normal_mean_model(y):
    """A conjugate toy: mu ~ N(0, 1), y_i ~ N(mu, 1)."""
    mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(y)):
        pyro.sample("obs", dist.Normal(mu, 1.0), obs=y)


def normal_mean_guide(y):
    loc = pyro.param("loc", torch.tensor(0.0))
    scale = pyro.param("scale", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("mu", dist.Normal(loc, scale))


def test_fit_svi_history_and_exact_answer():
    y = torch.full((9,), 2.0)
    result = fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=1500, lr=0.02)
    assert len(result.losses) == result.steps == 1500
    assert result.seconds > 0
    assert result.final_loss < sum(result.losses[:50]) / 50
    # Exact posterior: N(sum(y) / (n + 1), 1 / (n + 1)).
    assert pyro.param("loc").item() == pytest.approx(1.8, abs=0.05)
    assert pyro.param("scale").item() == pytest.approx(math.sqrt(0.1), abs=0.05)


@pytest.mark.parametrize("guide_class", [AutoNormal, AutoMultivariateNormal])
def test_fit_svi_trains_module_local_autoguides(guide_class):
    """bayesdl.setup turns on module_local_params; fit_svi must still train."""
    assert pyro.settings.get("module_local_params")
    x, y = bayesdl.data.toy_regression(n=50, seed=0)
    model = BayesianLinearRegression(prior_scale=10.0, noise_scale=0.5)
    guide = guide_class(model)
    result = fit_svi(model, guide, x - x.mean(), y, num_steps=600, lr=0.1)
    assert result.final_loss < result.losses[0] / 10
    assert len(pyro.get_param_store()) == 0  # parameters stayed in the guide
    median = guide.median()
    assert median["bias"].item() == pytest.approx(y.mean().item(), abs=0.3)


def _bad_after(step: int, value: float):
    """normal_mean_model, plus a log factor that turns to ``value`` at ``step``.

    With the hand-written guide every SVI step runs the model once, so the
    loss goes bad at exactly that step (counting from 0).
    """
    calls = {"n": 0}

    def model(y):
        normal_mean_model(y)
        bad = value if calls["n"] >= step else 0.0
        calls["n"] += 1
        pyro.factor("f", torch.tensor(bad))

    return model


@pytest.mark.filterwarnings("ignore:Encountered NaN:UserWarning")
def test_nan_guard_names_the_step_and_advises():
    # Validation would reject the NaN factor itself; the guard is for the loss.
    pyro.enable_validation(False)
    y = torch.zeros(3)
    with pytest.raises(DivergenceError, match=r"became nan at step 3\b.*learning rate"):
        fit_svi(_bad_after(3, float("nan")), normal_mean_guide, y, num_steps=10)


def test_infinite_loss_is_caught():
    y = torch.zeros(3)
    # The differentiable loss of an infinite factor is inf or nan (inf - inf).
    with pytest.raises(DivergenceError, match=r"became (inf|nan) at step 2\b"):
        fit_svi(_bad_after(2, -float("inf")), normal_mean_guide, y, num_steps=10)


def test_fit_svi_rejects_bad_arguments():
    y = torch.zeros(3)
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=0)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=5, lr=-1.0)


def test_progress_follows_environment(monkeypatch):
    monkeypatch.setenv("BAYESDL_PROGRESS", "0")
    assert not progress_enabled()
    monkeypatch.setenv("BAYESDL_PROGRESS", "1")
    assert progress_enabled()


def test_run_nuts_shapes_diagnostics_and_answer():
    y = torch.full((9,), 2.0)
    result = run_nuts(
        normal_mean_model,
        y,
        num_samples=200,
        warmup_steps=100,
        num_chains=2,
        seed=1,
        progress=False,
    )
    assert result.samples["mu"].shape == (2, 200)
    assert result.flat("mu").shape == (400,)
    assert result.rhat["mu"].shape == () and result.ess["mu"].shape == ()
    assert result.max_rhat < 1.05
    assert result.min_ess > 50
    assert result.divergences == 0
    assert result.seconds > 0
    draws = result.flat("mu")
    se = math.sqrt(0.1) / math.sqrt(result.min_ess)
    assert abs(draws.mean().item() - 1.8) < 5 * se
    assert draws.std().item() == pytest.approx(math.sqrt(0.1), rel=0.2)


def test_run_nuts_passes_kernel_and_model_keywords():
    def model(y, scale=1.0):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Normal(mu, scale).expand([len(y)]).to_event(1), obs=y)

    result = run_nuts(
        model,
        torch.zeros(4),
        scale=0.5,
        full_mass=True,
        num_samples=20,
        warmup_steps=20,
        num_chains=1,
        progress=False,
    )
    assert result.samples["mu"].shape == (1, 20)
    with pytest.raises(ValueError, match="no site 'nu'"):
        result.flat("nu")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 1, "warmup_steps": 5}, "num_samples must be at least 2"),
        ({"num_samples": 10, "warmup_steps": -1}, "warmup_steps non-negative"),
        (
            {"num_samples": 10, "warmup_steps": 5, "num_chains": 0},
            "num_chains positive",
        ),
        ({"num_samples": 10.0, "warmup_steps": 5}, "num_samples must be an int"),
    ],
)
def test_run_nuts_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_nuts(normal_mean_model, torch.zeros(3), **kwargs)


# --- the one training loop: batches, mini-batch SVI, the deterministic fit ---


def test_batches_cover_every_row_once_and_follow_the_generator():
    x, y = torch.arange(10.0), torch.arange(10)
    got = list(bayesdl.infer.batches(x, y, batch_size=4))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in got]).tolist()) == list(range(10))
    first = [
        b[0]
        for b in bayesdl.infer.batches(
            x, batch_size=3, generator=torch.Generator().manual_seed(1)
        )
    ]
    again = [
        b[0]
        for b in bayesdl.infer.batches(
            x, batch_size=3, generator=torch.Generator().manual_seed(1)
        )
    ]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    ordered = list(bayesdl.infer.batches(x, batch_size=4, shuffle=False))
    assert ordered[0][0].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("tensors", "batch_size", "message"),
    [
        ((torch.zeros(3), torch.zeros(4)), 2, "different lengths"),
        ((torch.zeros(0),), 2, "no rows"),
        ((torch.zeros(3),), 0, "batch_size must be a positive int"),
        ((torch.zeros(3),), True, "batch_size must be a positive int"),
        (([1, 2, 3],), 2, "must be torch tensors"),
    ],
)
def test_batches_reject_bad_input(tensors, batch_size, message):
    with pytest.raises(ValueError, match=message):
        list(bayesdl.infer.batches(*tensors, batch_size=batch_size))


def _regression_fit(seed, **kwargs):
    bayesdl.setup(seed=seed)
    x, y = bayesdl.data.toy_regression(n=40, seed=0)
    model = BayesianLinearRegression(prior_scale=10.0, noise_scale=0.5)
    guide = AutoNormal(model)
    fit = fit_svi(
        model,
        guide,
        data=(x - x.mean(), y),
        batch_size=16,
        num_epochs=3,
        lr=0.05,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )
    return fit, guide


def test_mini_batch_fit_is_reproducible_bit_for_bit_from_a_seed():
    a, guide_a = _regression_fit(3)
    b, guide_b = _regression_fit(3)
    assert a.losses == b.losses and a.steps == 9  # 3 epochs of ceil(40 / 16)
    for (ka, va), (kb, vb) in zip(
        guide_a.state_dict().items(), guide_b.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)


def test_callback_sees_every_step_with_optimizer_args():
    seen = []
    bayesdl.setup(seed=0)
    x, y = bayesdl.data.toy_regression(n=20, seed=0)
    model = BayesianLinearRegression(prior_scale=10.0, noise_scale=0.5)
    guide = AutoNormal(model)
    fit = fit_svi(
        model,
        guide,
        x,
        y,
        num_steps=5,
        lr=0.1,
        final_lr=0.001,
        optimizer_args={"betas": (0.8, 0.9)},
        callback=lambda s, v: seen.append(s),
    )
    assert seen == [0, 1, 2, 3, 4] and fit.steps == 5


class _RecordingSGD(torch.optim.SGD):
    """SGD that records the learning rate of every step it takes."""

    rates: list[float] = []

    def step(self, closure=None):
        _RecordingSGD.rates.append(self.param_groups[0]["lr"])
        return super().step(closure)


def _rates(**kwargs) -> list[float]:
    _RecordingSGD.rates = []
    fit_svi(
        normal_mean_model,
        normal_mean_guide,
        torch.zeros(3),
        optimizer=_RecordingSGD,
        lr=0.1,
        **kwargs,
    )
    return _RecordingSGD.rates


def test_geometric_schedule_reaches_final_lr_at_the_last_step():
    rates = _rates(num_steps=5, final_lr=0.001)
    assert rates == pytest.approx(
        [0.1, 0.1 * 0.01**0.25, 0.01, 0.1 * 0.01**0.75, 0.001]
    )
    assert _rates(num_steps=3) == [0.1, 0.1, 0.1]  # no final_lr: constant


def test_cosine_schedule_follows_half_a_cosine():
    rates = _rates(num_steps=5, schedule="cosine")  # final_lr defaults to 0
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    assert rates == pytest.approx(expected, abs=1e-12)
    assert rates[2] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0)
    rates = _rates(num_steps=3, schedule="cosine", final_lr=0.02)
    assert rates == pytest.approx([0.1, 0.06, 0.02])


def test_warmup_ramps_the_first_steps_linearly():
    rates = _rates(num_steps=6, schedule="cosine", final_lr=0.1, warmup_steps=4)
    assert rates == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    rates = _rates(num_steps=3, final_lr=0.001, warmup_steps=2)  # geometric too
    assert rates == pytest.approx([0.05, 0.1 * 0.01**0.5, 0.001])


def test_one_cycle_is_torchs_one_cycle_lr_peaking_at_lr():
    rates = _rates(num_steps=10, schedule="one_cycle", warmup_steps=3)
    ref_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.OneCycleLR(
        ref_opt, max_lr=0.1, total_steps=10, pct_start=0.3, cycle_momentum=False
    )
    expected = []
    for _ in range(10):
        expected.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        ref.step()
    assert rates == pytest.approx(expected)
    assert rates[0] == pytest.approx(0.1 / 25) and max(rates) == pytest.approx(0.1)
    assert rates.index(max(rates)) == 2  # the peak after the warm-up
    rates = _rates(num_steps=10, schedule="one_cycle", final_lr=0.01)
    assert rates[-1] == pytest.approx(0.01)  # ends where final_lr says
    assert _rates(num_steps=1, schedule="one_cycle") == [0.1]  # no cycle in one step


def test_fit_classifier_runs_one_cycle_and_scores_each_epoch_off_the_clock():
    from bayesdl.infer import fit_classifier

    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = (x[:, 0] > 0).long()
    net = torch.nn.Linear(3, 2)
    seen = []

    def score(epoch):
        net.eval()  # the fit puts it back in training mode
        seen.append((epoch, float((net(x).argmax(-1) == y).float().mean())))

    result = fit_classifier(
        net,
        x,
        y,
        num_epochs=4,
        batch_size=16,
        lr=0.3,
        schedule="one_cycle",
        on_epoch_end=score,
    )
    assert [e for e, _ in seen] == [0, 1, 2, 3] and net.training
    assert seen[-1][1] > 0.9 and len(result.losses) == 16
    with pytest.raises(ValueError, match="schedule must be one of"):
        fit_classifier(net, x, y, num_epochs=1, schedule="linear")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": "linear"}, "schedule must be one of 'geometric', 'cosine'"),
        ({"final_lr": 0.0}, "final_lr must be a positive"),
        ({"schedule": "cosine", "final_lr": -0.1}, "final_lr must be a non-negative"),
        ({"warmup_steps": -1}, "warmup_steps must be a non-negative int"),
        ({"warmup_steps": 1.5}, "warmup_steps must be a non-negative int"),
    ],
)
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_svi(
            normal_mean_model, normal_mean_guide, torch.zeros(3), num_steps=2, **kwargs
        )


class _Sampler:
    """An iterable of batches with a length, as fit_svi accepts for data=."""

    def __init__(self, y):
        self.y = y

    def __len__(self):
        return 2

    def __iter__(self):
        yield (self.y[:3],)
        yield (self.y[3:],)


def test_fit_svi_takes_an_iterable_of_batches():
    y = torch.full((6,), 2.0)
    fit = fit_svi(normal_mean_model, normal_mean_guide, data=_Sampler(y), num_epochs=4)
    assert fit.steps == 8 and len(fit.losses) == 8


def test_divergence_under_validation_names_the_step():
    """After setup(), Pyro's validation sees the NaN first; the guard still names it."""
    assert pyro.enable_validation  # turned on by the autouse fixture's setup()
    calls = {"n": 0}

    def model(y):
        loc = torch.tensor(float("nan") if calls["n"] >= 4 else 0.0)
        calls["n"] += 1
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(y)):
            pyro.sample("obs", dist.Normal(mu + loc, 1.0), obs=y)

    with pytest.raises(DivergenceError, match=r"at step 4\b.*learning rate"):
        fit_svi(model, normal_mean_guide, torch.zeros(3), num_steps=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_steps": 5, "lr": True}, "lr must be a positive finite number"),
        ({"num_steps": 5, "lr": float("inf")}, "lr must be a positive finite number"),
        ({"num_steps": 5, "final_lr": -1.0}, "final_lr must be a positive"),
        ({"num_steps": True}, "num_steps must be a positive int"),
    ],
)
def test_fit_svi_rejects_bad_numbers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_svi(normal_mean_model, normal_mean_guide, torch.zeros(3), **kwargs)


def test_fit_svi_rejects_bad_data():
    with pytest.raises(ValueError, match="no rows"):
        fit_svi(
            normal_mean_model,
            normal_mean_guide,
            data=(torch.zeros(0),),
            batch_size=2,
            num_epochs=1,
        )
    with pytest.raises(ValueError, match="tuple of tensors"):
        fit_svi(
            normal_mean_model,
            normal_mean_guide,
            data=torch.zeros(4),
            batch_size=2,
            num_epochs=1,
        )
    with pytest.raises(ValueError, match="no rows"):
        fit_svi(normal_mean_model, normal_mean_guide, torch.zeros(0), num_steps=2)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        fit_svi(
            normal_mean_model,
            normal_mean_guide,
            data=(torch.zeros(4),),
            batch_size=0,
            num_epochs=1,
        )


def _tiny_classifier():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def test_fit_classifier_trains_and_takes_int32_labels():
    x = torch.randn(60, 4)
    y = (x[:, 0] > 0).to(torch.int32) + (x[:, 1] > 1).to(torch.int32)
    fit = bayesdl.infer.fit_classifier(
        _tiny_classifier(), x, y, num_epochs=20, batch_size=16, lr=0.05
    )
    assert fit.steps == 20 * 4
    assert sum(fit.losses[-4:]) < sum(fit.losses[:4])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lr must be a positive"),
        ({"lr": float("inf")}, "lr must be a positive finite"),
        ({"final_lr": -1e-3}, "final_lr must be a positive"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"num_epochs": True}, "num_epochs must be a positive int"),
    ],
)
def test_fit_classifier_rejects_bad_numbers(kwargs, message):
    x, y = torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    args = {"num_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        bayesdl.infer.fit_classifier(_tiny_classifier(), x, y, **args)


def test_fit_classifier_stops_on_nan():
    x, y = torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    x[3] = float("nan")
    with pytest.raises(DivergenceError, match="at step 0"):
        bayesdl.infer.fit_classifier(
            _tiny_classifier(), x, y, num_epochs=1, batch_size=8
        )


def test_run_nuts_checks_seed_and_latent_sites():
    y = torch.zeros(3)
    with pytest.raises(ValueError, match="seed must be an int"):
        run_nuts(normal_mean_model, y, num_samples=5, warmup_steps=5, seed=-1)

    def no_latents(y):
        with pyro.plate("data", len(y)):
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=y)

    with pytest.raises(ValueError, match="no latent sample site"):
        run_nuts(no_latents, y, num_samples=5, warmup_steps=5)


# -- the probe's findings (issue 21) -------------------------------------------


class _Lying:
    """An iterable whose len() promises more (or fewer) batches than it yields."""

    def __init__(self, batches, length):
        self.batches, self.length = batches, length

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return self.length


def _regression():
    x = torch.randn(20, 1)
    y = 2 * x[:, 0] + 0.1 * torch.randn(20)
    reg = BayesianLinearRegression(1)
    return reg, AutoNormal(reg), x, y


@pytest.mark.parametrize(("yielded", "length"), [(0, 5), (3, 10), (4, 2)])
def test_an_iterable_must_yield_len_batches(yielded, length):
    """L7: an iterable that lies about its length stops the run with a reason."""
    reg, guide, x, y = _regression()
    data = _Lying([(x, y)] * yielded, length)
    with pytest.raises(ValueError, match="len\\(data\\) says"):
        fit_svi(reg, guide, data=data, num_epochs=2)


@pytest.mark.parametrize("data", [_Lying([torch.randn(20, 1)] * 2, 2), {"a": 1}])
def test_batches_must_be_tuples_of_arguments(data):
    """L12: bare tensors or a dict's keys as batches get a clear error."""
    reg, guide, _, _ = _regression()
    with pytest.raises(ValueError, match="each batch must be a tuple"):
        fit_svi(reg, guide, data=data, num_epochs=1)


def test_optimizer_mistakes_say_what_is_expected():
    """L11."""
    reg, guide, x, y = _regression()
    with pytest.raises(ValueError, match="not Pyro's wrapper pyro.optim.Adam"):
        fit_svi(reg, guide, x, y, num_steps=2, optimizer=pyro.optim.Adam)
    with pytest.raises(ValueError, match=r"fit_svi\(lr=...\)"):
        fit_svi(reg, guide, x, y, num_steps=2, optimizer_args={"lr": 1})
    with pytest.raises(TypeError, match="optimizer_args must be a dict"):
        fit_svi(reg, guide, x, y, num_steps=2, optimizer_args="x")
    with pytest.raises(ValueError, match="must return a torch.optim.Optimizer"):
        fit_svi(reg, guide, x, y, num_steps=2, optimizer=lambda params, lr: None)
    with pytest.raises(ValueError, match="model must be a callable"):
        fit_svi(None, guide, x, y, num_steps=2)
    # Pyro's torch-style ClippedAdam is a torch optimizer class: accepted.
    from pyro.optim.clipped_adam import ClippedAdam

    assert fit_svi(reg, guide, x, y, num_steps=2, optimizer=ClippedAdam).steps == 2


def test_divergence_names_pyros_reason():
    """L13: a negative scale is named as such, not as 'NaN or infinite'."""

    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        scale = pyro.param("scale", torch.tensor(1.0))  # unconstrained on purpose
        pyro.sample("z", dist.Normal(0.0, scale))

    with pytest.raises(DivergenceError, match=r"invalid parameters \(Pyro: .*scale"):
        fit_svi(model, guide, num_steps=200, lr=10.0)


def test_on_epoch_end_runs_after_each_epoch_off_the_clock():
    import time

    reg, guide, x, y = _regression()
    seen = []

    def slow(epoch):
        seen.append(epoch)
        time.sleep(0.6)

    result = fit_svi(
        reg, guide, data=(x, y), batch_size=10, num_epochs=3, on_epoch_end=slow
    )
    assert seen == [0, 1, 2] and result.steps == 6
    assert result.seconds < 1.0  # the 1.8 s of sleep are not training time


def test_the_old_name_fit_deterministic_still_trains_but_warns():
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    with pytest.warns(DeprecationWarning, match="fit_classifier"):
        fit = bayesdl.infer.fit_deterministic(
            _tiny_classifier(), x, y, num_epochs=1, batch_size=8
        )
    assert fit.steps == 2
