"""Shared code for the GAN offline-inference folders.

Model folders import it as ``common`` without installation: every script puts the folder that holds
``common/`` (its own parent's parent) on ``sys.path`` first, so ``<Model>/`` and ``common/`` copied side by
side into the ModelZoo tree keep working.
"""
