// The coordinator's case viewer page: the case's series as thumbnails, a layout to choose,
// series clicked or dragged into viewports, and masks overlaid on the image they belong to.
import type { Layout, SagittalViewer, ViewType, ViewportSpec } from "./viewer";
import { _, fmt } from "./i18n";
import { mount } from "./viewer";

export interface CaseSeries {
  id: string;
  series_instance_uid: string;
  modality: string;
  role: string;
  role_label?: string;
  description: string;
  number_of_instances: number;
  frame_of_reference_uid: string;
  thumbnail_url: string | null;
}

export interface CaseStudy {
  study_instance_uid: string;
  description: string;
  series: CaseSeries[];
}

export interface CaseData {
  id: string;
  label: string;
  region: string;
  region_label?: string;
  levels: string;
  dicomweb_root: string;
  studies: CaseStudy[];
}

interface Item extends CaseSeries {
  studyUid: string;
}

const MASK_ROLES = new Set(["NC-CTM-mask"]);
const DRAG_TYPE = "application/x-sagittal-series";
const LAYOUT_SLOTS: Record<Layout, number> = { "1x1": 1, "1x2": 2, "2x1": 2, "2x2": 4 };
const VIEW_TYPES: Array<[ViewType, string]> = [
  ["stack", _("Stack")],
  ["axial", _("Axial MPR")],
  ["sagittal", _("Sagittal MPR")],
  ["coronal", _("Coronal MPR")],
  ["volume3d", "3D"],
];

function isMask(item: Item): boolean {
  return item.modality === "SEG" || MASK_ROLES.has(item.role);
}

function node<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The default hanging: CT (with its mask) | MRI; in 2x2, sagittal MPR and 3D of the CT too. */
export function defaultViewports(items: Item[], layout: Layout): ViewportSpec[] {
  const images = items.filter((item) => !isMask(item));
  const ct = images.find((item) => item.modality === "CT") ?? images[0];
  const mr = images.find((item) => item.modality === "MR" && item !== ct);
  if (!ct) return [];
  const mask = items.find((item) => isMask(item) && item.frame_of_reference_uid === ct.frame_of_reference_uid);
  const overlay = mask ? { studyUid: mask.studyUid, seriesUid: mask.series_instance_uid } : undefined;
  const spec = (item: Item, id: string, type: ViewType, withOverlay: boolean): ViewportSpec => ({
    id,
    label: item.role_label || item.role || item.modality,
    studyUid: item.studyUid,
    seriesUid: item.series_instance_uid,
    type,
    overlay: withOverlay ? overlay : undefined,
  });
  const second = mr ?? images.find((item) => item !== ct) ?? ct;
  const candidates: ViewportSpec[] = [
    spec(ct, "v1", "stack", true),
    spec(second, "v2", "stack", second === ct),
    spec(ct, "v3", "sagittal", true),
    spec(ct, "v4", "volume3d", true),
  ];
  return candidates.slice(0, LAYOUT_SLOTS[layout]);
}

export async function startCasePage(dataElement: HTMLElement): Promise<void> {
  const data = JSON.parse(dataElement.textContent ?? "{}") as CaseData;
  const host = document.getElementById("sagittal-viewer");
  const list = document.getElementById("sagittal-series");
  const controls = document.getElementById("sagittal-controls");
  if (!host || !list || !controls) {
    throw new Error("the case viewer page lacks its containers");
  }
  const items: Item[] = data.studies.flatMap((study) =>
    study.series.map((series) => ({ ...series, studyUid: study.study_instance_uid })),
  );
  let layout: Layout = items.filter((item) => !isMask(item)).length > 1 ? "1x2" : "1x1";
  let specs = defaultViewports(items, layout);
  let viewer: SagittalViewer | null = null;

  const remount = async (): Promise<void> => {
    viewer?.destroy();
    viewer = null;
    if (!specs.length) {
      host.textContent = _("This case has no image series to show.");
      return;
    }
    viewer = await mount(host, {
      dicomwebRoot: data.dicomweb_root,
      layout,
      viewports: specs,
      syncSlices: true,
      header: `${data.label} · ${data.region_label ?? data.region}${data.levels ? ` ${data.levels}` : ""}`,
    });
    (window as unknown as { sagittalCaseViewer: SagittalViewer }).sagittalCaseViewer = viewer;
  };

  const activeSpec = (): ViewportSpec | undefined => {
    const id = viewer?.getState().activeViewportId;
    return specs.find((spec) => spec.id === id);
  };

  const replace = async (spec: ViewportSpec): Promise<void> => {
    specs = specs.map((candidate) => (candidate.id === spec.id ? spec : candidate));
    await viewer?.setViewport(spec);
  };

  const showIn = async (item: Item, target?: ViewportSpec): Promise<void> => {
    const into = target ?? activeSpec();
    if (!into) return;
    if (isMask(item)) {
      await replace({ ...into, overlay: { studyUid: item.studyUid, seriesUid: item.series_instance_uid } });
      return;
    }
    await replace({
      ...into,
      label: item.role_label || item.role || item.modality,
      studyUid: item.studyUid,
      seriesUid: item.series_instance_uid,
      overlay: undefined,
      windowPreset: undefined,
    });
  };

  // Thumbnails.
  const thumbnails: Array<[HTMLImageElement, string]> = [];
  for (const item of items) {
    const card = node("button", "sc-series");
    card.type = "button";
    card.draggable = true;
    card.dataset.series = item.series_instance_uid;
    card.title = isMask(item)
      ? _("Click: overlay this mask on the active viewport (or drag it onto a viewport)")
      : _("Click: show in the active viewport (or drag it onto a viewport)");
    // A binary SEG has no rendered frame: a placeholder instead of a failing request.
    if (item.thumbnail_url && item.modality !== "SEG") {
      const image = node("img", "sc-thumb");
      // Rendered on the server: requested once the viewer's first images are in.
      thumbnails.push([image, item.thumbnail_url]);
      image.alt = "";
      image.loading = "lazy";
      image.draggable = false;
      card.append(image);
    } else {
      card.append(node("div", "sc-thumb sc-thumb-none", item.modality));
    }
    const caption = node("div", "sc-caption");
    // The description is the file's own text: not for translation (HTML translate="no").
    const description = node("span", "", item.description || item.modality);
    description.translate = false;
    caption.append(
      node("strong", "", item.role_label || item.role || item.modality),
      description,
      node(
        "span",
        "sc-count",
        fmt(isMask(item) ? _("%(count)s objects") : _("%(count)s images"), {
          count: item.number_of_instances,
        }),
      ),
    );
    card.append(caption);
    card.addEventListener("click", () => void showIn(item));
    card.addEventListener("dragstart", (event) => {
      event.dataTransfer?.setData(DRAG_TYPE, item.series_instance_uid);
      event.dataTransfer?.setData("text/plain", item.series_instance_uid);
    });
    list.append(card);
  }

  host.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types.includes(DRAG_TYPE)) event.preventDefault();
  });
  host.addEventListener("drop", (event) => {
    const uid = event.dataTransfer?.getData(DRAG_TYPE);
    const cell = (event.target as HTMLElement).closest<HTMLElement>(".sv-cell");
    const item = items.find((candidate) => candidate.series_instance_uid === uid);
    const target = specs.find((spec) => spec.id === cell?.dataset.viewport);
    if (!item || !target) return;
    event.preventDefault();
    void showIn(item, target);
  });

  // Layout and view type.
  const layoutGroup = node("div", "sc-group");
  layoutGroup.append(node("span", "sc-group-label", _("Layout")));
  for (const choice of ["1x1", "1x2", "2x2"] as Layout[]) {
    const button = node("button", "sv-button", choice);
    button.type = "button";
    button.dataset.layout = choice;
    button.addEventListener("click", () => {
      const previous = specs;
      layout = choice;
      const defaults = defaultViewports(items, layout);
      specs = defaults.map((spec, i) => previous[i] ?? spec);
      void remount();
    });
    layoutGroup.append(button);
  }
  const typeSelect = node("select", "sv-select");
  typeSelect.title = _("How the active viewport shows its series");
  typeSelect.append(new Option(_("View…"), ""));
  for (const [value, label] of VIEW_TYPES) typeSelect.append(new Option(label, value));
  typeSelect.addEventListener("change", () => {
    const type = typeSelect.value as ViewType;
    typeSelect.value = "";
    const spec = activeSpec();
    if (spec && type) void replace({ ...spec, type });
  });
  const removeOverlay = node("button", "sv-button", _("Remove mask"));
  removeOverlay.type = "button";
  removeOverlay.addEventListener("click", () => {
    const spec = activeSpec();
    if (spec?.overlay) void replace({ ...spec, overlay: undefined });
  });
  controls.append(layoutGroup, typeSelect, removeOverlay);

  await remount();
  // remount() assigned it; TypeScript does not see assignments made inside closures.
  await (viewer as SagittalViewer | null)?.ready;
  for (const [image, url] of thumbnails) image.src = url;
}
