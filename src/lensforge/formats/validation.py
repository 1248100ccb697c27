"""What a reader found wrong with a dataset: precise, located issues with stable codes.

Every code has one severity, listed in `CODES` (and in docs/dataset-formats.md). An *error* is
something the user must fix before the dataset can be imported; a *warning* is kept with the
imported version so the user can see what was normalised, skipped or looks suspicious.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    summary: str


_E = Severity.ERROR
_W = Severity.WARNING

CODES: dict[str, CodeInfo] = {
    # files that cannot be parsed
    "json_syntax": CodeInfo(_E, "A JSON file is not valid JSON (line and column given)."),
    "xml_syntax": CodeInfo(_E, "An XML file is malformed, or uses entities/DTDs (refused)."),
    "yaml_syntax": CodeInfo(_E, "A YAML file is not valid YAML (line and column given)."),
    "unreadable_file": CodeInfo(_E, "An annotation file cannot be read or is not UTF-8 text."),
    "invalid_structure": CodeInfo(
        _E, "A file parses but lacks a required field or has a value of the wrong type."
    ),
    # images
    "image_unreadable": CodeInfo(_E, "An image is corrupt, truncated or not an image."),
    "image_too_large": CodeInfo(
        _E, "An image has more pixels than the server accepts (its header says so)."
    ),
    "unsupported_image_type": CodeInfo(
        _E, "An image is of a type trainers do not take (gif, heic, svg, ...)."
    ),
    "missing_image": CodeInfo(_E, "An annotation refers to an image that is not in the dataset."),
    "image_size_mismatch": CodeInfo(
        _E, "The size an annotation file declares differs from the image's real size."
    ),
    "duplicate_file_name": CodeInfo(
        _E, "Two images resolve to the same name in one split, or share one label file."
    ),
    "duplicate_image_id": CodeInfo(_E, "Two COCO images share an id."),
    "unknown_image_id": CodeInfo(_E, "A COCO annotation points to an image id that is not listed."),
    "empty_dataset": CodeInfo(_E, "No usable image was found."),
    # classes
    "invalid_class_names": CodeInfo(
        _E, "The class list is malformed (names keys not 0..n-1, nc disagrees with names, ...)."
    ),
    "class_id_out_of_range": CodeInfo(_E, "A class id is not an index into the class list."),
    "unknown_class": CodeInfo(_E, "A class name or category id is not in the declared classes."),
    "inconsistent_categories": CodeInfo(
        _E, "Annotation files of one dataset give one category id different names."
    ),
    # geometry
    "invalid_label_row": CodeInfo(
        _E, "A YOLO label row has the wrong number of values or a value that is not a number."
    ),
    "non_finite": CodeInfo(_E, "A coordinate is NaN or infinite."),
    "out_of_bounds": CodeInfo(
        _E, "A coordinate lies outside the image by more than the tolerance (1 px or 1%)."
    ),
    "degenerate_box": CodeInfo(_E, "A box has zero or negative width or height."),
    "invalid_polygon": CodeInfo(
        _E, "A polygon has fewer than 3 points or an odd number of coordinates."
    ),
    "invalid_rle": CodeInfo(
        _E, "An RLE mask is malformed: bad counts, or its size is not the image's size."
    ),
    "keypoint_count_mismatch": CodeInfo(
        _E, "An object has a different number of keypoints than the dataset declares."
    ),
    "invalid_keypoint": CodeInfo(_E, "A keypoint visibility is not 0, 1 or 2."),
    # warnings: kept, normalised or skipped
    "orphan_label": CodeInfo(_W, "A label file has no image; it is ignored."),
    "missing_label": CodeInfo(
        _W, "An image has no label file; it is kept as a background image (no objects)."
    ),
    "unlisted_image": CodeInfo(
        _W, "An image file is not listed in any COCO annotation file; it is not imported."
    ),
    "label_beside_image": CodeInfo(
        _W, "A YOLO label was found next to its image instead of under labels/; it is used."
    ),
    "split_path_missing": CodeInfo(
        _W, "A split listed in data.yaml does not exist; it is skipped."
    ),
    "image_in_several_splits": CodeInfo(_W, "One image file is listed in more than one split."),
    "class_names_missing": CodeInfo(
        _W, "No class names were found; classes are named after their ids."
    ),
    "duplicate_class_name": CodeInfo(
        _W, "Two categories share a name; they are merged into one class."
    ),
    "tiny_box": CodeInfo(_W, "A box is less than 1 px wide or high."),
    "box_as_polygon": CodeInfo(
        _W, "A box without a polygon in a segmentation dataset; its rectangle is used."
    ),
    "bbox_mismatch": CodeInfo(
        _W, "A declared box differs from its segmentation's extent; the extent is used."
    ),
    "empty_mask": CodeInfo(_W, "A segmentation mask has no pixels; the object is dropped."),
    "exif_rotated": CodeInfo(
        _W, "Declared size is the stored size but EXIF rotates the image; check the labels."
    ),
    "duplicate_annotation": CodeInfo(_W, "A label row repeats an earlier row; it is dropped."),
    "duplicate_annotation_id": CodeInfo(_W, "Two COCO annotations share an id."),
    "track_id_ignored": CodeInfo(
        _W, "A 6-value YOLO row (CVAT track export): the track id is dropped."
    ),
    "unsupported_shape": CodeInfo(_W, "An object of a kind this format reader skips."),
    "keypoint_schemas_differ": CodeInfo(
        _W, "COCO categories define different keypoints; the longest list is used, padded."
    ),
    "other_annotations_ignored": CodeInfo(
        _W, "Annotation files for another task or kind were found and not used."
    ),
    "unexpected_directory": CodeInfo(_W, "A folder that does not fit the layout; it is ignored."),
    "corrupt_jpeg_restored": CodeInfo(
        _W, "A JPEG lacks its end-of-image marker but decodes completely; the marker is added."
    ),
    "nested_archive": CodeInfo(
        _W, "An archive inside the dataset; it is not extracted and nothing in it is imported."
    ),
    "image_skipped": CodeInfo(
        _W, "An unusable image was left out, with its annotations, as the import asked."
    ),
}

JsonScalar = str | int | float | bool | None


class Issue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Severity
    code: str
    message: str
    file: str | None = None
    """Path relative to the directory that was read."""
    line: int | None = None
    """1-based line (text labels, JSON/YAML/XML syntax errors)."""
    object_index: int | None = None
    """0-based row/object index inside the file, or the COCO annotation id."""
    extra: dict[str, JsonScalar] = Field(default_factory=dict)


class ValidationReport(BaseModel):
    """Issues in the order they were found. At most `max_per_code` issues are kept per code;
    `counts` always holds the full numbers."""

    model_config = ConfigDict(extra="forbid")

    issues: list[Issue] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    max_per_code: int = 1000

    def add(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        object_index: int | None = None,
        **extra: JsonScalar,
    ) -> None:
        info = CODES[code]
        count = self.counts.get(code, 0) + 1
        self.counts[code] = count
        if count <= self.max_per_code:
            self.issues.append(
                Issue(
                    severity=info.severity,
                    code=code,
                    message=message,
                    file=file,
                    line=line,
                    object_index=object_index,
                    extra=extra,
                )
            )

    @property
    def error_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code].severity is _E)

    @property
    def warning_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code].severity is _W)

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is _E]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is _W]

    def by_code(self, code: str) -> list[Issue]:
        return [i for i in self.issues if i.code == code]

    def summary(self) -> str:
        parts = [f"{code}: {n}" for code, n in sorted(self.counts.items())]
        return f"{self.error_count} errors, {self.warning_count} warnings" + (
            f" ({', '.join(parts)})" if parts else ""
        )
