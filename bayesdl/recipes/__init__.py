"""The zoo's recipes: one file per chapter, each with its settings and training.

* :mod:`~bayesdl.recipes.sine_reference`: the NUTS reference posterior of the
  1-D sine network, with :mod:`~bayesdl.recipes.sine_approx` beside it for
  the approximations the reference-posterior chapter judges;
* :mod:`~bayesdl.recipes.mnist_bnn`: the Bayesian LeNet and the ordinary LeNet;
* :mod:`~bayesdl.recipes.mnist_alternatives`: temperature scaling, MC dropout,
  a deep ensemble and a last-layer Laplace approximation of that LeNet;
* :mod:`~bayesdl.recipes.mnist_active`: active learning on MNIST, the
  labelled images chosen by MC dropout, the Bayesian LeNet or an ensemble,
  with :mod:`~bayesdl.recipes.mnist_active_models` beside it for those
  three models and the loop's settings;
* :mod:`~bayesdl.recipes.fashion_vae`: the VAE of the Fashion-MNIST chapter;
* :mod:`~bayesdl.recipes.mnist_ssvae`: the semi-supervised VAE (M1+M2), with
  :mod:`~bayesdl.recipes.mnist_ssvae_baselines` beside it for the chapter's
  supervised baselines and its gradient experiment (a second file only to
  keep each under 400 lines).

Each recipe has a frozen settings dataclass that the profile fills, and
functions that build the data, the model and its fit; the runner
(:func:`~bayesdl.recipes._runner.run`) does the rest: the seed, the device,
the forked random state, the record, its validation and the cache. Readers
call the recipes through :mod:`bayesdl.zoo`, which re-exports them.

A recipe imports :mod:`~bayesdl.recipes._runner` and its own model modules,
and no other chapter's recipe: its models' cache keys follow its imports, so
an edit to one recipe retrains that recipe's models alone. Two recipes build
on another on purpose: ``mnist_alternatives`` on the MNIST chapter's
networks, settings and split (``mnist_bnn``), ``mnist_active`` on that
split, and ``mnist_ssvae_baselines``
on the SS-VAE's settings, data and labelled split (``mnist_ssvae``); an edit
to the one below retrains both. This ``__init__`` imports none of them.

A new chapter's trained model needs a new file here (a settings dataclass, a
``@register``-ed function that calls :func:`~bayesdl.recipes._runner.run`)
and one import line in :mod:`bayesdl.zoo`.
"""
