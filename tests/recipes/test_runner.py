"""The runner's handling of a recipe's settings."""

from __future__ import annotations

import dataclasses

import pytest

from bayesdl.recipes._runner import checked_settings, settings_dict


@dataclasses.dataclass(frozen=True)
class Settings:
    num_epochs: int = 3
    widths: tuple[int, ...] = (8, 4)


def test_a_settings_dataclass_is_keyed_by_its_fields():
    assert settings_dict(Settings()) == {"num_epochs": 3, "widths": (8, 4)}
    assert settings_dict({"n": 1}) == {"n": 1}
    with pytest.raises(ValueError, match="settings dataclass .or a dict., got type"):
        settings_dict(Settings)  # the class, not an instance
    with pytest.raises(ValueError, match="got list"):
        settings_dict([("n", 1)])


def test_checked_settings_takes_the_recipes_own_class_or_the_default():
    assert checked_settings(None, Settings, "settings") == Settings()
    two = dataclasses.replace(Settings(), num_epochs=2)
    assert checked_settings(two, Settings, "settings") is two
    with pytest.raises(ValueError, match=r"must be a Settings .*dataclasses.replace"):
        checked_settings({"num_epochs": 2}, Settings, "settings")
