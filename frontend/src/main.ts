// Entry point of the viewer bundle: exposes window.SagittalViewer and starts the case viewer
// page when the page carries its data.
import "./styles.css";
import { startCasePage } from "./casePage";
import { type MountOptions, type SagittalViewer, mount } from "./viewer";

export type { MountOptions, SagittalViewer };

declare global {
  interface Window {
    SagittalViewer: { mount: typeof mount; version: string };
  }
}

window.SagittalViewer = { mount, version: "1" };

const caseData = document.getElementById("sagittal-case");
if (caseData) {
  startCasePage(caseData).catch((error: unknown) => {
    console.error("case viewer failed to start", error);
  });
}
