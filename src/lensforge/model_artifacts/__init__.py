"""Model artifacts: model files users upload (pretrained weights) for trainings to start from."""
