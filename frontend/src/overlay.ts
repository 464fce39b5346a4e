// Segmentation overlays: a labelmap on a reference series, from a DICOM SEG or from a mask
// series (an image series whose non-zero pixels are the mask), matched slice by slice on
// the image position along the reference's slice normal.
import { imageLoader, type Types } from "@cornerstonejs/core";
import dicomParser from "dicom-parser";
import {
  type DicomJson,
  type SeriesData,
  TAG,
  first,
  items,
  numbers,
  retrieveInstance,
} from "./dicomweb";

/** Labels (0 = background, n = segment n) of one reference slice, rows x columns. */
export type SliceLabels = Map<number, Uint8Array>;

export class OverlayError extends Error {}

interface Geometry {
  normal: number[];
  depths: number[];
  tolerance: number;
  rows: number;
  columns: number;
  sopIndex: Map<string, number>;
}

function cross(a: number[], b: number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function referenceGeometry(reference: SeriesData): Geometry {
  if (reference.imageIds.length !== reference.instances.length) {
    throw new OverlayError("overlays need a reference series of single-frame images");
  }
  const orientation = numbers(reference.instances[0], TAG.imageOrientationPatient);
  if (orientation.length !== 6) {
    throw new OverlayError("the reference series has no image orientation");
  }
  const normal = cross(orientation.slice(0, 3), orientation.slice(3));
  const depths = reference.instances.map((instance) =>
    dot(numbers(instance, TAG.imagePositionPatient), normal),
  );
  const gaps = depths.slice(1).map((depth, i) => Math.abs(depth - depths[i]));
  const spacing = gaps.length ? Math.min(...gaps.filter((gap) => gap > 0)) : 1;
  return {
    normal,
    depths,
    tolerance: Number.isFinite(spacing) ? spacing / 2 : 0.5,
    rows: Number(first(reference.instances[0], TAG.rows)),
    columns: Number(first(reference.instances[0], TAG.columns)),
    sopIndex: new Map(
      reference.instances.map((instance, i) => [String(first(instance, TAG.sopInstanceUid)), i]),
    ),
  };
}

function sliceAt(geometry: Geometry, position: number[] | undefined, sop?: string): number {
  if (position && position.length === 3) {
    const depth = dot(position, geometry.normal);
    let best = -1;
    let bestDistance = Infinity;
    geometry.depths.forEach((candidate, i) => {
      const distance = Math.abs(candidate - depth);
      if (distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    });
    if (bestDistance <= geometry.tolerance + 1e-3) {
      return best;
    }
  }
  return sop !== undefined ? (geometry.sopIndex.get(sop) ?? -1) : -1;
}

function frameItem(seg: DicomJson, frame: number): DicomJson | undefined {
  return items(seg, TAG.perFrameFunctionalGroups)[frame];
}

/** Labels of the reference slices from a DICOM SEG (binary or fractional). */
export async function labelsFromSeg(
  root: string,
  seg: SeriesData,
  reference: SeriesData,
  signal?: AbortSignal,
): Promise<SliceLabels> {
  const geometry = referenceGeometry(reference);
  const labels: SliceLabels = new Map();
  for (const instance of seg.instances) {
    const rows = Number(first(instance, TAG.rows));
    const columns = Number(first(instance, TAG.columns));
    if (rows !== geometry.rows || columns !== geometry.columns) {
      throw new OverlayError(
        `the segmentation is ${columns}x${rows}, the image ${geometry.columns}x${geometry.rows}`,
      );
    }
    const bytes = await retrieveInstance(
      root,
      seg.studyUid,
      seg.seriesUid,
      String(first(instance, TAG.sopInstanceUid)),
      signal,
    );
    const dataset = dicomParser.parseDicom(bytes);
    const pixelData = dataset.elements.x7fe00010;
    if (!pixelData) {
      throw new OverlayError("the segmentation has no pixel data");
    }
    const bits = dataset.uint16("x00280100") ?? 1;
    const frames = Number(dataset.string("x00280008") ?? 1);
    const maxFractional = Number(dataset.string("x00620010") ?? 255) || 255;
    const pixels = rows * columns;
    const shared = items(instance, TAG.sharedFunctionalGroups)[0];
    for (let frame = 0; frame < frames; frame += 1) {
      const groups = frameItem(instance, frame);
      const ownPosition = numbers(
        items(groups, TAG.planePositionSequence)[0],
        TAG.imagePositionPatient,
      );
      const position = ownPosition.length
        ? ownPosition
        : numbers(items(shared, TAG.planePositionSequence)[0], TAG.imagePositionPatient);
      const segment = Number(
        first(items(groups, TAG.segmentIdentificationSequence)[0], TAG.referencedSegmentNumber) ??
          first(items(shared, TAG.segmentIdentificationSequence)[0], TAG.referencedSegmentNumber) ??
          1,
      );
      const derivation = items(groups, TAG.derivationImageSequence)[0];
      const source = items(derivation, TAG.sourceImageSequence)[0];
      const slice = sliceAt(geometry, position, first<string>(source, TAG.referencedSopInstanceUid));
      if (slice < 0) {
        continue;
      }
      const target = labels.get(slice) ?? new Uint8Array(pixels);
      labels.set(slice, target);
      const offset = pixelData.dataOffset;
      if (bits === 1) {
        const startBit = frame * pixels;
        for (let p = 0; p < pixels; p += 1) {
          const bit = startBit + p;
          if (bytes[offset + (bit >> 3)] & (1 << (bit & 7))) {
            target[p] = segment;
          }
        }
      } else {
        const start = offset + frame * pixels;
        for (let p = 0; p < pixels; p += 1) {
          if (bytes[start + p] * 2 > maxFractional) {
            target[p] = segment;
          }
        }
      }
    }
  }
  return labels;
}

/** Labels of the reference slices from a mask image series: non-zero pixels are label 1. */
export async function labelsFromMaskSeries(
  mask: SeriesData,
  reference: SeriesData,
): Promise<SliceLabels> {
  const geometry = referenceGeometry(reference);
  const labels: SliceLabels = new Map();
  const images: Types.IImage[] = await Promise.all(
    mask.imageIds.map((imageId) => imageLoader.loadAndCacheImage(imageId)),
  );
  images.forEach((image, i) => {
    const instance = mask.instances[i];
    if (image.rows !== geometry.rows || image.columns !== geometry.columns) {
      throw new OverlayError(
        `the mask is ${image.columns}x${image.rows}, the image ${geometry.columns}x${geometry.rows}`,
      );
    }
    const slice = sliceAt(
      geometry,
      numbers(instance, TAG.imagePositionPatient),
      String(first(instance, TAG.sopInstanceUid)),
    );
    if (slice < 0) {
      return;
    }
    const values = image.getPixelData();
    const target = new Uint8Array(values.length);
    for (let p = 0; p < values.length; p += 1) {
      target[p] = values[p] > 0 ? 1 : 0;
    }
    labels.set(slice, target);
  });
  return labels;
}
