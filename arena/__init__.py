"""ARENA: an open curriculum for alignment research engineers.

`__version__` is the one place the curriculum's version lives: the package metadata, the
container tags, the release tags and every pinned learner link read it from here.
"""

__version__ = "0.1.0"

# Where the public repository lives; learner links are built from it and pinned to a release tag.
REPOSITORY = "arena-curriculum/arena"
