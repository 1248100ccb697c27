"""`python -m lensforge.trainers.ultralytics train|predict|export` (the manifest's entry points):
each runs the job described by the LENSFORGE_* environment."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("train", "predict", "export"):
        print(
            "usage: python -m lensforge.trainers.ultralytics train|predict|export", file=sys.stderr
        )
        return 2
    if args[0] == "train":
        from lensforge.trainers.ultralytics.train import main as train

        return train()
    if args[0] == "predict":
        from lensforge.trainers.ultralytics.predict import main as predict

        return predict()
    from lensforge.trainers.ultralytics.export import main as export

    return export()


if __name__ == "__main__":
    sys.exit(main())
