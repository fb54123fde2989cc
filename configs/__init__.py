"""Experiment configs shipped with emofeat (``emofeat run demo``, ``emofeat run fi-reference``)."""
