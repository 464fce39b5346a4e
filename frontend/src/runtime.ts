// One-time start of cornerstone3D for the page: the rendering core and the DICOM image loader
// first, the tools (a third of the bundle) as a separate chunk that loads while the first
// image does, so they never hold it back.
import {
  Enums as CoreEnums,
  cache,
  imageRetrievalPoolManager,
  init as coreInit,
} from "@cornerstonejs/core";
import { init as loaderInit } from "@cornerstonejs/dicom-image-loader/imageLoader";

export type ToolsModule = typeof import("@cornerstonejs/tools");

/** Decoded images kept in memory across viewports; older ones are evicted first. */
export const CACHE_BYTES = 1024 * 1024 * 1024;
/** Parallel frame requests; HTTP/1.1 browsers open at most six per origin anyway. */
const MAX_REQUESTS = 6;
const WEBGL_CONTEXTS = 1;

let core: Promise<void> | null = null;
let tools: Promise<ToolsModule> | null = null;
let toolsStarted = false;

/** Start the rendering core and the image loader once per page. */
export function startRuntime(): Promise<void> {
  core ??= (async () => {
    // The loader first: it starts the decode workers, which fetch and compile their script on
    // their own threads while the core's WebGL checks below hold the page's.
    // Reading PCs have few cores and the page needs one: at most one decode worker per core.
    const cores = navigator.hardwareConcurrency || 2;
    loaderInit({ maxWebWorkers: Math.max(1, Math.min(4, cores)) });
    // cornerstone's default keeps seven WebGL contexts per rendering engine, created up front;
    // each costs tens of milliseconds to create and size under software rendering. The
    // viewports take turns on one (volume viewports share the first context anyway).
    coreInit({ rendering: { webGlContextCount: WEBGL_CONTEXTS }, debug: {} });
    cache.setMaxCacheSize(CACHE_BYTES);
    const { RequestType } = CoreEnums;
    for (const type of [RequestType.Interaction, RequestType.Thumbnail, RequestType.Prefetch]) {
      imageRetrievalPoolManager.setMaxSimultaneousRequests(type, MAX_REQUESTS);
    }
  })();
  return core;
}

/** Whether the tools listen for newly enabled viewports themselves (see ``loadTools``). */
export function toolsListening(): boolean {
  return toolsStarted;
}

/** Load, start and register the cornerstone tools once per page. */
export function loadTools(): Promise<ToolsModule> {
  tools ??= import("@cornerstonejs/tools").then((module) => {
    module.init();
    toolsStarted = true;
    for (const tool of [
      module.WindowLevelTool,
      module.PanTool,
      module.ZoomTool,
      module.StackScrollTool,
      module.LengthTool,
      module.AngleTool,
      module.EllipticalROITool,
      module.RectangleROITool,
      module.TrackballRotateTool,
    ]) {
      module.addTool(tool);
    }
    return module;
  });
  return tools;
}
