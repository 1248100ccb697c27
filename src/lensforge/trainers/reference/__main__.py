"""`python -m lensforge.trainers.reference train|predict|export` (the manifest's entry points).

train                                  run the job described by the LENSFORGE_* environment
predict --checkpoint FILE IMAGE...     print JSON predictions, one line per image
export [--checkpoint FILE] [--output FILE]
                                       write the model as plain JSON; without --checkpoint,
                                       the job's `best` checkpoint is downloaded
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensforge.trainers.reference")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train the job given by the environment")
    predict = commands.add_parser("predict", help="classify images with a checkpoint")
    predict.add_argument("--checkpoint", type=Path, required=True)
    predict.add_argument("images", type=Path, nargs="+")
    export = commands.add_parser("export", help="write the model as plain JSON")
    export.add_argument("--checkpoint", type=Path)
    export.add_argument("--output", type=Path, default=Path("model.json"))
    args = parser.parse_args(argv)

    if args.command == "train":
        from lensforge.trainers.reference.train import main as train

        return train()
    from lensforge.trainers.reference import infer

    if args.command == "predict":
        try:
            infer.print_predictions(args.checkpoint, args.images)
        except (OSError, ValueError, KeyError) as exc:
            print(f"predict: {exc}", file=sys.stderr)
            return 1
        return 0
    checkpoint = args.checkpoint or _best_checkpoint()
    print(infer.export(checkpoint, args.output))
    return 0


def _best_checkpoint() -> Path:
    from lensforge.sdk import Trainer

    with Trainer() as trainer:
        return trainer.download_checkpoint("best").path


if __name__ == "__main__":
    sys.exit(main())
