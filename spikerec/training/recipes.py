"""Per-dataset defaults of a training run: how long, how deep a front end, which augmentation.

A :class:`~spikerec.training.config.TrainConfig` field left at ``None`` takes the
value of its dataset's recipe when the run starts
(:meth:`~spikerec.training.config.TrainConfig.resolved`). The recipe of every
dataset is :data:`BASE_RECIPE` (what ``make run`` trains on ``digits`` within its
3 minutes) except where :data:`DATA_RECIPES` names another: ``mnist5k``'s 3500
28 x 28 training images carry detail that a deeper front end, stronger
distortions and a longer cosine schedule turn into accuracy (docs/accuracy.md
measures both). Other datasets keep the base recipe until measured.
"""

from __future__ import annotations

from typing import Any

#: The fields a recipe sets, with the base recipe's values.
BASE_RECIPE: dict[str, Any] = {
    "epochs": 8,
    "patience": 3,
    "frontend_depth": 1,
    "online_augment": "affine",
}

#: Datasets whose recipe differs from :data:`BASE_RECIPE`, with the fields that differ.
#: ``mnist5k``: patience 0 (no early stop) because the cosine schedule keeps the
#: learning rate high until late, where 500 validation images plateau for 10
#: epochs and more before the best epoch.
DATA_RECIPES: dict[str, dict[str, Any]] = {
    "mnist5k": {
        "epochs": 30,
        "patience": 0,
        "frontend_depth": 2,
        "online_augment": "distort",
    },
}


def recipe_for(data: str) -> dict[str, Any]:
    """The recipe of dataset ``data`` (a name or ``idx:PATH``): field -> value.

    Examples
    --------
    >>> recipe_for("digits")
    {'epochs': 8, 'patience': 3, 'frontend_depth': 1, 'online_augment': 'affine'}
    >>> recipe_for("mnist5k")["epochs"]
    30
    """
    return {**BASE_RECIPE, **DATA_RECIPES.get(data, {})}


def recipe_help(field: str) -> str:
    """A field's recipe values in words, for help texts.

    Examples
    --------
    >>> recipe_help("epochs")
    "the data's recipe: 8, or 30 for mnist5k"
    """
    others = ", ".join(
        f"{value} for {data}"
        for data, recipe in DATA_RECIPES.items()
        if (value := recipe.get(field, BASE_RECIPE[field])) != BASE_RECIPE[field]
    )
    return f"the data's recipe: {BASE_RECIPE[field]}" + (f", or {others}" if others else "")
