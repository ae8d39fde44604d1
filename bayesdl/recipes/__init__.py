"""The zoo's recipes: one file per chapter, each with its settings and training.

* :mod:`~bayesdl.recipes.sine_reference`: the NUTS reference posterior of the
  1-D sine network and the fits of the reference-posterior chapter;
* :mod:`~bayesdl.recipes.mnist_bnn`: the Bayesian LeNet and the ordinary LeNet;
* :mod:`~bayesdl.recipes.mnist_alternatives`: temperature scaling, MC dropout,
  a deep ensemble and a last-layer Laplace approximation of that LeNet;
* :mod:`~bayesdl.recipes.fashion_vae`: the VAE of the Fashion-MNIST chapter;
* :mod:`~bayesdl.recipes.mnist_ssvae`: the semi-supervised VAE (M1+M2) and its
  supervised baseline.

Readers call them through :mod:`bayesdl.zoo`, which re-exports them. A
recipe imports :mod:`~bayesdl.recipes._runner` and its own model modules, and
no other recipe: its models' cache keys follow its imports, so an edit to one
recipe retrains that recipe's models alone. One exception:
``mnist_alternatives`` builds on the MNIST chapter's networks, settings and
split, so it imports ``mnist_bnn``, and an edit there retrains both. This ``__init__`` imports none of
them.

A new chapter's trained model needs a new file here (settings, data, a
``@register``-ed function that calls :func:`bayesdl.cache.train_or_load`) and
one import line in :mod:`bayesdl.zoo`.
"""
