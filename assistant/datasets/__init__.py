"""The held-out data both training and evaluation use: which documents of ../shared/training are TRAIN,
VALIDATION or TEST (``splits``) and the question mixes built from them (``mix``)."""
