"""The zoo's recipes: one file per chapter, each with its settings and training.

* :mod:`~bayesdl.recipes.sine_reference`: the NUTS reference posterior of the
  1-D sine network and the fits of the reference-posterior chapter;
* :mod:`~bayesdl.recipes.mnist_bnn`: the Bayesian LeNet and the ordinary LeNet;
* :mod:`~bayesdl.recipes.fashion_vae`: the VAE of the Fashion-MNIST chapter;
* :mod:`~bayesdl.recipes.mnist_ssvae`: the semi-supervised VAE (M1+M2) and its
  supervised baseline.

Readers call them through :mod:`bayesdl.zoo`, which re-exports them. A
recipe imports :mod:`~bayesdl.recipes._runner` and its own model modules, and
no other recipe: its models' cache keys follow its imports, so an edit to one
recipe retrains that recipe's models alone. This ``__init__`` imports none of
them.

A new chapter's trained model needs a new file here (settings, data, a
``@register``-ed function that calls :func:`bayesdl.cache.train_or_load`) and
one import line in :mod:`bayesdl.zoo`.
"""
