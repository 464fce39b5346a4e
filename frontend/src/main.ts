// Entry point of the viewer bundle: exposes window.SagittalViewer and starts the case viewer
// page when the page carries its data.
import "./styles.css";
import { cache } from "@cornerstonejs/core";
import { startCasePage } from "./casePage";
import { type MountOptions, type SagittalViewer, mount } from "./viewer";

/** What the image cache holds now: viewers that were destroyed leave it empty. */
function cacheStats(): { bytes: number; volumes: number } {
  return { bytes: cache.getCacheSize(), volumes: cache.getVolumes().length };
}

export type { MountOptions, SagittalViewer };

declare global {
  interface Window {
    SagittalViewer: { mount: typeof mount; cacheStats: typeof cacheStats; version: string };
  }
}

window.SagittalViewer = { mount, cacheStats, version: "1" };

const caseData = document.getElementById("sagittal-case");
if (caseData) {
  startCasePage(caseData).catch((error: unknown) => {
    console.error("case viewer failed to start", error);
  });
}
