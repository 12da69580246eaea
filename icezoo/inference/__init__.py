"""Inference with a trained model: class scores of faces, recognising a face image, synthesising faces.

Evaluation (:mod:`icezoo.eval`) reads faces through :func:`.scores.class_scores` too, but nothing here
knows about folds, protocols or run folders.
"""
