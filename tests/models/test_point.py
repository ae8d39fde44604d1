"""PointClassifier: any logits network as a classifier of the vocabulary."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bayesdl.models import Classifier
from bayesdl.models.point import PointClassifier


def test_predict_gives_one_draw_of_probabilities_without_gradients():
    net = PointClassifier(nn.Linear(5, 3))
    x = torch.randn(7, 5)
    p = net.predict(x, batch_size=3)  # three batches, stitched in order
    assert isinstance(net, Classifier)
    assert p.shape == (1, 7, 3) and not p.requires_grad
    assert torch.allclose(p[0], net(x).softmax(-1))
    assert net.training  # predict left the mode as it found it


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="net must be a torch.nn.Module"):
        PointClassifier(lambda x: x)
    net = PointClassifier(nn.Linear(5, 3))
    with pytest.raises(ValueError, match="num_samples must be 1, got 2"):
        net.predict(torch.randn(2, 5), num_samples=2)
    with pytest.raises(ValueError, match="x must be a floating-point"):
        net.predict(torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        net.predict(torch.randn(2, 5), batch_size=0)
