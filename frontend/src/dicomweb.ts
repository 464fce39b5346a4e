// DICOMweb access for the viewer: series metadata (WADO-RS), image ids for the DICOM image
// loader, and whole instances for DICOM SEG. The root is a parameter because readers see the
// same paths under a reader-scoped, blinded prefix.
import { cache, imageLoadPoolManager, imageRetrievalPoolManager } from "@cornerstonejs/core";
// The loader's subpath: its index would also pull the codecs (worker code) into the page.
import { wadors } from "@cornerstonejs/dicom-image-loader/imageLoader";

export interface DicomAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomAttribute>;

export const TAG = {
  sopClassUid: "00080016",
  sopInstanceUid: "00080018",
  modality: "00080060",
  seriesDescription: "0008103E",
  studyInstanceUid: "0020000D",
  seriesInstanceUid: "0020000E",
  instanceNumber: "00200013",
  imagePositionPatient: "00200032",
  imageOrientationPatient: "00200037",
  frameOfReferenceUid: "00200052",
  numberOfFrames: "00280008",
  rows: "00280010",
  columns: "00280011",
  windowCenter: "00281050",
  windowWidth: "00281051",
  segmentSequence: "00620002",
  segmentNumber: "0062000B",
  segmentLabel: "00620005",
  recommendedDisplayCIELab: "0062000D",
  sharedFunctionalGroups: "52009229",
  perFrameFunctionalGroups: "52009230",
  planePositionSequence: "00209113",
  planeOrientationSequence: "00209116",
  segmentIdentificationSequence: "0062000A",
  referencedSegmentNumber: "0062000B",
  derivationImageSequence: "00089124",
  sourceImageSequence: "00082112",
  referencedSopInstanceUid: "00081155",
} as const;

export const SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4";

export function first<T = unknown>(json: DicomJson | undefined, tag: string): T | undefined {
  return json?.[tag]?.Value?.[0] as T | undefined;
}

export function numbers(json: DicomJson | undefined, tag: string): number[] {
  return (json?.[tag]?.Value ?? []).map((value) => Number(value));
}

export function items(json: DicomJson | undefined, tag: string): DicomJson[] {
  return (json?.[tag]?.Value ?? []) as DicomJson[];
}

/** One series as the viewer uses it: its instances' metadata and the loader's image ids. */
export interface SeriesData {
  studyUid: string;
  seriesUid: string;
  modality: string;
  frameOfReferenceUid: string;
  description: string;
  /** Image ids in display order (one per frame); empty for a DICOM SEG. */
  imageIds: string[];
  /** Instance metadata in display order (one per instance). */
  instances: DicomJson[];
  isSegmentation: boolean;
}

export class DicomWebError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Absolute DICOMweb root on this origin, without a trailing slash. */
export function absoluteRoot(root: string): string {
  const url = new URL(root, window.location.origin);
  if (url.origin !== window.location.origin) {
    // Images never leave the platform's origin: the session cookie authorizes them.
    throw new Error(`dicomwebRoot must be on this origin, not ${url.origin}`);
  }
  return url.href.replace(/\/+$/, "");
}

async function getJson(url: string, signal?: AbortSignal): Promise<DicomJson[]> {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/dicom+json" },
    signal,
  });
  if (!response.ok) {
    throw new DicomWebError(`${response.status} ${response.statusText} for ${url}`, response.status);
  }
  return (await response.json()) as DicomJson[];
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function normalOf(orientation: number[]): number[] {
  const [rx, ry, rz, cx, cy, cz] = orientation;
  return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
}

/** Order instances along the slice normal, keeping the scanner's InstanceNumber direction. */
function sortInstances(instances: DicomJson[]): DicomJson[] {
  const orientation = numbers(instances[0], TAG.imageOrientationPatient);
  const positioned = instances.every((item) => numbers(item, TAG.imagePositionPatient).length === 3);
  if (orientation.length !== 6 || !positioned) {
    return [...instances].sort(
      (a, b) => Number(first(a, TAG.instanceNumber) ?? 0) - Number(first(b, TAG.instanceNumber) ?? 0),
    );
  }
  const normal = normalOf(orientation);
  const sorted = [...instances].sort(
    (a, b) =>
      dot(numbers(a, TAG.imagePositionPatient), normal) -
      dot(numbers(b, TAG.imagePositionPatient), normal),
  );
  const firstNumber = Number(first(sorted[0], TAG.instanceNumber) ?? 0);
  const lastNumber = Number(first(sorted[sorted.length - 1], TAG.instanceNumber) ?? 0);
  return firstNumber > lastNumber ? sorted.reverse() : sorted;
}

const registered = new Set<string>();
/** How many viewports (and overlays) use each series: shared series are freed by the last. */
const users = new Map<string, number>();
/** Frames still on the wire when a series is released get this long before it is freed. */
const RELEASE_GRACE_MS = 10_000;
const REUSE_WINDOW_MS = 1_000;

function seriesKey(series: Pick<SeriesData, "studyUid" | "seriesUid">): string {
  return `${series.studyUid}/${series.seriesUid}`;
}

/**
 * Fetch a series' metadata once (WADO-RS), register every frame with the image loader's
 * metadata manager, and return image ids in display order.
 */
declare global {
  interface Window {
    /** Metadata requests a page started before this script ran, by URL path (case page). */
    sagittalPrefetch?: Record<string, Promise<DicomJson[]>>;
  }
}

/** The series' WADO-RS metadata; no cornerstone needed, so it can start before cornerstone. */
export function fetchSeriesMetadata(
  root: string,
  studyUid: string,
  seriesUid: string,
  signal?: AbortSignal,
): Promise<DicomJson[]> {
  const url = `${absoluteRoot(root)}/studies/${studyUid}/series/${seriesUid}/metadata`;
  const path = new URL(url).pathname;
  const started = window.sagittalPrefetch?.[path];
  if (started) {
    delete window.sagittalPrefetch![path]; // once: later requests ask the server again
    return started;
  }
  return getJson(url, signal);
}

export async function loadSeries(
  root: string,
  studyUid: string,
  seriesUid: string,
  signal?: AbortSignal,
  metadata?: Promise<DicomJson[]>,
): Promise<SeriesData> {
  const base = `${absoluteRoot(root)}/studies/${studyUid}/series/${seriesUid}`;
  // Count the user before the first await: a viewport that lets go of this series in the same
  // moment (a layout change) must not free what is being loaded again.
  const key = seriesKey({ studyUid, seriesUid });
  users.set(key, (users.get(key) ?? 0) + 1);
  let fetched: DicomJson[];
  try {
    fetched = await (metadata ?? getJson(`${base}/metadata`, signal));
    if (!fetched.length) {
      throw new DicomWebError(`series ${seriesUid} has no instances`, 404);
    }
  } catch (error) {
    const left = (users.get(key) ?? 1) - 1;
    if (left > 0) users.set(key, left);
    else users.delete(key);
    throw error;
  }
  const isSegmentation = first(fetched[0], TAG.sopClassUid) === SEGMENTATION_STORAGE;
  const instances = isSegmentation ? fetched : sortInstances(fetched);
  const imageIds: string[] = [];
  if (!isSegmentation) {
    for (const instance of instances) {
      const sop = String(first(instance, TAG.sopInstanceUid));
      const frames = Number(first(instance, TAG.numberOfFrames) ?? 1) || 1;
      const instanceId = `wadors:${base}/instances/${sop}/frames/`;
      if (!registered.has(instanceId)) {
        // The manager keeps multi-frame metadata under frame 1 and derives the others.
        wadors.metaDataManager.add(`${instanceId}1`, instance as never);
        registered.add(instanceId);
      }
      for (let frame = 1; frame <= frames; frame += 1) {
        imageIds.push(`${instanceId}${frame}`);
      }
    }
  }
  return {
    studyUid,
    seriesUid,
    modality: String(first(instances[0], TAG.modality) ?? ""),
    frameOfReferenceUid: String(first(instances[0], TAG.frameOfReferenceUid) ?? ""),
    description: String(first(instances[0], TAG.seriesDescription) ?? ""),
    imageIds,
    instances,
    isSegmentation,
  };
}

/** The body of the first part of a multipart/related response. */
function firstPart(body: Uint8Array, contentType: string): Uint8Array {
  const match = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!match) {
    return body;
  }
  const text = new TextDecoder("latin1");
  // Headers are ASCII: search the first kilobytes only, never decode the pixel data.
  const head = text.decode(body.subarray(0, Math.min(body.length, 4096)));
  const start = head.indexOf("\r\n\r\n");
  if (start < 0) {
    throw new DicomWebError("malformed multipart response", 502);
  }
  const closing = new TextEncoder().encode(`\r\n--${match[1]}`);
  let end = body.length - closing.length;
  for (; end > start; end -= 1) {
    let same = true;
    for (let i = 0; i < closing.length && same; i += 1) {
      same = body[end + i] === closing[i];
    }
    if (same) {
      break;
    }
  }
  return body.subarray(start + 4, end);
}

/** A whole instance as DICOM Part-10 bytes (WADO-RS retrieve instance). */
export async function retrieveInstance(
  root: string,
  studyUid: string,
  seriesUid: string,
  sopUid: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const url = `${absoluteRoot(root)}/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}`;
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: 'multipart/related; type="application/dicom"' },
    signal,
  });
  if (!response.ok) {
    throw new DicomWebError(`${response.status} ${response.statusText} for ${url}`, response.status);
  }
  const body = new Uint8Array(await response.arrayBuffer());
  return firstPart(body, response.headers.get("Content-Type") ?? "");
}

/** Django's CSRF token (cookie), for the header of any unsafe request the viewer makes. */
export function csrfToken(): string {
  // The page's meta tag works even where the cookie is HttpOnly (CSRF_COOKIE_HTTPONLY).
  const meta = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content;
  if (meta) {
    return meta;
  }
  const match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]) : "";
}

/** fetch() on the platform's origin with the session cookie and, when unsafe, the CSRF header. */
export function platformFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers);
  if (!["GET", "HEAD", "OPTIONS", "TRACE"].includes(method)) {
    headers.set("X-CSRFToken", csrfToken());
  }
  return fetch(url, { ...init, method, headers, credentials: "same-origin" });
}

/**
 * A viewport no longer shows ``series``: drop its queued frame requests and, once no viewport
 * uses it and its frames in flight have landed, its decoded images and registered metadata.
 */
export async function releaseSeries(series: SeriesData): Promise<void> {
  const key = seriesKey(series);
  const left = (users.get(key) ?? 1) - 1;
  if (left > 0) {
    users.set(key, left);
    return;
  }
  users.delete(key);
  const ids = new Set(series.imageIds);
  const keep = ({ additionalDetails }: { additionalDetails?: { imageId?: string } }): boolean =>
    !additionalDetails?.imageId || !ids.has(additionalDetails.imageId);
  imageRetrievalPoolManager.filterRequests(keep as never);
  imageLoadPoolManager.filterRequests(keep as never);
  const inFlight = series.imageIds
    .map((imageId) => cache.getImageLoadObject(imageId)?.promise)
    .filter((promise): promise is Promise<never> => Boolean(promise));
  // Requests dropped from the queue never settle: wait for the others, or for the grace time.
  await Promise.race([
    Promise.allSettled(inFlight),
    new Promise((resolve) => setTimeout(resolve, RELEASE_GRACE_MS)),
  ]);
  // A viewer mounted right after (the next case, a new layout) may take the series again.
  await new Promise((resolve) => setTimeout(resolve, REUSE_WINDOW_MS));
  if (users.has(key)) {
    return; // shown again meanwhile: keep everything
  }
  for (const imageId of series.imageIds) {
    if (cache.getImageLoadObject(imageId)) {
      cache.removeImageLoadObject(imageId, { force: true });
    }
    const instanceId = imageId.slice(0, imageId.lastIndexOf("/") + 1);
    if (registered.delete(instanceId)) {
      wadors.metaDataManager.remove(`${instanceId}1`);
    }
  }
}
