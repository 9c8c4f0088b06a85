"""Mandatory AI disclosure, in six layers (DESIGN.md):

1. the visible label burned into the pixels (`label`),
2. the disclosure line and hashtag in the caption (`label`),
3. an invisible watermark identifying the post (`watermark`),
4. XMP `Iptc4xmpExt:DigitalSourceType` = trainedAlgorithmicMedia (`xmp`),
5. a signed C2PA manifest (`provenance`),
6. the platform's own flag (set by the publishers).

`apply.disclose` runs 3–5 in the only order that works — watermark after the
final resize, XMP before C2PA, C2PA last — and `verify.verify_file` reads
every layer back.
"""

from content.disclosure.label import (
    CaptionDisclosure,
    burn_label,
    has_disclosure,
    label_box_height,
    label_overlay,
    lock_disclosure,
)

__all__ = [
    "CaptionDisclosure",
    "burn_label",
    "has_disclosure",
    "label_box_height",
    "label_overlay",
    "lock_disclosure",
]
