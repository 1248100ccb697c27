"""The Ultralytics YOLO trainer (detection, segmentation, classification, pose).

Runs in its own environment (torch, ultralytics; see manifest.json), never in the server. The
modules that import ultralytics or torch (`train`, `predict`, `export`, `adapters`) are loaded
only by `__main__`, after `offline.prepare` has made the package silent; the others are pure
and unit-tested without torch: `options` (config -> Ultralytics arguments), `layout` (dataset
-> Ultralytics folders), `metrics` (names), `results` (the platform's result schema),
`verification` (the export report), `failures` (exception -> error type).
"""
