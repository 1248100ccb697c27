"""`python -m lensforge.trainers.reference train|predict|export` (the manifest's entry points).

train                                  run the job described by the LENSFORGE_* environment
predict                                run the inference job given by the environment
predict --checkpoint FILE IMAGE...     print JSON predictions, one line per image
export                                 run the export job given by the environment
export --checkpoint FILE [--output FILE]
                                       write the model as plain JSON
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
    predict.add_argument("--checkpoint", type=Path)
    predict.add_argument("images", type=Path, nargs="*")
    export = commands.add_parser("export", help="write the model as plain JSON")
    export.add_argument("--checkpoint", type=Path)
    export.add_argument("--output", type=Path, default=Path("model.json"))
    args = parser.parse_args(argv)

    if args.command == "train":
        from lensforge.trainers.reference.train import main as train

        return train()
    if args.checkpoint is None:  # a job's entry point (the worker passes no arguments)
        from lensforge.trainers.reference import model_jobs

        return model_jobs.predict_job() if args.command == "predict" else model_jobs.export_job()
    from lensforge.trainers.reference import infer

    if args.command == "predict":
        if not args.images:
            parser.error("predict --checkpoint needs at least one image")
        try:
            infer.print_predictions(args.checkpoint, args.images)
        except (OSError, ValueError, KeyError) as exc:
            print(f"predict: {exc}", file=sys.stderr)
            return 1
        return 0
    print(infer.export(args.checkpoint, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
