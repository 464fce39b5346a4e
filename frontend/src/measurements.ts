// Measurements leave the viewer as plain JSON ("sagittal:measurement" events) so that the
// reading workstation can store ROI answers and compute CNR without knowing cornerstone.
import { utilities as csUtils, type Types } from "@cornerstonejs/core";
import type { Types as ToolTypes } from "@cornerstonejs/tools";

export type MeasurementType = "length" | "angle" | "ellipticalROI" | "rectangleROI";

export const TOOL_TO_MEASUREMENT: Record<string, MeasurementType> = {
  Length: "length",
  Angle: "angle",
  EllipticalROI: "ellipticalROI",
  RectangleROI: "rectangleROI",
};

export interface MeasurementStatistics {
  mean?: number | null;
  sd?: number | null;
  min?: number | null;
  max?: number | null;
  area?: number | null;
  areaUnit?: string | null;
  length?: number | null;
  angle?: number | null;
  unit: string | null;
}

export interface MeasurementDetail {
  action: "completed" | "modified" | "removed";
  annotationUID: string;
  type: MeasurementType;
  viewportId: string;
  studyUid: string;
  seriesUid: string;
  sliceIndex: number;
  geometry: {
    /** Handle points in patient coordinates (mm). */
    world: number[][];
    /** The same points as [column, row] of the referenced image, when there is one. */
    image: number[][] | null;
    frameOfReferenceUid: string;
    viewPlaneNormal: number[];
  };
  statistics: MeasurementStatistics;
}

type Stats = Record<string, number | string | null | undefined>;

function round(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function statisticsOf(type: MeasurementType, stats: Stats | undefined): MeasurementStatistics {
  if (!stats) {
    return { unit: null };
  }
  if (type === "length") {
    return { length: round(stats.length), unit: (stats.unit as string) ?? "mm" };
  }
  if (type === "angle") {
    return { angle: round(stats.angle), unit: "deg" };
  }
  return {
    mean: round(stats.mean),
    sd: round(stats.stdDev),
    min: round(stats.min),
    max: round(stats.max),
    area: round(stats.area),
    areaUnit: (stats.areaUnit as string) ?? null,
    unit: (stats.modalityUnit as string) ?? null,
  };
}

/** The first (normally only) target's cached statistics of an annotation. */
export function cachedStatsOf(annotation: ToolTypes.Annotation): Stats | undefined {
  const cached = (annotation.data as { cachedStats?: Record<string, Stats> }).cachedStats;
  if (!cached) {
    return undefined;
  }
  const key = Object.keys(cached)[0];
  return key ? cached[key] : undefined;
}

/** Whether the annotation's statistics have been computed (they are, on its first render). */
export function hasStatistics(annotation: ToolTypes.Annotation): boolean {
  const type = TOOL_TO_MEASUREMENT[annotation.metadata?.toolName ?? ""];
  const stats = cachedStatsOf(annotation);
  if (!type || !stats) {
    return false;
  }
  if (type === "length") return round(stats.length) !== null;
  if (type === "angle") return round(stats.angle) !== null;
  return round(stats.mean) !== null && round(stats.area) !== null;
}

export function measurementDetail(
  annotation: ToolTypes.Annotation,
  action: MeasurementDetail["action"],
  where: { viewportId: string; studyUid: string; seriesUid: string; sliceIndex: number },
): MeasurementDetail | null {
  const type = TOOL_TO_MEASUREMENT[annotation.metadata?.toolName ?? ""];
  if (!type) {
    return null;
  }
  const world = (annotation.data.handles?.points ?? []).map((point: Types.Point3) => [...point]);
  const imageId = annotation.metadata?.referencedImageId;
  const image = imageId
    ? world.map((point) => {
        const [column, row] = csUtils.worldToImageCoords(imageId, point as Types.Point3) ?? [NaN, NaN];
        return [column, row];
      })
    : null;
  return {
    action,
    annotationUID: annotation.annotationUID ?? "",
    type,
    ...where,
    geometry: {
      world,
      image,
      frameOfReferenceUid: annotation.metadata?.FrameOfReferenceUID ?? "",
      viewPlaneNormal: [...(annotation.metadata?.viewPlaneNormal ?? [])],
    },
    statistics: statisticsOf(type, cachedStatsOf(annotation)),
  };
}
