"""Write DICOM whole-slide images for tests (pydicom), with or without ImageType and spacing."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


def write_dicom_wsi(path: Path, image: np.ndarray, *, frame_px: int = 64, jpeg: bool = False,
                    spacing_mm: float | None = 0.00025, image_type: list[str] | None = None,
                    sparse: bool = False, series_uid: str | None = None) -> Path:
    """Write ``image`` (h, w, 3 uint8) as one VL WSI instance of ``frame_px`` square frames.

    ``sparse`` writes TILED_SPARSE with per-frame positions, in reverse order, and
    leaves out the last frame (glass a scanner did not store).
    """
    import pydicom
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

    h, w, _ = image.shape
    positions = [(c, r) for r in range(0, h, frame_px) for c in range(0, w, frame_px)]
    if sparse:
        positions = positions[:-1][::-1]
    frames = []
    for c, r in positions:
        frame = np.full((frame_px, frame_px, 3), 255, np.uint8)
        part = image[r:r + frame_px, c:c + frame_px]
        frame[:part.shape[0], :part.shape[1]] = part
        if jpeg:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
            frames.append(buffer.getvalue())
        else:
            frames.append(frame.tobytes())
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = WSI_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = WSI_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series_uid or generate_uid()
    if image_type is not None:
        ds.ImageType = image_type
    ds.Rows = ds.Columns = frame_px
    ds.NumberOfFrames = len(frames)
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = w, h
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422" if jpeg else "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.DimensionOrganizationType = "TILED_SPARSE" if sparse else "TILED_FULL"
    if spacing_mm is not None:
        measures = Dataset()
        measures.PixelSpacing = [spacing_mm, spacing_mm]
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
    if sparse:
        groups = []
        for c, r in positions:
            plane = Dataset()
            plane.ColumnPositionInTotalImagePixelMatrix = c + 1
            plane.RowPositionInTotalImagePixelMatrix = r + 1
            group = Dataset()
            group.PlanePositionSlideSequence = Sequence([plane])
            groups.append(group)
        ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    if jpeg:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = b"".join(frames)
    ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path, stop_before_pixels=True).TotalPixelMatrixColumns == w
    assert math.ceil(w / frame_px) >= 1
    return path
