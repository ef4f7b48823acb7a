"""Griffe extension: Sphinx roles in docstrings become cross-references in the API pages.

spikerec's numpydoc docstrings name other objects with Sphinx roles, which ``help()``
and IDEs read as they are: ``:func:`train```, ``:class:`~spikerec.LIF```,
``:mod:`spikerec.lif.step```, ``:meth:`validate```. mkdocstrings does not know them
and would print them as text, so this extension rewrites each one, when the docs are
built, into an autorefs link to the object's page: the name is resolved from the
docstring's scope (the module's imports, the class's members) to the path where the
object is defined. ``~`` shows only the last component, as in Sphinx. A name that no
page documents (another library's, a private helper) stays code without a link.

Loaded by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def _canonical(path: str, collection: Any) -> str:
    """The path where ``path`` is defined (through aliases such as ``spikerec.LIF``)."""
    try:
        found = collection.get_member(path)
    except (KeyError, ValueError, AttributeError):
        return path
    if found.is_alias:
        try:
            return found.final_target.path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return found.target_path
    return found.path


def _identifier(scope: griffe.Object, target: str, collection: Any) -> str:
    first, _, rest = target.partition(".")
    if first != scope.module.package.name:
        try:
            first = scope.resolve(first)
        except griffe.NameResolutionError:
            return target
    return _canonical(f"{first}.{rest}" if rest else first, collection)


def rewrite(docstring: str, scope: griffe.Object, collection: Any) -> str:
    """``docstring`` with every Sphinx role replaced by an (optional) autorefs link."""

    def link(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        title = target.rsplit(".", 1)[-1] if short else target
        identifier = _identifier(scope, target, collection)
        return (
            f'<code><autoref identifier="{html.escape(identifier)}" optional>'
            f"{html.escape(title)}</autoref></code>"
        )

    return ROLE.sub(link, docstring)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj.docstring.value, obj, loader.modules_collection)
