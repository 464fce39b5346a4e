// The Sagittal viewer component: a layout of viewports bound to DICOMweb series, with
// reading tools, window presets, slice synchronization and segmentation overlays.
// Public contract (used by the reading workstation): see frontend/README.md.
import {
  Enums as CoreEnums,
  RenderingEngine,
  cache,
  eventTarget,
  imageLoader,
  utilities as csUtils,
  volumeLoader,
  type Types,
} from "@cornerstonejs/core";
import type { Types as ToolTypes } from "@cornerstonejs/tools";
import {
  type DicomJson,
  type SeriesData,
  absoluteRoot,
  fetchSeriesMetadata,
  loadSeries,
  releaseSeries,
} from "./dicomweb";
import {
  type MeasurementDetail,
  TOOL_TO_MEASUREMENT,
  hasStatistics,
  measurementDetail,
} from "./measurements";
import { type SliceLabels, labelsFromMaskSeries, labelsFromSeg } from "./overlay";
import {
  CT_PRESETS,
  PRESET_LABELS,
  type Window,
  type WindowPresetName,
  autoWindow,
  isPresetName,
} from "./presets";
import { type ToolsModule, loadTools, startRuntime, toolsListening } from "./runtime";
import { SHORTCUTS, type Action, actionForKey, keyLabel } from "./shortcuts";
import { SliceSync } from "./sync";
import { _, fmt } from "./i18n";

export type Layout = "1x1" | "1x2" | "2x1" | "2x2";
export type ViewType = "stack" | "axial" | "sagittal" | "coronal" | "volume3d";

export interface SeriesRef {
  studyUid: string;
  seriesUid: string;
}

export interface ViewportSpec extends SeriesRef {
  id: string;
  label?: string;
  type?: ViewType;
  overlay?: SeriesRef;
  windowPreset?: WindowPresetName;
}

export interface MountOptions {
  dicomwebRoot?: string;
  layout?: Layout;
  viewports: ViewportSpec[];
  syncSlices?: boolean;
  /** Text (or a node) for the header slot, e.g. "Case 3 of 25". */
  header?: string | Node;
  onNext?: () => void;
  onPrevious?: () => void;
  /** Show the toolbar (default true). The reading workstation may bring its own. */
  toolbar?: boolean;
  /** First slice shown: "middle" (default) or "first". */
  initialSlice?: "middle" | "first";
}

export interface ViewportState {
  id: string;
  label: string;
  type: ViewType;
  studyUid: string;
  seriesUid: string;
  modality: string;
  frameOfReferenceUid: string;
  ready: boolean;
  error: string | null;
  sliceIndex: number;
  numberOfSlices: number;
  /** Slices of this view that show at full quality (all of them once its images are in). */
  slicesLoaded: number;
  /** Source images (frames) of the series loaded and decoded, and their number. */
  imagesLoaded: number;
  imagesTotal: number;
  windowWidth: number | null;
  windowCenter: number | null;
  overlay: { seriesUid: string; visible: boolean; opacity: number; ready: boolean } | null;
}

export interface ViewerState {
  layout: Layout;
  activeViewportId: string | null;
  activeTool: string;
  viewports: ViewportState[];
}

export interface SagittalViewer {
  readonly element: HTMLElement;
  /** Resolves when every viewport shows its first image (or failed). */
  readonly ready: Promise<void>;
  getState(): ViewerState;
  setSlice(viewportId: string, index: number): Promise<void>;
  setWindow(viewportId: string, window: Window): void;
  applyPreset(viewportId: string, preset: WindowPresetName): void;
  setActiveTool(toolName: string): void;
  setActiveViewport(viewportId: string): void;
  resetView(viewportId?: string): void;
  setOverlayVisible(visible: boolean, viewportId?: string): void;
  setOverlayOpacity(opacity: number, viewportId?: string): void;
  setHeader(content: string | Node): void;
  setLayout(layout: Layout): void;
  /** Replace the series of a viewport (the case viewer's drag and drop). */
  setViewport(spec: ViewportSpec): Promise<void>;
  /** Client (page) coordinates of an image pixel [column, row] on the current slice. */
  imageToClient(viewportId: string, point: [number, number]): { x: number; y: number };
  toggleHelp(show?: boolean): void;
  destroy(): void;
}

// Tool names (cornerstone's toolName): the tools module itself loads after the first image.
const MANIPULATION_TOOLS = ["WindowLevel", "Zoom", "Pan"];
const ANNOTATION_TOOLS = ["Length", "Angle", "EllipticalROI", "RectangleROI"];
const TOOL_LABELS: Record<string, string> = {
  WindowLevel: _("W/L"),
  Zoom: _("Zoom"),
  Pan: _("Pan"),
  Length: _("Length"),
  Angle: _("Angle"),
  EllipticalROI: _("Ellipse ROI"),
  RectangleROI: _("Rect ROI"),
};
/** Bindings a tool keeps whatever the left button does (PACS habits). */
function baseBindings(cst: ToolsModule): Record<string, ToolTypes.IToolBinding[]> {
  const { MouseBindings } = cst.Enums;
  return {
    Zoom: [{ mouseButton: MouseBindings.Secondary }],
    Pan: [{ mouseButton: MouseBindings.Auxiliary }],
    StackScroll: [{ mouseButton: MouseBindings.Wheel }],
  };
}
const OVERLAY_OPACITY = 0.5;
const PAINT_TIMEOUT_MS = 2000;
/** Mask colour in fused (MPR, 3D) viewports: amber, apart from bone and from the red labelmap. */
const MASK_RGB: [number, number, number] = [1, 0.75, 0.1];
/** Opacity over HU of the 3D bone rendering: nothing below dense bone. */
const BONE_OPACITY: Array<[number, number]> = [
  [-1024, 0],
  [180, 0],
  [300, 0.12],
  [700, 0.5],
  [3071, 0.8],
];
/** 3D viewports open looking at the spine from behind, head up: the surgeon's view. */
const POSTERIOR_VIEW = { viewPlaneNormal: [0, 1, 0], viewUp: [0, 0, 1] } as {
  viewPlaneNormal: Types.Point3;
  viewUp: Types.Point3;
};

let mountCounter = 0;

interface Overlay {
  ref: SeriesRef;
  series: SeriesData | null;
  segmentationId: string;
  labelmapImageIds: string[];
  labelmapVolumeId: string | null;
  visible: boolean;
  opacity: number;
  ready: boolean;
}

interface Slot {
  spec: ViewportSpec;
  /** The tools know this viewport's element (they listen for it, or were told). */
  attached: boolean;
  type: ViewType;
  viewportId: string;
  cell: HTMLDivElement;
  host: HTMLDivElement;
  info: HTMLDivElement;
  message: HTMLDivElement;
  series: SeriesData | null;
  volumeId: string | null;
  overlay: Overlay | null;
  ready: boolean;
  error: string | null;
  loaded: Set<string>;
  abort: AbortController;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function orientationOf(type: ViewType): CoreEnums.OrientationAxis {
  const { OrientationAxis } = CoreEnums;
  if (type === "sagittal") return OrientationAxis.SAGITTAL;
  if (type === "coronal") return OrientationAxis.CORONAL;
  return OrientationAxis.AXIAL;
}

function viewportTypeOf(type: ViewType): CoreEnums.ViewportType {
  const { ViewportType } = CoreEnums;
  if (type === "stack") return ViewportType.STACK;
  if (type === "volume3d") return ViewportType.VOLUME_3D;
  return ViewportType.ORTHOGRAPHIC;
}

function validate(options: MountOptions): void {
  if (!options || !Array.isArray(options.viewports) || !options.viewports.length) {
    throw new Error("SagittalViewer.mount needs options.viewports (at least one)");
  }
  const ids = new Set<string>();
  for (const spec of options.viewports) {
    if (!spec.id || ids.has(spec.id)) {
      throw new Error(`viewport ids must be unique and non-empty (got ${JSON.stringify(spec.id)})`);
    }
    ids.add(spec.id);
    if (!spec.studyUid || !spec.seriesUid) {
      throw new Error(`viewport ${spec.id} needs studyUid and seriesUid`);
    }
    if (spec.windowPreset !== undefined && !isPresetName(spec.windowPreset)) {
      throw new Error(`unknown window preset ${JSON.stringify(spec.windowPreset)}`);
    }
  }
}

function capacity(layout: Layout): number {
  return layout === "1x1" ? 1 : layout === "2x2" ? 4 : 2;
}

/** Mount a viewer into ``element``; see frontend/README.md for the contract. */
export async function mount(element: HTMLElement, options: MountOptions): Promise<SagittalViewer> {
  validate(options);
  const root = absoluteRoot(options.dicomwebRoot ?? "/dicomweb");
  const openingIndex = (count: number): number =>
    options.initialSlice === "first" ? 0 : Math.floor((count - 1) / 2);
  // The metadata requests need no cornerstone: they run while it starts (WebGL checks, decode
  // workers), which is on the way to the first image.
  const early = new Map<string, Promise<DicomJson[]>>();
  for (const spec of options.viewports) {
    const key = `${spec.studyUid}/${spec.seriesUid}`;
    if (!early.has(key)) {
      const request = fetchSeriesMetadata(root, spec.studyUid, spec.seriesUid);
      request.catch(() => undefined); // reported by the viewport that uses it
      early.set(key, request);
    }
  }
  await startRuntime();
  // Each viewport's series, and the image it opens on, start loading now: the network and the
  // decode workers fetch while the page builds the viewports (WebGL contexts, on this thread).
  const opening = new Map<ViewportSpec, Promise<SeriesData>>();
  for (const spec of options.viewports) {
    const key = `${spec.studyUid}/${spec.seriesUid}`;
    const series = loadSeries(root, spec.studyUid, spec.seriesUid, undefined, early.get(key));
    opening.set(
      spec,
      series.then((loaded) => {
        const type = spec.type ?? "stack";
        if (type === "stack" && loaded.imageIds.length) {
          const first = loaded.imageIds[openingIndex(loaded.imageIds.length)];
          imageLoader.loadAndCacheImage(first).catch(() => undefined); // setStack reports it
        }
        return loaded;
      }),
    );
    series.catch(() => undefined); // reported by the viewport that uses it
  }
  mountCounter += 1;
  const engineId = `sagittal-${mountCounter}`;
  const toolGroupId = `${engineId}-2d`;
  const toolGroup3dId = `${engineId}-3d`;
  let layout: Layout = options.layout ?? (options.viewports.length > 1 ? "1x2" : "1x1");
  let activeTool = "WindowLevel";
  let activeSlot: Slot | null = null;
  let destroyed = false;
  const cleanups: Array<() => void> = [];

  // --- DOM ---------------------------------------------------------------------------------
  element.replaceChildren();
  const rootEl = el("div", "sv-root");
  rootEl.tabIndex = 0;
  const header = el("div", "sv-header");
  const headerSlot = el("div", "sv-header-slot");
  const nav = el("div", "sv-nav");
  header.append(headerSlot, nav);
  const toolbar = el("div", "sv-toolbar");
  const grid = el("div", `sv-grid sv-layout-${layout}`);
  const help = el("div", "sv-help");
  help.hidden = true;
  rootEl.append(header, toolbar, grid, help);
  element.append(rootEl);

  const dispatch = (name: string, detail: unknown): void => {
    element.dispatchEvent(new CustomEvent(`sagittal:${name}`, { detail, bubbles: true }));
  };

  const setHeader = (content: string | Node): void => {
    headerSlot.replaceChildren(typeof content === "string" ? document.createTextNode(content) : content);
  };
  if (options.header !== undefined) {
    setHeader(options.header);
  }
  const navButton = (label: string, title: string, callback: () => void): void => {
    const button = el("button", "sv-button", label);
    button.type = "button";
    button.title = title;
    button.addEventListener("click", callback);
    nav.append(button);
  };
  if (options.onPrevious) navButton(_("◀ Previous"), _("Previous case (B)"), options.onPrevious);
  if (options.onNext) navButton(_("Next ▶"), _("Next case (N)"), options.onNext);

  // --- cornerstone -------------------------------------------------------------------------
  const engine = new RenderingEngine(engineId);
  // The tools arrive after the first image (see runtime.ts); until then viewports show images
  // and scroll with the keyboard, and tool choices wait.
  let cst: ToolsModule | null = null;
  let toolGroup: ToolTypes.IToolGroup | null = null;
  let toolGroup3d: ToolTypes.IToolGroup | null = null;
  let toolsReady: Promise<ToolsModule> = new Promise(() => undefined);
  const groupOf = (slot: Slot): ToolTypes.IToolGroup | null =>
    slot.type === "volume3d" ? toolGroup3d : toolGroup;

  const slots: Slot[] = [];
  const slotById = (id: string): Slot => {
    const slot = slots.find((candidate) => candidate.spec.id === id);
    if (!slot) {
      throw new Error(`no viewport ${JSON.stringify(id)}`);
    }
    return slot;
  };
  const viewportOf = (slot: Slot): Types.IViewport => engine.getViewport(slot.viewportId);
  const sync = new SliceSync(() => slots.filter((slot) => slot.ready).map(viewportOf));

  // --- per-viewport state --------------------------------------------------------------------
  const sliceInfo = (slot: Slot): { index: number; count: number } => {
    if (!slot.ready || slot.type === "volume3d") {
      return { index: 0, count: slot.series?.imageIds.length ?? 0 };
    }
    const viewport = viewportOf(slot) as Types.IStackViewport | Types.IVolumeViewport;
    return { index: viewport.getSliceIndex(), count: viewport.getNumberOfSlices() };
  };

  const currentWindow = (slot: Slot): Window | null => {
    if (!slot.ready || slot.type === "volume3d") {
      return null;
    }
    const viewport = viewportOf(slot);
    const properties =
      slot.type === "stack"
        ? (viewport as Types.IStackViewport).getProperties()
        : (viewport as Types.IVolumeViewport).getProperties(slot.volumeId ?? undefined);
    const range = properties?.voiRange;
    if (!range) {
      return null;
    }
    const { windowWidth, windowCenter } = csUtils.windowLevel.toWindowLevel(range.lower, range.upper);
    return { width: windowWidth, center: windowCenter };
  };

  const total = (slot: Slot): number => slot.series?.imageIds.length ?? 0;

  const loadedCount = (slot: Slot): number => {
    if (!slot.series) {
      return 0;
    }
    if (slot.volumeId) {
      const volume = cache.getVolume(slot.volumeId) as
        | (Types.IImageVolume & { framesLoaded?: number; loadStatus?: { loaded?: boolean } })
        | undefined;
      if (volume?.loadStatus?.loaded) {
        return slot.series.imageIds.length;
      }
      return volume?.framesLoaded ?? 0;
    }
    return slot.series.imageIds.filter((imageId) => slot.loaded.has(imageId) && cache.getImage(imageId))
      .length;
  };

  const updateInfo = (slot: Slot): void => {
    if (!slot.ready) {
      return;
    }
    const { index, count } = sliceInfo(slot);
    const window = currentWindow(slot);
    const parts = slot.type === "volume3d" ? ["3D"] : [`Im ${index + 1}/${count}`];
    if (window) {
      parts.push(`W ${Math.round(window.width)} L ${Math.round(window.center)}`);
    }
    slot.info.textContent = parts.join("  ·  ");
  };

  const showMessage = (slot: Slot, text: string): void => {
    slot.message.textContent = text;
    slot.message.hidden = !text;
  };

  const failed = (slot: Slot, error: unknown): void => {
    if (destroyed || (error instanceof DOMException && error.name === "AbortError")) {
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    slot.error = message;
    showMessage(slot, fmt(_("Cannot show this series: %(reason)s"), { reason: message }));
    dispatch("error", { viewportId: slot.spec.id, message });
  };

  // --- window --------------------------------------------------------------------------------
  const setWindowOn = (slot: Slot, window: Window): void => {
    if (!slot.ready || slot.type === "volume3d") {
      return;
    }
    const voiRange = csUtils.windowLevel.toLowHighRange(window.width, window.center);
    const viewport = viewportOf(slot);
    if (slot.type === "stack") {
      (viewport as Types.IStackViewport).setProperties({ voiRange });
    } else {
      (viewport as Types.IVolumeViewport).setProperties({ voiRange }, slot.volumeId ?? undefined);
    }
    viewport.render();
    updateInfo(slot);
  };

  const autoWindowOf = (slot: Slot): Window => {
    const viewport = viewportOf(slot);
    if (slot.type === "stack") {
      const image = (viewport as Types.IStackViewport).getCornerstoneImage();
      return autoWindow(image.getPixelData());
    }
    const volume = cache.getVolume(slot.volumeId!);
    const values = volume?.voxelManager?.getCompleteScalarDataArray?.() ?? [];
    // A strided sample is enough for percentiles and keeps this instant on big volumes.
    const stride = Math.max(1, Math.floor(values.length / 500_000));
    const sample = new Float32Array(Math.ceil(values.length / stride));
    for (let i = 0, j = 0; i < values.length; i += stride, j += 1) {
      sample[j] = values[i];
    }
    return autoWindow(sample);
  };

  const applyPresetOn = (slot: Slot, preset: WindowPresetName): void => {
    if (!slot.ready || slot.type === "volume3d") {
      return;
    }
    setWindowOn(slot, preset === "mri-auto" ? autoWindowOf(slot) : CT_PRESETS[preset]);
  };

  // --- overlays ------------------------------------------------------------------------------
  /** Colour and opacity of a mask volume fused into an MPR or 3D viewport. */
  const styleMaskActor = (slot: Slot, overlay: Overlay): void => {
    const entry = viewportOf(slot)
      .getActors()
      .find((candidate) => candidate.referencedId === overlay.labelmapVolumeId);
    const actor = entry?.actor as unknown as Types.VolumeActor | undefined;
    if (!actor) {
      return;
    }
    const property = actor.getProperty();
    const colour = property.getRGBTransferFunction(0);
    colour.removeAllPoints();
    colour.addRGBPoint(0, 0, 0, 0);
    colour.addRGBPoint(1, ...MASK_RGB);
    const opacity = property.getScalarOpacity(0);
    opacity.removeAllPoints();
    opacity.addPoint(0, 0);
    opacity.addPoint(0.5, 0);
    opacity.addPoint(1, overlay.opacity);
    property.setInterpolationTypeToNearest();
    // Opacity per 0.1 mm of ray: a one-voxel MPR slab shows the mask at the chosen opacity
    // instead of the faint tint a millimetre-based unit distance gives a thin slab.
    property.setScalarOpacityUnitDistance(0, 0.1);
    actor.setVisibility(overlay.visible);
  };

  const overlayStyle = (slot: Slot): void => {
    const overlay = slot.overlay;
    if (!overlay?.ready) {
      return;
    }
    if (slot.type !== "stack") {
      styleMaskActor(slot, overlay);
    } else if (cst) {
      const { segmentation } = cst;
      const type = cst.Enums.SegmentationRepresentations.Labelmap;
      segmentation.config.style.setStyle(
        { viewportId: slot.viewportId, segmentationId: overlay.segmentationId, type },
        { fillAlpha: overlay.opacity, renderOutline: true, outlineOpacity: 1 },
      );
      segmentation.config.visibility.setSegmentationRepresentationVisibility(
        slot.viewportId,
        { segmentationId: overlay.segmentationId, type },
        overlay.visible,
      );
    }
    viewportOf(slot).render();
  };

  const removeOverlay = (slot: Slot): void => {
    const overlay = slot.overlay;
    slot.overlay = null;
    if (!overlay) {
      return;
    }
    try {
      cst?.segmentation.removeSegmentation(overlay.segmentationId);
    } catch {
      // Not registered yet (the overlay failed or was still loading): nothing to remove.
    }
    for (const imageId of overlay.labelmapImageIds) {
      if (cache.getImageLoadObject(imageId)) cache.removeImageLoadObject(imageId, { force: true });
    }
    if (overlay.labelmapVolumeId && cache.getVolume(overlay.labelmapVolumeId)) {
      cache.removeVolumeLoadObject(overlay.labelmapVolumeId);
    }
    if (overlay.series) void releaseSeries(overlay.series);
  };

  const createMaskVolume = (slot: Slot, volumeId: string, labels: SliceLabels): void => {
    const reference = slot.series!;
    const volume = cache.getVolume(slot.volumeId!);
    if (!volume) {
      throw new Error("the volume of this viewport is gone");
    }
    const [columns, rows, depth] = volume.dimensions;
    const sliceSize = columns * rows;
    const data = new Uint8Array(sliceSize * depth);
    // The volume orders its frames itself; map each through its image id.
    const position = new Map(reference.imageIds.map((imageId, i) => [imageId, i]));
    volume.imageIds.forEach((imageId, k) => {
      const slice = labels.get(position.get(imageId) ?? -1);
      if (slice) data.set(slice, k * sliceSize);
    });
    const mask = volumeLoader.createAndCacheDerivedLabelmapVolume(volume.volumeId, { volumeId });
    mask.voxelManager?.setCompleteScalarDataArray?.(data);
    // Voxels written behind the texture's back: every frame must be uploaded again.
    (mask as Types.IImageVolume & { invalidate?: () => void }).invalidate?.();
  };

  const loadOverlay = async (slot: Slot): Promise<void> => {
    const ref = slot.spec.overlay;
    if (!ref || !slot.series) {
      return;
    }
    const segmentationId = `${slot.viewportId}:overlay:${ref.seriesUid}`;
    const overlay: Overlay = {
      ref,
      series: null,
      segmentationId,
      labelmapImageIds: [],
      labelmapVolumeId: null,
      visible: true,
      opacity: OVERLAY_OPACITY,
      ready: false,
    };
    slot.overlay = overlay;
    const series = await loadSeries(root, ref.studyUid, ref.seriesUid, slot.abort.signal);
    overlay.series = series;
    if (slot.overlay !== overlay) {
      void releaseSeries(series);
      return;
    }
    const labels = series.isSegmentation
      ? await labelsFromSeg(root, series, slot.series, slot.abort.signal)
      : await labelsFromMaskSeries(series, slot.series);
    if (destroyed || slot.overlay !== overlay) {
      return;
    }
    if (slot.type === "stack") {
      const { segmentation, Enums } = await toolsReady;
      if (destroyed || slot.overlay !== overlay) return;
      const type = Enums.SegmentationRepresentations.Labelmap;
      const images = imageLoader.createAndCacheDerivedLabelmapImages(slot.series.imageIds);
      overlay.labelmapImageIds = images.map((image) => image.imageId);
      images.forEach((image, i) => {
        const slice = labels.get(i);
        if (slice) image.voxelManager?.setScalarData(slice as Types.PixelDataTypedArray);
      });
      segmentation.addSegmentations([
        {
          segmentationId,
          representation: { type, data: { imageIds: overlay.labelmapImageIds } },
        },
      ]);
      await segmentation.addLabelmapRepresentationToViewport(slot.viewportId, [{ segmentationId }]);
    } else {
      // MPR and 3D viewports fuse the mask as a second volume: the same colour and opacity
      // controls in both, and it renders in 3D where a labelmap representation cannot.
      const labelmapVolumeId = `${segmentationId}:volume`;
      createMaskVolume(slot, labelmapVolumeId, labels);
      overlay.labelmapVolumeId = labelmapVolumeId;
      await (viewportOf(slot) as Types.IVolumeViewport).addVolumes([
        { volumeId: labelmapVolumeId, visibility: true },
      ]);
    }
    overlay.ready = true;
    overlayStyle(slot);
  };

  /**
   * The "CT-Bone" preset starts its opacity ramp at soft tissue, which hides the spine behind
   * the body wall; spine planning wants bone alone, the canal visible between the laminae.
   */
  const boneOnly = (viewport: Types.IViewport, volumeId: string): void => {
    const entry = viewport.getActors().find((candidate) => candidate.referencedId === volumeId);
    const actor = entry?.actor as unknown as Types.VolumeActor | undefined;
    if (!actor) return;
    const opacity = actor.getProperty().getScalarOpacity(0);
    opacity.removeAllPoints();
    for (const [hu, alpha] of BONE_OPACITY) opacity.addPoint(hu, alpha);
  };

  // --- loading a series into a viewport ------------------------------------------------------
  const prefetch = (slot: Slot, imageIds: string[], start: number): void => {
    // Nearest slices first: scrolling from the first image finds its neighbours decoded.
    const order = imageIds
      .map((imageId, i) => ({ imageId, distance: Math.abs(i - start) }))
      .sort((a, b) => a.distance - b.distance);
    for (const { imageId } of order) {
      if (cache.getImage(imageId)) {
        slot.loaded.add(imageId);
        continue;
      }
      imageLoader
        .loadAndCacheImage(imageId, { priority: 0, requestType: CoreEnums.RequestType.Prefetch })
        .then(() => {
          slot.loaded.add(imageId);
          if (!destroyed && slot.loaded.size === imageIds.length) {
            dispatch("loaded", { viewportId: slot.spec.id, slices: imageIds.length });
          }
        })
        .catch((error: unknown) => failed(slot, error));
    }
  };

  const loadSlot = async (slot: Slot): Promise<void> => {
    showMessage(slot, _("Loading…"));
    const { spec } = slot;
    const opened = opening.get(spec);
    opening.delete(spec); // used once: a later setViewport loads its own
    const series = await (opened ??
      loadSeries(root, spec.studyUid, spec.seriesUid, slot.abort.signal));
    if (destroyed || slot.abort.signal.aborted) {
      void releaseSeries(series);
      return;
    }
    if (series.isSegmentation) {
      throw new Error("a segmentation is shown as an overlay on its image series, not on its own");
    }
    slot.series = series;
    const viewport = viewportOf(slot);
    const start = openingIndex(series.imageIds.length);
    if (slot.type === "stack") {
      await (viewport as Types.IStackViewport).setStack(series.imageIds, start);
      prefetch(slot, series.imageIds, start);
    } else {
      // One volume per series and viewer: MPR and 3D viewports of a series share it.
      const volumeId = `cornerstoneStreamingImageVolume:${engineId}:${series.seriesUid}`;
      slot.volumeId = volumeId;
      const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds: series.imageIds });
      const streaming = volume as unknown as {
        load?: (callback: () => void) => void;
        invalidateVolume?: (immediate: boolean) => void;
      };
      // Frames another viewport had decoded already must reach this volume's texture too.
      streaming.load?.(() => {
        if (!destroyed) streaming.invalidateVolume?.(true);
      });
      await (viewport as Types.IVolumeViewport).setVolumes([{ volumeId }]);
      if (slot.type === "volume3d") {
        (viewport as Types.IVolumeViewport).setProperties({ preset: "CT-Bone" });
        boneOnly(viewport, volumeId);
      }
    }
    if (destroyed) return;
    slot.ready = true;
    showMessage(slot, "");
    // Without a preset, CT keeps the window stored in its header; MR has no absolute scale.
    const preset = spec.windowPreset ?? (series.modality === "MR" ? "mri-auto" : undefined);
    if (preset) {
      applyPresetOn(slot, preset);
    }
    updateInfo(slot);
    // "Ready" means painted: the reading workstation starts its clock on it.
    await nextPaint(slot);
    // The overlay follows on its own; the image is not held back for it.
    void loadOverlay(slot)
      .then(() => {
        if (slot.overlay?.ready && !destroyed) dispatch("overlay", { viewportId: spec.id });
      })
      .catch((error: unknown) => failed(slot, error));
  };

  const nextPaint = (slot: Slot): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        slot.host.removeEventListener(CoreEnums.Events.IMAGE_RENDERED, done);
        clearTimeout(timer);
        resolve();
      };
      // A viewport hidden by the layout never paints: do not wait for it forever.
      const timer = setTimeout(done, PAINT_TIMEOUT_MS);
      slot.host.addEventListener(CoreEnums.Events.IMAGE_RENDERED, done);
      viewportOf(slot).render();
    });

  // --- measurements --------------------------------------------------------------------------
  const slotOfAnnotation = (annotation: ToolTypes.Annotation): Slot | null => {
    const imageId = annotation.metadata?.referencedImageId;
    if (imageId) {
      const found = slots.find((slot) => slot.type === "stack" && slot.series?.imageIds.includes(imageId));
      if (found) return found;
    }
    const forUid = annotation.metadata?.FrameOfReferenceUID;
    if (activeSlot?.series?.frameOfReferenceUid === forUid) return activeSlot;
    return null;
  };

  const emitted = new Map<string, string>();
  const emitMeasurement = (annotation: ToolTypes.Annotation, action: MeasurementDetail["action"]): void => {
    if (!TOOL_TO_MEASUREMENT[annotation.metadata?.toolName ?? ""]) return;
    const slot = slotOfAnnotation(annotation);
    if (!slot?.series) return;
    const imageId = annotation.metadata?.referencedImageId;
    const sliceIndex =
      imageId && slot.type === "stack" ? slot.series.imageIds.indexOf(imageId) : sliceInfo(slot).index;
    const detail = measurementDetail(annotation, action, {
      viewportId: slot.spec.id,
      studyUid: slot.series.studyUid,
      seriesUid: slot.series.seriesUid,
      sliceIndex,
    });
    if (!detail) return;
    const key = JSON.stringify([detail.geometry.world, detail.statistics]);
    if (action !== "removed" && emitted.get(detail.annotationUID) === key) return;
    emitted.set(detail.annotationUID, key);
    if (action === "removed") emitted.delete(detail.annotationUID);
    dispatch("measurement", detail);
  };

  // Statistics are computed on render, which may come after the tool reports completion:
  // a measurement leaves only with statistics of its final handles (fresh on completion, or
  // the "stats updated" that follows), and again whenever they change.
  const pending = new Set<string>();
  const onAnnotation = (event: Event): void => {
    const { annotation, changeType } = (
      event as CustomEvent<{ annotation: ToolTypes.Annotation; changeType?: string }>
    ).detail;
    if (!annotation?.annotationUID) return;
    const uid = annotation.annotationUID;
    if (!cst) return;
    const { Events, ChangeTypes } = cst.Enums;
    if (event.type === Events.ANNOTATION_REMOVED) {
      pending.delete(uid);
      if (emitted.has(uid)) emitMeasurement(annotation, "removed");
      return;
    }
    const fresh =
      event.type === Events.ANNOTATION_COMPLETED
        ? !annotation.invalidated
        : changeType === ChangeTypes.StatsUpdated;
    if (event.type === Events.ANNOTATION_COMPLETED) pending.add(uid);
    if (!fresh || (!pending.has(uid) && !emitted.has(uid)) || !hasStatistics(annotation)) return;
    const first = !emitted.has(uid);
    pending.delete(uid);
    emitMeasurement(annotation, first ? "completed" : "modified");
  };

  // --- building the viewports ----------------------------------------------------------------
  const buildSlot = (spec: ViewportSpec): Slot => {
    const type = spec.type ?? "stack";
    const cell = el("div", "sv-cell");
    cell.dataset.viewport = spec.id;
    const host = el("div", "sv-viewport");
    // The browser's context menu would swallow the right-button zoom.
    host.addEventListener("contextmenu", (event) => event.preventDefault());
    const label = el("div", "sv-corner sv-label", spec.label ?? "");
    const info = el("div", "sv-corner sv-info");
    const message = el("div", "sv-message");
    message.hidden = true;
    cell.append(host, label, info, message);
    const slot: Slot = {
      spec,
      attached: false,
      type,
      viewportId: `${engineId}-${spec.id}`,
      cell,
      host,
      info,
      message,
      series: null,
      volumeId: null,
      overlay: null,
      ready: false,
      error: null,
      loaded: new Set(),
      abort: new AbortController(),
    };
    cell.addEventListener("pointerdown", () => activate(slot));
    for (const name of [
      CoreEnums.Events.STACK_NEW_IMAGE,
      CoreEnums.Events.VOLUME_NEW_IMAGE,
      CoreEnums.Events.VOI_MODIFIED,
    ]) {
      host.addEventListener(name, () => {
        updateInfo(slot);
        if (name !== CoreEnums.Events.VOI_MODIFIED && slot.ready) {
          if (options.syncSlices !== false) sync.follow(viewportOf(slot));
          dispatch("slice", { viewportId: spec.id, sliceIndex: sliceInfo(slot).index });
        }
      });
    }
    return slot;
  };

  const enable = (slot: Slot): void => {
    engine.enableElement({
      viewportId: slot.viewportId,
      type: viewportTypeOf(slot.type),
      element: slot.host,
      defaultOptions: {
        orientation:
          slot.type === "stack"
            ? undefined
            : slot.type === "volume3d"
              ? POSTERIOR_VIEW
              : orientationOf(slot.type),
        background: [0, 0, 0] as Types.Point3,
      },
    });
    // Enabled after the tools started: they saw the element appear and set it up themselves.
    slot.attached = toolsListening();
    if (slot.attached) groupOf(slot)?.addViewport(slot.viewportId, engineId);
  };

  const release = (slot: Slot): void => {
    slot.abort.abort();
    removeOverlay(slot);
    try {
      groupOf(slot)?.removeViewports(engineId, slot.viewportId);
    } catch {
      // Tool groups tolerate viewports that were never added; nothing else to undo here.
    }
    if (engine.getViewport(slot.viewportId)) engine.disableElement(slot.viewportId);
    const volumeShared = slots.some((other) => other !== slot && other.volumeId === slot.volumeId);
    if (slot.volumeId && !volumeShared && cache.getVolume(slot.volumeId)) {
      cache.removeVolumeLoadObject(slot.volumeId);
    }
    if (slot.series) void releaseSeries(slot.series);
  };

  const activate = (slot: Slot): void => {
    activeSlot = slot;
    for (const other of slots) other.cell.classList.toggle("sv-active", other === slot);
    rootEl.focus({ preventScroll: true });
  };

  const arrange = (): void => {
    grid.className = `sv-grid sv-layout-${layout}`;
    const visible = capacity(layout);
    slots.forEach((slot, i) => {
      slot.cell.hidden = i >= visible;
    });
  };
  const place = (): void => {
    arrange();
    engine.resize(true, true);
  };

  const startSlot = (slot: Slot): Promise<void> =>
    loadSlot(slot).catch((error: unknown) => failed(slot, error));

  for (const spec of options.viewports) {
    const slot = buildSlot(spec);
    slots.push(slot);
    grid.append(slot.cell);
  }
  arrange();

  // --- toolbar, help, keys -------------------------------------------------------------------
  const toolButtons = new Map<string, HTMLButtonElement>();
  const setActiveTool = (name: string): void => {
    if (![...MANIPULATION_TOOLS, ...ANNOTATION_TOOLS].includes(name)) {
      throw new Error(`unknown tool ${JSON.stringify(name)}`);
    }
    if (name === activeTool) return;
    if (toolGroup && cst) {
      toolGroup.setToolPassive(activeTool);
      toolGroup.setToolActive(name, { bindings: [{ mouseButton: cst.Enums.MouseBindings.Primary }] });
    }
    activeTool = name;
    for (const [tool, button] of toolButtons) button.classList.toggle("sv-on", tool === name);
  };

  const targets = (viewportId?: string): Slot[] =>
    viewportId ? [slotById(viewportId)] : activeSlot ? [activeSlot] : [];

  const setOverlayVisible = (visible: boolean, viewportId?: string): void => {
    for (const slot of viewportId ? [slotById(viewportId)] : slots) {
      if (slot.overlay) {
        slot.overlay.visible = visible;
        overlayStyle(slot);
      }
    }
    overlayToggle.classList.toggle("sv-on", visible);
  };

  const setOverlayOpacity = (opacity: number, viewportId?: string): void => {
    const value = Math.min(1, Math.max(0, opacity));
    for (const slot of viewportId ? [slotById(viewportId)] : slots) {
      if (slot.overlay) {
        slot.overlay.opacity = value;
        overlayStyle(slot);
      }
    }
    opacityInput.value = String(Math.round(value * 100));
  };

  const resetView = (viewportId?: string): void => {
    for (const slot of viewportId ? [slotById(viewportId)] : targets()) {
      if (!slot.ready) continue;
      const viewport = viewportOf(slot) as Types.IStackViewport;
      viewport.resetCamera();
      if (slot.type === "stack") viewport.resetProperties();
      const preset = slot.spec.windowPreset ?? (slot.series?.modality === "MR" ? "mri-auto" : undefined);
      if (preset) applyPresetOn(slot, preset);
      viewport.render();
      updateInfo(slot);
    }
  };

  const scrollBy = (slot: Slot, delta: number): void => {
    if (!slot.ready || slot.type === "volume3d") return;
    const { index, count } = sliceInfo(slot);
    void setSliceOf(slot, Math.min(count - 1, Math.max(0, index + delta)));
  };

  const setSliceOf = async (slot: Slot, index: number): Promise<void> => {
    if (!slot.ready) throw new Error(`viewport ${slot.spec.id} is not ready`);
    if (slot.type === "volume3d") throw new Error("a 3D viewport has no slices");
    const { count } = sliceInfo(slot);
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new Error(`slice index ${index} is outside 0..${count - 1}`);
    }
    await csUtils.jumpToSlice(slot.host, { imageIndex: index });
  };

  const addToolButton = (name: string): void => {
    const button = el("button", "sv-button", TOOL_LABELS[name] ?? name);
    button.type = "button";
    button.dataset.tool = name;
    const shortcut = SHORTCUTS.find((item) => item.action === `tool:${name}`);
    button.title = shortcut ? `${shortcut.label} (${keyLabel(shortcut.keys[0])})` : name;
    button.classList.toggle("sv-on", name === activeTool);
    button.addEventListener("click", () => setActiveTool(name));
    toolButtons.set(name, button);
    toolbar.append(button);
  };
  for (const name of [...MANIPULATION_TOOLS, ...ANNOTATION_TOOLS]) addToolButton(name);

  const presetSelect = el("select", "sv-select");
  presetSelect.title = _("Window preset (1-4) for the active viewport");
  presetSelect.append(new Option(_("Window…"), ""));
  for (const [name, label] of Object.entries(PRESET_LABELS)) presetSelect.append(new Option(label, name));
  presetSelect.addEventListener("change", () => {
    const value = presetSelect.value;
    presetSelect.value = "";
    if (isPresetName(value)) for (const slot of targets()) applyPresetOn(slot, value);
  });
  const resetButton = el("button", "sv-button", _("Reset"));
  resetButton.type = "button";
  resetButton.title = _("Reset zoom, pan and window (Space)");
  resetButton.addEventListener("click", () => resetView());
  const overlayToggle = el("button", "sv-button sv-on", _("Mask"));
  overlayToggle.type = "button";
  overlayToggle.title = _("Show/hide segmentation (S)");
  overlayToggle.addEventListener("click", () =>
    setOverlayVisible(!slots.some((slot) => slot.overlay?.visible)),
  );
  const opacityInput = el("input", "sv-range");
  opacityInput.type = "range";
  opacityInput.min = "0";
  opacityInput.max = "100";
  opacityInput.value = String(OVERLAY_OPACITY * 100);
  opacityInput.title = _("Segmentation opacity ([ and ])");
  opacityInput.addEventListener("input", () => setOverlayOpacity(Number(opacityInput.value) / 100));
  const helpButton = el("button", "sv-button", "?");
  helpButton.type = "button";
  helpButton.title = _("Keyboard shortcuts (?)");
  helpButton.addEventListener("click", () => toggleHelp());
  toolbar.append(presetSelect, resetButton, overlayToggle, opacityInput, helpButton);
  toolbar.hidden = options.toolbar === false;
  if (!options.viewports.some((spec) => spec.overlay)) {
    overlayToggle.hidden = true;
    opacityInput.hidden = true;
  }

  const helpTable = el("table", "sv-help-table");
  for (const shortcut of SHORTCUTS) {
    if ((shortcut.action === "next-case" && !options.onNext) || (shortcut.action === "previous-case" && !options.onPrevious)) {
      continue;
    }
    const row = helpTable.insertRow();
    row.insertCell().textContent = shortcut.keys.map(keyLabel).join(" / ");
    row.insertCell().textContent = shortcut.label;
  }
  const helpTitle = el("h2", "sv-help-title", _("Keyboard and mouse"));
  const mouseNote = el(
    "p",
    "sv-help-note",
    _("Left drag: active tool · right drag: zoom · middle drag: pan · wheel: slices. 3D: left drag rotates."),
  );
  const closeHelp = el("button", "sv-button", _("Close"));
  closeHelp.type = "button";
  closeHelp.addEventListener("click", () => toggleHelp(false));
  help.append(helpTitle, helpTable, mouseNote, closeHelp);
  const toggleHelp = (show?: boolean): void => {
    help.hidden = !(show ?? help.hidden);
  };

  const perform = (action: Action): void => {
    const slot = activeSlot;
    if (action.startsWith("tool:")) return setActiveTool(action.slice(5));
    if (action.startsWith("preset:")) {
      const preset = action.slice(7) as WindowPresetName;
      for (const target of targets()) applyPresetOn(target, preset);
      return;
    }
    switch (action) {
      case "next-slice": return slot ? scrollBy(slot, 1) : undefined;
      case "previous-slice": return slot ? scrollBy(slot, -1) : undefined;
      case "next-slice-10": return slot ? scrollBy(slot, 10) : undefined;
      case "previous-slice-10": return slot ? scrollBy(slot, -10) : undefined;
      case "first-slice": return slot ? scrollBy(slot, -Infinity) : undefined;
      case "last-slice": return slot ? scrollBy(slot, Infinity) : undefined;
      case "reset": return resetView();
      case "toggle-overlay": return setOverlayVisible(!slots.some((s) => s.overlay?.visible));
      case "overlay-more": return setOverlayOpacity((activeSlot?.overlay?.opacity ?? OVERLAY_OPACITY) + 0.1);
      case "overlay-less": return setOverlayOpacity((activeSlot?.overlay?.opacity ?? OVERLAY_OPACITY) - 0.1);
      case "delete-measurement": {
        for (const selected of cst?.annotation.selection.getAnnotationsSelected() ?? []) {
          cst?.annotation.state.removeAnnotation(selected);
        }
        for (const target of slots) if (target.ready) viewportOf(target).render();
        return;
      }
      case "next-case": return options.onNext?.();
      case "previous-case": return options.onPrevious?.();
      case "help": return toggleHelp();
    }
  };

  const onKey = (event: KeyboardEvent): void => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    if (event.key === "Escape" && !help.hidden) {
      toggleHelp(false);
      event.preventDefault();
      return;
    }
    const action = actionForKey(event);
    if (!action) return;
    event.preventDefault();
    perform(action);
  };
  rootEl.addEventListener("keydown", onKey);

  // The cells, toolbar and header are all in place before the viewports are enabled, which
  // sizes their canvases once, for good.
  for (const slot of slots) enable(slot);
  activate(slots[0]);

  // Resizing WebGL canvases is costly: once per frame at most, and only when the grid's size
  // differs from the one the viewports were last sized for.
  const sizeOf = (): string => `${grid.clientWidth}x${grid.clientHeight}`;
  let sizedFor = sizeOf();
  let resizeFrame = 0;
  const resizeObserver = new ResizeObserver(() => {
    if (sizeOf() === sizedFor) return;
    sizedFor = sizeOf();
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      if (!destroyed) engine.resize(true, true);
    });
  });
  resizeObserver.observe(grid);
  cleanups.push(() => cancelAnimationFrame(resizeFrame));
  cleanups.push(() => resizeObserver.disconnect());

  // --- tools ---------------------------------------------------------------------------------
  const setupTools = (module: ToolsModule): void => {
    cst = module;
    const { MouseBindings, Events } = module.Enums;
    const group = module.ToolGroupManager.createToolGroup(toolGroupId)!;
    for (const name of [...MANIPULATION_TOOLS, "StackScroll", ...ANNOTATION_TOOLS]) {
      group.addTool(name);
    }
    for (const name of ANNOTATION_TOOLS) group.setToolPassive(name);
    for (const [name, bindings] of Object.entries(baseBindings(module))) {
      group.setToolActive(name, { bindings });
    }
    group.setToolActive(activeTool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    const group3d = module.ToolGroupManager.createToolGroup(toolGroup3dId)!;
    group3d.addTool("TrackballRotate");
    group3d.addTool("Zoom");
    group3d.addTool("Pan");
    group3d.setToolActive("TrackballRotate", { bindings: [{ mouseButton: MouseBindings.Primary }] });
    group3d.setToolActive("Zoom", {
      bindings: [{ mouseButton: MouseBindings.Secondary }, { mouseButton: MouseBindings.Wheel }],
    });
    group3d.setToolActive("Pan", { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    toolGroup = group;
    toolGroup3d = group3d;
    for (const slot of slots) {
      if (!slot.attached) {
        // Enabled before the tools listened: hand them the element as the event would have.
        module.store.addEnabledElement(
          new CustomEvent("sagittal:attach", {
            detail: { element: slot.host, viewportId: slot.viewportId, renderingEngineId: engineId },
          }) as never,
        );
        slot.attached = true;
      }
      groupOf(slot)?.addViewport(slot.viewportId, engineId);
    }
    for (const name of [
      Events.ANNOTATION_COMPLETED,
      Events.ANNOTATION_MODIFIED,
      Events.ANNOTATION_REMOVED,
    ]) {
      eventTarget.addEventListener(name, onAnnotation);
      cleanups.push(() => eventTarget.removeEventListener(name, onAnnotation));
    }
    dispatch("tools", {});
  };

  // --- load ----------------------------------------------------------------------------------
  const ready = Promise.all(slots.map(startSlot)).then(() => {
    if (!destroyed) {
      dispatch("ready", {
        viewports: slots.map((slot) => ({ id: slot.spec.id, error: slot.error })),
      });
    }
  });
  // Parsing the tools would compete with the first image for the main thread: load them after.
  toolsReady = ready.then(loadTools).then((module) => {
    if (!destroyed) setupTools(module);
    return module;
  });
  toolsReady.catch((error: unknown) => {
    dispatch("error", { viewportId: null, message: `the reading tools failed to load: ${error}` });
  });

  const viewer: SagittalViewer = {
    element,
    ready,
    getState(): ViewerState {
      return {
        layout,
        activeViewportId: activeSlot?.spec.id ?? null,
        activeTool,
        viewports: slots.map((slot) => {
          const { index, count } = sliceInfo(slot);
          const window = currentWindow(slot);
          return {
            id: slot.spec.id,
            label: slot.spec.label ?? "",
            type: slot.type,
            studyUid: slot.spec.studyUid,
            seriesUid: slot.spec.seriesUid,
            modality: slot.series?.modality ?? "",
            frameOfReferenceUid: slot.series?.frameOfReferenceUid ?? "",
            ready: slot.ready,
            error: slot.error,
            sliceIndex: index,
            numberOfSlices: count,
            slicesLoaded:
              slot.type === "stack"
                ? loadedCount(slot)
                : Math.floor((count * loadedCount(slot)) / Math.max(1, total(slot))),
            imagesLoaded: loadedCount(slot),
            imagesTotal: total(slot),
            windowWidth: window?.width ?? null,
            windowCenter: window?.center ?? null,
            overlay: slot.overlay
              ? {
                  seriesUid: slot.overlay.ref.seriesUid,
                  visible: slot.overlay.visible,
                  opacity: slot.overlay.opacity,
                  ready: slot.overlay.ready,
                }
              : null,
          };
        }),
      };
    },
    setSlice: (viewportId, index) => setSliceOf(slotById(viewportId), index),
    setWindow(viewportId, window) {
      if (!(window.width > 0) || !Number.isFinite(window.center)) {
        throw new Error("a window needs a positive width and a finite center");
      }
      setWindowOn(slotById(viewportId), window);
    },
    applyPreset(viewportId, preset) {
      if (!isPresetName(preset)) throw new Error(`unknown window preset ${JSON.stringify(preset)}`);
      applyPresetOn(slotById(viewportId), preset);
    },
    setActiveTool,
    setActiveViewport: (viewportId) => activate(slotById(viewportId)),
    resetView,
    setOverlayVisible,
    setOverlayOpacity,
    setHeader,
    setLayout(next) {
      if (!["1x1", "1x2", "2x1", "2x2"].includes(next)) throw new Error(`unknown layout ${next}`);
      layout = next;
      place();
    },
    async setViewport(spec) {
      const index = slots.findIndex((slot) => slot.spec.id === spec.id);
      if (index < 0) throw new Error(`no viewport ${JSON.stringify(spec.id)}`);
      validate({ viewports: [spec] });
      const old = slots[index];
      release(old);
      const slot = buildSlot(spec);
      slots[index] = slot;
      old.cell.replaceWith(slot.cell);
      place();
      enable(slot);
      activate(slot);
      await startSlot(slot);
      dispatch("ready", { viewports: [{ id: spec.id, error: slot.error }] });
    },
    imageToClient(viewportId, [column, row]) {
      const slot = slotById(viewportId);
      const viewport = viewportOf(slot);
      const imageId = (viewport as Types.IStackViewport).getCurrentImageId?.();
      const world = imageId ? csUtils.imageToWorldCoords(imageId, [column, row]) : undefined;
      if (!world) throw new Error(`viewport ${viewportId} shows no image`);
      const [x, y] = viewport.worldToCanvas(world);
      const rect = slot.host.getBoundingClientRect();
      return { x: rect.left + x, y: rect.top + y };
    },
    toggleHelp,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const cleanup of cleanups) cleanup();
      const frames = new Set(slots.map((slot) => slot.series?.frameOfReferenceUid).filter(Boolean));
      for (const annotation of cst?.annotation.state.getAllAnnotations() ?? []) {
        if (frames.has(annotation.metadata?.FrameOfReferenceUID) && annotation.annotationUID) {
          cst?.annotation.state.removeAnnotation(annotation.annotationUID);
        }
      }
      for (const slot of slots) release(slot);
      // Series loaded for viewports that never took them (destroyed first) are let go too.
      for (const pending of opening.values()) {
        pending.then((series) => releaseSeries(series)).catch(() => undefined);
      }
      if (toolGroup) cst?.ToolGroupManager.destroyToolGroup(toolGroupId);
      if (toolGroup3d) cst?.ToolGroupManager.destroyToolGroup(toolGroup3dId);
      engine.destroy();
      element.replaceChildren();
    },
  };
  return viewer;
}
