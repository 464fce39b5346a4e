// Keyboard shortcuts, listed in the help overlay from this one table.
export type Action =
  | "next-slice"
  | "previous-slice"
  | "next-slice-10"
  | "previous-slice-10"
  | "first-slice"
  | "last-slice"
  | "tool:WindowLevel"
  | "tool:Zoom"
  | "tool:Pan"
  | "tool:Length"
  | "tool:Angle"
  | "tool:EllipticalROI"
  | "tool:RectangleROI"
  | "preset:ct-soft"
  | "preset:ct-bone"
  | "preset:ct-spine"
  | "preset:mri-auto"
  | "reset"
  | "toggle-overlay"
  | "overlay-more"
  | "overlay-less"
  | "delete-measurement"
  | "next-case"
  | "previous-case"
  | "help";

export interface Shortcut {
  keys: string[];
  action: Action;
  label: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ["ArrowDown", "j"], action: "next-slice", label: "Next slice (or mouse wheel)" },
  { keys: ["ArrowUp", "k"], action: "previous-slice", label: "Previous slice" },
  { keys: ["PageDown"], action: "next-slice-10", label: "10 slices forward" },
  { keys: ["PageUp"], action: "previous-slice-10", label: "10 slices back" },
  { keys: ["Home"], action: "first-slice", label: "First slice" },
  { keys: ["End"], action: "last-slice", label: "Last slice" },
  { keys: ["w"], action: "tool:WindowLevel", label: "Window/level (left drag)" },
  { keys: ["z"], action: "tool:Zoom", label: "Zoom (also right drag)" },
  { keys: ["p"], action: "tool:Pan", label: "Pan (also middle drag)" },
  { keys: ["l"], action: "tool:Length", label: "Length" },
  { keys: ["a"], action: "tool:Angle", label: "Angle" },
  { keys: ["e"], action: "tool:EllipticalROI", label: "Elliptical ROI (mean, SD, area)" },
  { keys: ["r"], action: "tool:RectangleROI", label: "Rectangular ROI (mean, SD, area)" },
  { keys: ["1"], action: "preset:ct-soft", label: "CT soft-tissue window" },
  { keys: ["2"], action: "preset:ct-bone", label: "CT bone window" },
  { keys: ["3"], action: "preset:ct-spine", label: "CT spine (canal) window" },
  { keys: ["4"], action: "preset:mri-auto", label: "MRI automatic window" },
  { keys: [" "], action: "reset", label: "Reset zoom, pan and window" },
  { keys: ["s"], action: "toggle-overlay", label: "Show/hide segmentation" },
  { keys: ["]"], action: "overlay-more", label: "Segmentation more opaque" },
  { keys: ["["], action: "overlay-less", label: "Segmentation more transparent" },
  { keys: ["Delete", "Backspace"], action: "delete-measurement", label: "Delete selected measurement" },
  { keys: ["n"], action: "next-case", label: "Next case" },
  { keys: ["b"], action: "previous-case", label: "Previous case" },
  { keys: ["?", "h"], action: "help", label: "This help" },
];

const byKey = new Map<string, Action>();
for (const shortcut of SHORTCUTS) {
  for (const key of shortcut.keys) {
    byKey.set(key, shortcut.action);
  }
}

export function actionForKey(event: KeyboardEvent): Action | undefined {
  if (event.ctrlKey || event.metaKey || event.altKey) {
    return undefined;
  }
  return byKey.get(event.key) ?? byKey.get(event.key.toLowerCase());
}

export function keyLabel(key: string): string {
  const names: Record<string, string> = {
    " ": "Space",
    ArrowDown: "↓",
    ArrowUp: "↑",
    PageDown: "PgDn",
    PageUp: "PgUp",
    Escape: "Esc",
    Backspace: "⌫",
  };
  return names[key] ?? key.toUpperCase();
}
