"""db/models/ is one package: Tortoise and the migrations read its models from `db.models`."""

from __future__ import annotations

import importlib
import pkgutil

from tortoise.models import Model

import db.models


def test_every_model_of_the_package_is_exported_by_it():
    """A model left out of `db.models` would be no table to Tortoise, and no migration would
    ever be made for it."""
    defined = {
        value.__name__
        for module in pkgutil.iter_modules(db.models.__path__, "db.models.")
        for value in vars(importlib.import_module(module.name)).values()
        if isinstance(value, type) and issubclass(value, Model) and value.__module__ == module.name
    }
    assert "Brand" in defined
    assert defined - set(db.models.__all__) == set()
