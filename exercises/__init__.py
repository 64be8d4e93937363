"""The curriculum's exercises: one package per chapter, one sub-package per section."""
