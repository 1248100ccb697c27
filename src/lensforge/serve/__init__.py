"""The serving process (`lensforge serve`): the deployments of the database behind the inference protocol and the image API (docs/serving.md)."""
