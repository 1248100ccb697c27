"""The reference trainer: softmax regression (`linear`) or nearest class mean (`centroid`) on
the grey pixels of each image or labelled object, in plain Python with Pillow. It follows the
trainer contract through `lensforge.sdk` only, and serves as the platform's end-to-end test
trainer and as a readable example. Entry point: `python -m lensforge.trainers.reference`."""
